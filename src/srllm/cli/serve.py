"""`srllm serve` (the HTTP service) and `srllm keys create|list|revoke` (its API keys)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import typer

from srllm.cli.common import console, user_errors
from srllm.errors import SrllmError
from srllm.extras import require_extra
from srllm.models import DEFAULT_MODEL

keys_app = typer.Typer(name="keys", help="API keys for `srllm serve` (only salted hashes are stored).",
                       no_args_is_help=True)
KEYS_FILE = typer.Option(None, "--keys-file", envvar="SRLLM_KEYS_FILE",
                         help="Keys database (default: <srllm cache>/serve/keys.sqlite).")


@user_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback requires API keys."),
    port: int = typer.Option(8000, help="Port to listen on."),
    model: str = typer.Option(DEFAULT_MODEL, help="Registry name, local model dir, .gguf file or hub id."),
    adapter: str | None = typer.Option(None, help="PEFT adapter dir (default: the shipped adapter)."),
    no_adapter: bool = typer.Option(False, "--no-adapter", help="Use the raw base model."),
    backend: str = typer.Option("transformers", help="transformers, llama-cpp or openai."),
    base_url: str | None = typer.Option(None, help="OpenAI-compatible server for --backend openai (…/v1)."),
    remote_model: str | None = typer.Option(None, help="Model name sent to --base-url (default: --model)."),
    max_new_tokens: int | None = typer.Option(None, help="Fixed token budget per rewrite (default: scaled)."),
    dtype: str = typer.Option("auto", help="Inference dtype: auto (bf16 where the CPU/GPU computes it natively, "
                                           "else fp32), float32, bfloat16, float16."),
    guard: bool = typer.Option(True, help="Verify each rewrite, retry and flag (status, scores, reasons)."),
    max_batch_size: int = typer.Option(16, min=1, help="Most texts merged into one generation."),
    max_wait_ms: float = typer.Option(20.0, min=0, help="How long a request waits for others to batch with."),
    require_key: bool = typer.Option(False, "--require-key", help="Require API keys on loopback too."),
    insecure_no_auth: bool = typer.Option(False, "--insecure-no-auth",
                                          help="Serve a non-loopback address WITHOUT keys (you are sure)."),
    keys_file: Path | None = KEYS_FILE,
    jobs_db: Path | None = typer.Option(None, help="Jobs database (default: <srllm cache>/serve/jobs.sqlite)."),
    job_chunk_rows: int = typer.Option(16, min=1, help="Job rows rewritten (and saved) per step."),
    rate_limit: float = typer.Option(120.0, min=0, help="Requests per minute per key (0 = no limit)."),
    rate_burst: int = typer.Option(30, min=1, help="Requests a key may send at once before the limit."),
    auth_failure_limit: float = typer.Option(10.0, min=0, help="Failed API keys per minute per client address "
                                                                "before 429 (0 = no limit)."),
    auth_failure_burst: int = typer.Option(10, min=1, help="Failed API keys an address may send at once."),
    max_texts: int = typer.Option(64, min=1, help="Most texts per request."),
    max_chars: int = typer.Option(4000, min=1, help="Most characters per text."),
    max_body_bytes: int = typer.Option(1_000_000, min=1024, help="Largest JSON body."),
    max_upload_bytes: int = typer.Option(20_000_000, min=1024, help="Largest job upload."),
    request_timeout: float = typer.Option(120.0, min=0.1, help="Seconds before a request answers 504."),
    scorers: str = typer.Option("toxicity,bias,similarity,retention", help="Scorers /v1/score may run."),
    preload_scorers: bool = typer.Option(True, help="Load the scorers at start-up (first scores are fast)."),
    log_texts: bool = typer.Option(False, "--log-texts", help="Write texts to the log (default: hashes only)."),
    cors_origin: list[str] = typer.Option([], "--cors-origin", help="Allow this browser origin (repeatable)."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    threads: int | None = typer.Option(None, min=1, help="Torch CPU threads (default: torch's choice); 1 helps "
                                                          "on a machine shared with other busy processes."),
) -> None:
    """Serve rewriting over HTTP: /v1/rewrite, /v1/score, /v1/jobs, a web page at /, /metrics."""
    require_extra("serve", "`srllm serve`")
    import uvicorn

    from srllm.serve import ServeSettings, create_app
    from srllm.serve.engine import load_engine
    from srllm.serve.keys import KeyStore
    from srllm.serve.settings import default_keys_path, is_loopback

    enabled = [name.strip() for name in scorers.split(",") if name.strip()]
    settings = ServeSettings(
        host=host, port=port, model=model, adapter=None if no_adapter else (adapter or "auto"), backend=backend,
        base_url=base_url, remote_model=remote_model, max_new_tokens=max_new_tokens, guard=guard, dtype=dtype,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms, require_key=require_key, insecure_no_auth=insecure_no_auth, keys_path=keys_file,
        jobs_db=jobs_db, job_chunk_rows=job_chunk_rows, rate_limit_per_minute=rate_limit, rate_limit_burst=rate_burst,
        auth_failures_per_minute=auth_failure_limit, auth_failure_burst=auth_failure_burst,
        max_texts=max_texts,
        max_chars=max_chars, max_body_bytes=max_body_bytes, max_upload_bytes=max_upload_bytes,
        request_timeout_s=request_timeout, scorers=enabled,
        rewrite_scorers=[name for name in ("toxicity", "bias", "similarity") if name in enabled],
        log_texts=log_texts, cors_origins=cors_origin,
    )
    settings.check()
    if not is_loopback(host) and not settings.auth_required():
        console.print(f"[bold yellow]warning:[/] serving {host} WITHOUT API keys (--insecure-no-auth)")
    if settings.auth_required() and KeyStore(keys_file or default_keys_path()).count_active() == 0:
        raise SrllmError("this server requires API keys but none exist; create one with "
                         "`srllm keys create NAME` (or serve 127.0.0.1 without --require-key)")
    _configure_logging(log_level)
    if threads:
        import torch

        torch.set_num_threads(threads)
    with console.status(f"loading {model} ({backend})..."):
        engine = load_engine(settings)
    app = create_app(settings, engine, preload_scorers=preload_scorers)
    console.print(f"[green]serving[/] {engine.model} on http://{host}:{port}  (page /, API docs /docs, "
                  f"keys {'required' if settings.auth_required() else 'off'})")
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, timeout_keep_alive=30,
                log_config=None)


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _keys_store(keys_file: Path | None):
    require_extra("serve", "`srllm keys`")  # the key store lives in srllm.serve (argon2, fastapi)
    from srllm.serve.keys import KeyStore
    from srllm.serve.settings import default_keys_path

    return KeyStore(keys_file or default_keys_path())


@keys_app.command("create")
@user_errors
def keys_create(name: str = typer.Argument(..., help="Who or what uses the key."),
                keys_file: Path | None = KEYS_FILE) -> None:
    """Create a key; it is printed once and only its salted hash is kept."""
    token, info = _keys_store(keys_file).create(name)
    console.print(f"created key [bold]{info.key_id}[/] for {info.name}; it is shown only now:")
    typer.echo(token)


@keys_app.command("list")
@user_errors
def keys_list(keys_file: Path | None = KEYS_FILE) -> None:
    """Key ids, names, creation dates and whether they are revoked (never the keys)."""
    from rich.table import Table

    table = Table("id", "name", "created", "state")
    for info in _keys_store(keys_file).list():
        table.add_row(info.key_id, info.name, _when(info.created),
                      "active" if info.active else f"revoked {_when(info.revoked)}")
    console.print(table)


@keys_app.command("revoke")
@user_errors
def keys_revoke(key_id: str = typer.Argument(..., help="The key id shown by `srllm keys list`."),
                keys_file: Path | None = KEYS_FILE) -> None:
    """Revoke a key: the next request with it gets 401 (running servers included)."""
    info = _keys_store(keys_file).revoke(key_id)
    console.print(f"revoked key {info.key_id} ({info.name})")


def _when(stamp: float | None) -> str:
    return dt.datetime.fromtimestamp(stamp or 0, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# `python -m srllm.cli.serve serve|keys ...` works before (and besides) registration in cli/main.py.
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
app.command("serve")(serve)
app.add_typer(keys_app, name="keys")

if __name__ == "__main__":
    app()
