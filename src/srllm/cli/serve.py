"""`srllm serve` (the HTTP service) and `srllm keys create|list|revoke` (its API keys)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import typer

from srllm.cli.common import console, user_errors
from srllm.cli.options import Flag, options_from
from srllm.engine.args import EngineArgs
from srllm.errors import SrllmError
from srllm.extras import require_extra
from srllm.serve.settings import ServeSettings

keys_app = typer.Typer(name="keys", help="API keys for `srllm serve` (only salted hashes are stored).",
                       no_args_is_help=True)
KEYS_FILE = typer.Option(None, "--keys-file", envvar="SRLLM_KEYS_FILE",
                         help="Keys database (default: <srllm cache>/serve/keys.sqlite).")


# Where `srllm serve` spells a setting differently from its field: the flags users know.
SERVE_FLAGS = {
    "keys_path": Flag(aliases=("--keys-file",), envvar="SRLLM_KEYS_FILE"),
    "rate_limit_per_minute": Flag(aliases=("--rate-limit",)),
    "rate_limit_burst": Flag(aliases=("--rate-burst",)),
    "auth_failures_per_minute": Flag(aliases=("--auth-failure-limit",)),
    "request_timeout_s": Flag(aliases=("--request-timeout",)),
    "cors_origins": Flag(aliases=("--cors-origin",)),
    "scorers": Flag(separator=","),
    "rewrite_scorers": Flag(separator=","),
}


@user_errors
@options_from(ServeSettings, into="options", flags=SERVE_FLAGS,
              panels={EngineArgs: "Engine (EngineArgs)", ServeSettings: "Server (ServeSettings)"})
def serve(
    options: dict[str, Any],
    no_adapter: bool = typer.Option(False, "--no-adapter", help="Use the raw base model (no adapter)."),
    preload_scorers: bool = typer.Option(True, help="Load the scorers at start-up (first scores are fast)."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    threads: int | None = typer.Option(None, min=1, help="Torch CPU threads (default: torch's choice); 1 helps "
                                                          "on a machine shared with other busy processes."),
) -> None:
    """Serve rewriting over HTTP: /v1/rewrite, /v1/score, /v1/jobs, a web page at /, /metrics."""
    require_extra("serve", "`srllm serve`")
    import uvicorn

    from srllm.serve import create_app
    from srllm.serve.engine import load_engine
    from srllm.serve.keys import KeyStore
    from srllm.serve.settings import default_keys_path, is_loopback

    if no_adapter:
        options["adapter"] = None
    # A rewrite is scored only by scorers the server runs at all.
    options["rewrite_scorers"] = [name for name in options["rewrite_scorers"] if name in options["scorers"]]
    settings = ServeSettings(**options)
    settings.check()
    host, port = settings.host, settings.port
    if not is_loopback(host) and not settings.auth_required():
        console.print(f"[bold yellow]warning:[/] serving {host} WITHOUT API keys (--insecure-no-auth)")
    if settings.auth_required() and KeyStore(settings.keys_path or default_keys_path()).count_active() == 0:
        raise SrllmError("this server requires API keys but none exist; create one with "
                         "`srllm keys create NAME` (or serve 127.0.0.1 without --require-key)")
    _configure_logging(log_level)
    if threads:
        import torch

        torch.set_num_threads(threads)
    with console.status(f"loading {settings.model} ({settings.backend})..."):
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
