"""One settings object per server: defaults live here and are printed at start-up.

`ServeSettings` is the engine's arguments (`srllm.engine.args.EngineArgs`: model, adapter, backend,
decoding) plus the server's own (address, limits, keys, scorers, jobs)."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from pydantic import Field

from srllm.engine.args import EngineArgs


class ServeSettings(EngineArgs):
    # Each description is also the help of the `srllm serve` option generated from the field.
    host: str = Field("127.0.0.1", description="Address to bind; anything but loopback requires API keys.")
    port: int = Field(8000, description="Port to listen on.")

    # Dynamic batching: texts from concurrent requests (up to max_batch_size) run together in one generation.
    max_wait_ms: float = Field(20.0, ge=0, description="How long a request waits for others to batch with.")

    # Security and limits.
    require_key: bool = Field(False, description="Require API keys on loopback too.")
    insecure_no_auth: bool = Field(False, description="Serve a non-loopback address WITHOUT keys (you are sure).")
    keys_path: Path | None = Field(None, description="Keys database (default: <srllm cache>/serve/keys.sqlite).")
    rate_limit_per_minute: float = Field(120.0, ge=0, description="Requests per minute per key (per client "
                                                                  "address without auth); 0 = no limit.")
    rate_limit_burst: int = Field(30, ge=1, description="Requests a key may send at once before the limit.")
    # Failed API keys per client address: over the limit, 429 before any argon2 check.
    auth_failures_per_minute: float = Field(10.0, ge=0, description="Failed API keys per minute per client "
                                                                    "address before 429 (0 = no limit).")
    auth_failure_burst: int = Field(10, ge=1, description="Failed API keys an address may send at once.")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest JSON body.")
    max_upload_bytes: int = Field(20_000_000, ge=1024, description="Largest job upload.")
    max_texts: int = Field(64, ge=1, description="Most texts per request.")
    max_chars: int = Field(4000, ge=1, description="Most characters per text.")
    max_job_rows: int = Field(100_000, ge=1, description="Most rows per uploaded job.")
    max_chat_tokens: int = Field(1024, ge=1, description="The most max_tokens /v1/chat/completions accepts.")
    request_timeout_s: float = Field(120.0, gt=0, description="Seconds before a request answers 504.")
    log_texts: bool = Field(False, description="Write texts to the log (default: hashes only).")
    cors_origins: list[str] = Field(default_factory=list, description="Allow this browser origin (repeatable).")

    # Scores: the local scorers /v1/score may run, and the ones a rewrite gets when asked.
    scorers: list[str] = Field(default_factory=lambda: ["judge", "toxicity", "bias", "similarity", "retention"],
                               description="Scorers /v1/score may run.")
    rewrite_scorers: list[str] = Field(default_factory=lambda: ["toxicity", "bias", "similarity"],
                                       description="Scorers a rewrite gets when asked (\"score\": true); "
                                                   "only enabled --scorers count.")

    # Batch jobs over HTTP.
    jobs_db: Path | None = Field(None, description="Jobs database (default: <srllm cache>/serve/jobs.sqlite).")
    job_chunk_rows: int = Field(16, ge=1, description="Job rows rewritten (and saved) per step.")

    def auth_required(self) -> bool:
        return not self.insecure_no_auth and (self.require_key or not is_loopback(self.host))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def serve_dir() -> Path:
    from srllm.paths import cache_dir

    path = cache_dir() / "serve"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_keys_path() -> Path:
    return serve_dir() / "keys.sqlite"


def default_jobs_db() -> Path:
    return serve_dir() / "jobs.sqlite"
