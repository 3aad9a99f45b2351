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
