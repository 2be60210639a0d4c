"""Fixtures for the data-layer tests: fixture files, the real shared data (when present), a tokenizer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SRLLM_TRAIN = SHARED / "sr-llm-repo" / "train_500.csv"
PARADETOX = SHARED / "paradetox" / "paradetox.tsv"

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def srllm_train() -> Path:
    if not SRLLM_TRAIN.exists():
        pytest.skip(f"the SR-LLM repository CSV is not at {SRLLM_TRAIN} (../shared is absent)")
    return SRLLM_TRAIN


@pytest.fixture
def paradetox() -> Path:
    if not PARADETOX.exists():
        pytest.skip(f"ParaDetox is not at {PARADETOX} (../shared is absent)")
    return PARADETOX


@pytest.fixture(scope="session")
def chat_tokenizer() -> Any:
    """A real fast tokenizer (word-level, built here) with a chat template: no download needed."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<pad>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="<|end|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


# ---- a real OpenAI-compatible chat endpoint on 127.0.0.1 serving canned replies -------------

GOOD = {"bias": "Yes", "toxicity": "Mild", "sentiment": "Negative", "harm": "Medium",
        "target_groups": ["older adults"], "biased_words": ["too old"],
        "safe_variation": "Anyone can learn to code at any age.",
        "rationale": "Stereotypes older adults as unable to learn."}

# What the fake model answers, keyed by the first word of the text to annotate.
REPLIES = {
    "good": json.dumps(GOOD),
    "fenced": "```json\n" + json.dumps(GOOD) + "\n```",
    "prose": "Sure! The text is biased against older people.",
    "leaky": json.dumps({**GOOD, "safe_variation": "Here is the rewritten text: Anyone can learn."}),
    "badlabel": json.dumps({**GOOD, "toxicity": "Extreme"}),
    "extra": json.dumps({**GOOD, "confidence": 0.9}),
}


class FakeChatHandler(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChatHandler.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                         "body": body})
        text = body["messages"][-1]["content"]
        if "crash" in text:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"internal error")
            return
        key = text.split("<text>")[1].split()[0]  # the first word of the text picks the reply
        payload = {"choices": [{"message": {"role": "assistant", "content": REPLIES[key]}}]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class FakeChat:
    """A running endpoint: its base URL, the requests it received, and what it answers."""

    url: str
    requests: list[dict[str, Any]]
    good: dict[str, Any]
    replies: dict[str, str]


@pytest.fixture
def fake_chat() -> Iterator[FakeChat]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeChatHandler.requests.clear()
    yield FakeChat(f"http://127.0.0.1:{server.server_address[1]}/v1", FakeChatHandler.requests, GOOD, REPLIES)
    server.shutdown()
    server.server_close()
