"""srllm.text sits below every other layer: importing and using it loads neither torch nor srllm's upper layers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import srllm

PROBE = """
import json, sys
from srllm.text import facts, meta, readers, writers
facts.missing_facts("Kevin paid $4,500 on Friday.", "Kevin paid.")
facts.content_words("Kevin did not pay.")
meta.strip_meta(meta.strip_markup("Sure! Here is the rewritten text: Kevin paid.<|im_end|>"))
print(json.dumps(sorted(name for name in sys.modules if name == "torch" or name == "transformers"
                        or (name.startswith("srllm.") and not name.startswith("srllm.text")))))
"""


def test_the_text_layer_imports_no_torch_and_nothing_above_it() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(Path(srllm.__file__).parents[1])})
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["srllm.errors", "srllm.lines"]
