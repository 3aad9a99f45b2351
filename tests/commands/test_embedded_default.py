"""With no endpoint, no profile and no config, a command runs against the embedded server,
started for the command (and bootstrapped on a first run) exactly as the console does."""

from __future__ import annotations

from pathlib import Path

from tests.commands.support import base_env, run_cli


def test_status_on_the_embedded_server(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    done = run_cli("status", "--json", env=env)
    assert done.code == 0, done.stderr
    doc = done.json
    assert doc["profile"] == "embedded"
    assert doc["server"].startswith("http://127.0.0.1:")
    assert doc["service"]["state"] == "Running" and doc["service"]["backend"] == "Local"
    # the console's layout: the server's state and keys under the data directory
    assert (tmp_path / "data" / "kms-tui" / "server").is_dir()
    assert (tmp_path / "data" / "kms-tui" / "keys").is_dir()
    assert (tmp_path / "config" / "kms-tui" / "embedded-master-key").is_file()
    created = run_cli("keys", "create", "--name", "local-key", "--json", env=env)
    assert created.code == 0 and created.json["state"] == "Enabled"
    listed = run_cli("keys", "list", "--ndjson", env=env)  # a second run finds it again
    assert [k["key_id"] for k in listed.lines] == ["local-key"]
