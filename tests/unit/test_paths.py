"""Platform paths and the private-file helpers that guard secrets on disk."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kms_tui import paths


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with umask 0, the setting that would widen a carelessly created file."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_dirs_follow_xdg_and_carry_the_app_name(isolated_dirs: Path) -> None:
    assert paths.config_dir() == isolated_dirs / "config" / "kms-tui"
    assert paths.data_dir() == isolated_dirs / "data" / "kms-tui"
    assert paths.state_dir() == isolated_dirs / "state" / "kms-tui"
    assert paths.log_dir() == paths.state_dir() / "log"


def test_config_file_defaults_to_config_toml_in_config_dir() -> None:
    assert paths.config_file() == paths.config_dir() / "config.toml"


def test_config_file_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere.toml"
    monkeypatch.setenv("KMS_TUI_CONFIG", str(target))
    assert paths.config_file() == target


def test_config_file_override_from_given_environ(tmp_path: Path) -> None:
    target = tmp_path / "given.toml"
    assert paths.config_file({"KMS_TUI_CONFIG": str(target)}) == target
    assert paths.config_file({"KMS_TUI_CONFIG": ""}) == paths.config_dir() / "config.toml"


def test_config_file_override_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.config_file({"KMS_TUI_CONFIG": "~/kms.toml"}) == tmp_path / "kms.toml"


def test_ensure_private_dir_creates_0700_under_open_umask(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "a" / "b" / "secrets"
    assert paths.ensure_private_dir(target) == target
    assert target.is_dir()
    assert _mode(target) == 0o700


def test_ensure_private_dir_narrows_an_existing_wide_dir(tmp_path: Path) -> None:
    target = tmp_path / "wide"
    target.mkdir()
    os.chmod(target, 0o755)
    paths.ensure_private_dir(target)
    assert _mode(target) == 0o700


def test_ensure_private_dir_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(FileExistsError):
        paths.ensure_private_dir(target)


def test_write_private_file_is_0600_under_open_umask(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "secret.bin"
    paths.write_private_file(target, b"\x00top secret\xff")
    assert target.read_bytes() == b"\x00top secret\xff"
    assert _mode(target) == 0o600
    assert paths.is_private(target)


def test_write_private_file_replaces_and_narrows_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    target.write_text("old")
    os.chmod(target, 0o644)
    paths.write_private_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600


def test_write_private_file_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "out"
    for round_number in range(3):
        paths.write_private_file(target, f"round {round_number}".encode())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert target.read_text() == "round 2"


def test_write_private_file_creates_a_missing_parent_private(
    tmp_path: Path, open_umask: None
) -> None:
    target = tmp_path / "fresh" / "key.pem"
    paths.write_private_file(target, b"pem")
    assert _mode(target.parent) == 0o700
    assert _mode(target) == 0o600


def test_write_private_file_leaves_an_existing_parent_alone(tmp_path: Path) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chmod(parent, 0o755)
    paths.write_private_file(parent / "f", b"x")
    assert _mode(parent) == 0o755


def test_write_private_file_failure_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "is-a-dir"
    target.mkdir()
    (target / "child").write_text("keeps the directory non-empty")
    with pytest.raises(OSError):
        paths.write_private_file(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["is-a-dir"]


@pytest.mark.parametrize(
    ("mode", "private"),
    [(0o600, True), (0o400, True), (0o700, True), (0o640, False), (0o604, False), (0o644, False)],
)
def test_is_private_checks_group_and_other_bits(tmp_path: Path, mode: int, private: bool) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    os.chmod(target, mode)
    assert paths.is_private(target) is private


def test_is_private_is_false_for_a_missing_file(tmp_path: Path) -> None:
    assert paths.is_private(tmp_path / "absent") is False


def test_write_private_file_continues_short_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    sizes: list[int] = []

    def short_write(fd: int, data: bytes | memoryview) -> int:
        sizes.append(real_write(fd, bytes(data[:3])))
        return sizes[-1]

    target = tmp_path / "bundle"
    monkeypatch.setattr(os, "write", short_write)
    paths.write_private_file(target, b"0123456789")
    monkeypatch.undo()
    assert target.read_bytes() == b"0123456789"
    assert sizes == [3, 3, 3, 1]


def test_write_private_file_create_only_never_overwrites(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "backup.json"
    paths.write_private_file(target, b"first", create_only=True)
    assert target.read_bytes() == b"first"
    assert _mode(target) == 0o600
    with pytest.raises(FileExistsError):
        paths.write_private_file(target, b"second", create_only=True)
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.json"]


def test_write_private_file_names_temp_files_with_the_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A temp file left by a crash is recognisable: ``<stem>.tmp-<uuid4>`` beside the target."""
    seen: list[str] = []
    real_replace = os.replace

    def spying_replace(src: str | Path, dst: str | Path) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spying_replace)
    paths.write_private_file(tmp_path / "k1.key", b"x", temp_stem="k1")
    paths.write_private_file(tmp_path / "state.json", b"x")
    assert [name[: name.index(paths.TEMP_MARKER)] for name in seen] == ["k1", ".state.json"]
    assert all(len(name.split(paths.TEMP_MARKER)[1]) == 36 for name in seen)


def test_write_private_file_can_refuse_a_missing_parent(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        paths.write_private_file(tmp_path / "gone" / "k.key", b"x", make_parents=False)
    assert list(tmp_path.iterdir()) == []


def test_serve_and_console_share_one_server_dir_from_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kms-tui serve`` and the console's embedded server use paths.py's one data dir."""
    import platformdirs

    from kms_tui import cli
    from kms_tui.embedded import server
    from kms_tui.embedded.child import EmbeddedProcess

    asked: list[tuple[str, object]] = []

    def user_data_dir(appname: str, appauthor: object = None, *args: object, **kw: object) -> str:
        asked.append((appname, appauthor))
        return str(tmp_path / "platform-data" / appname)

    monkeypatch.setattr(platformdirs, "user_data_dir", user_data_dir)
    chosen: list[Path] = []

    class Chosen(Exception):
        """Raised where a server would start, once its data directory is known."""

    class RecordingLock:
        def __init__(self, data_dir: Path) -> None:
            chosen.append(Path(data_dir))

        def acquire(self) -> None:
            raise Chosen

    def recording_spawn(self: EmbeddedProcess) -> EmbeddedProcess:
        chosen.append(self.data_dir)
        raise Chosen

    monkeypatch.setattr(server, "DataDirLock", RecordingLock)
    monkeypatch.setattr(EmbeddedProcess, "spawn", recording_spawn)
    with pytest.raises(Chosen):
        cli.run(["serve", "--port", "0", "--access-key", "ak", "--secret-key", "sk"])
    with pytest.raises(Chosen):
        cli.run([])  # the console with no config file: the embedded server
    expected = tmp_path / "platform-data" / "kms-tui" / "server"
    assert paths.server_data_dir() == expected
    assert chosen == [expected, expected]
    assert asked and all(call == ("kms-tui", False) for call in asked)


def test_embedded_server_logs_where_paths_says(isolated_dirs: Path) -> None:
    from kms_tui.embedded.child import EmbeddedProcess
    from kms_tui.embedded.server import EmbeddedServer

    expected = isolated_dirs / "state" / "kms-tui" / "log" / "embedded-server.log"
    assert paths.server_log_file() == expected
    process = EmbeddedProcess(isolated_dirs / "d", access_key="a", secret_key="s")
    assert process.log_file == expected
    assert EmbeddedServer(isolated_dirs / "d").log_file == expected
