"""The data layer's fixtures (fixture files, the real shared data, a chat tokenizer, a fake chat endpoint)
for the `srllm data` command tests, which moved here from tests/data/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("data_fixtures", Path(__file__).parents[1] / "data" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_data = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _data  # its dataclasses look their module up there
_spec.loader.exec_module(_data)

# pytest finds fixtures by name in a conftest's namespace.
fixtures = _data.fixtures
srllm_train = _data.srllm_train
paradetox = _data.paradetox
chat_tokenizer = _data.chat_tokenizer
fake_chat = _data.fake_chat
