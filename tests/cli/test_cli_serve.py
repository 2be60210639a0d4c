"""`srllm keys create|list|revoke` and `srllm serve`'s refusals before anything loads."""

from __future__ import annotations

from typer.testing import CliRunner

from srllm.serve.keys import KeyStore


def test_keys_cli_create_list_revoke(tmp_path):
    from srllm.cli.serve import keys_app

    runner = CliRunner()
    path = str(tmp_path / "keys.sqlite")
    created = runner.invoke(keys_app, ["create", "my laptop", "--keys-file", path])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("srk_")
    key_id = token.split("_")[1]
    listed = runner.invoke(keys_app, ["list", "--keys-file", path])
    assert key_id in listed.output and "my laptop" in listed.output and token not in listed.output
    assert runner.invoke(keys_app, ["revoke", key_id, "--keys-file", path]).exit_code == 0
    assert KeyStore(path).verify(token) is None
    again = runner.invoke(keys_app, ["revoke", key_id, "--keys-file", path])
    assert again.exit_code == 2 and "already revoked" in again.output


def test_serve_refuses_a_public_address_without_keys(tmp_path, monkeypatch):
    from srllm.cli.serve import app

    monkeypatch.setenv("SRLLM_CACHE", str(tmp_path))
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--keys-file", str(tmp_path / "k.sqlite")])
    assert result.exit_code == 2
    assert "requires API keys" in result.output and "srllm keys create" in result.output
