"""``kms-tui backup create FILE | inspect FILE | restore FILE``.

The admin API has no route to download or upload a bundle: ``POST /kms/backup`` writes it into
the server's own backup directory (``RUSTFS_KMS_BACKUP_DIR``, reported by ``GET /kms/backup``
as ``backup_root``) and ``POST /kms/restore`` reads it from there by backup id. So:

- ``create`` asks the server for a backup, then copies the bundle from ``backup_root`` to FILE
  (0600; an existing FILE only with ``--force`` or a typed ``yes``). That works wherever this
  machine can read the server's backup directory (the embedded server, ``kms-tui serve``, a
  shared mount); otherwise it says where the bundle is on the server and writes nothing.
- ``inspect`` reads FILE only (no server): id, creation time, source, key count and key ids,
  and the key states when the backup KEK is in the environment (see :mod:`.bundle`).
- ``restore`` places FILE into ``backup_root`` (when this machine can write there and no
  different bundle has that id), asks the server for a dry run, and after the typed backup id
  (or ``--yes``) stops the KMS service, restores, and starts it again. The server restores
  only into a key directory holding none of the bundle's keys; a conflict changes nothing.

A server without backup support (501), credentials without ``kms:Backup``/``kms:Restore``
(403), or backup prerequisites missing on the server: said in plain words, exit 1.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kms_tui.commands.bundle import BUNDLE_SUFFIX, Bundle, bundle_from_bytes, read_bundle
from kms_tui.commands.confirm import ask_typed, interactive
from kms_tui.commands.errors import EXIT_FAILED, EXIT_PARTIAL, CommandError
from kms_tui.commands.output import Output, Style
from kms_tui.commands.runner import Context

if TYPE_CHECKING:
    from kms_tui.api.backup_models import BackupStatus
    from kms_tui.api.errors import KmsError
    from kms_tui.commands.session import Session

__all__ = ["run_create", "run_inspect", "run_restore"]


def _refused(err: KmsError, what: str) -> CommandError | None:
    """501 and 403 in plain words (None: not one of those)."""
    from kms_tui.api.backup_files import refusal_text

    message = refusal_text(err, what)
    if message is None:
        return None
    return CommandError(
        message,
        code=err.code,
        exit_code=EXIT_FAILED,
        status=err.status,
        request_id=err.request_id,
    )


@contextlib.asynccontextmanager
async def _plain_refusals(what: str) -> Any:
    from kms_tui.api.errors import KmsError

    try:
        yield
    except KmsError as err:
        refusal = _refused(err, what)
        if refusal is None:
            raise
        raise refusal from err


async def _status(session: Session, *, restoring: bool) -> BackupStatus:
    from kms_tui.api.backup_files import unavailable_reason

    status = await session.admin.backup_status()
    reason = unavailable_reason(status, restoring=restoring)
    if reason is not None:
        raise CommandError(
            f"this server cannot {'restore' if restoring else 'make'} a backup now: {reason}",
            code="BackupUnavailable",
            exit_code=EXIT_FAILED,
        )
    return status


def _render_summary(out: Output, bundle: Bundle, file: str) -> None:
    summary = bundle.summary()
    out.fields(
        [
            ("file", file),
            ("backup id", summary["backup_id"]),
            ("created", summary["created_at"]),
            ("source", summary["source"]["deployment_identity"]),
            ("backend", summary["source"]["backend"]),
            ("backup KEK", f"{summary['backup_kek_id']} v{summary['backup_kek_version']}"),
            ("keys", summary["key_count"]),
        ]
    )


# --- create ------------------------------------------------------------------------------------


async def run_create(ctx: Context) -> int:
    """Have the server write a bundle, copy it to FILE (0600)."""
    from kms_tui import paths

    out = ctx.out
    target = Path(ctx.args.file).expanduser()
    if target.is_dir():
        raise CommandError(f"{target} is a directory; name the file to write")
    if not target.parent.is_dir():
        raise CommandError(f"{target.parent} does not exist; create it first")
    overwrite = bool(ctx.args.force)
    if target.exists() and not overwrite:
        if not interactive():
            raise CommandError(
                f"{target} exists; pass --force to overwrite it (nothing was done)",
                code="FileExists",
            )
        await ask_typed(out, f"{target} exists. Type yes to overwrite it", "yes")
        overwrite = True
    async with ctx.session() as session, _plain_refusals("take backups"):
        status = await _status(session, restoring=False)
        out.progress("the server is writing the backup…")
        result = await session.admin.create_backup()
    assert status.backup_root is not None
    server_file = Path(status.backup_root) / f"{result.backup_id}{BUNDLE_SUFFIX}"
    try:
        raw = server_file.read_bytes()
    except OSError:
        raise CommandError(
            f"the server wrote backup {result.backup_id} to {server_file} on its own disk, "
            f"which this machine cannot read, so {target} was not written; copy that file "
            "from the server (it holds sealed key material: keep it 0600)",
            code="BundleNotReachable",
            exit_code=EXIT_FAILED,
        ) from None
    bundle = bundle_from_bytes(raw, server_file)
    if bundle.backup_id != result.backup_id:
        raise CommandError(
            f"{server_file} holds backup {bundle.backup_id}, not {result.backup_id}",
            code="BadBundle",
            exit_code=EXIT_FAILED,
        )
    try:
        paths.write_private_file(target, raw, create_only=not overwrite, make_parents=False)
    except FileExistsError:
        raise CommandError(
            f"{target} appeared meanwhile; pass --force to overwrite it", code="FileExists"
        ) from None
    except OSError as err:
        raise CommandError(f"{target}: cannot write it: {err.strerror}") from err
    doc = {"file": str(target), **bundle.summary(), "server_copy": str(server_file)}
    if out.json:
        out.document(doc)
    else:
        _render_summary(out, bundle, str(target))
    return 0


# --- inspect -----------------------------------------------------------------------------------


async def run_inspect(ctx: Context) -> int:
    """What FILE holds, from the file alone."""
    from kms_tui.commands.bundle import sealed_states

    out = ctx.out
    path = Path(ctx.args.file).expanduser()
    bundle = read_bundle(path)
    states, note = sealed_states(bundle)
    counts: dict[str, int] | None = None
    if states is not None:
        counts = {}
        for state, _ in states.values():
            counts[state] = counts.get(state, 0) + 1
    keys = [
        {
            "key_id": key_id,
            "state": states[key_id][0] if states is not None else None,
            "deletion_date": states[key_id][1] if states is not None else None,
        }
        for key_id in bundle.key_ids
    ]
    doc = {
        "file": str(path),
        **bundle.summary(),
        "intact": True,
        "states": counts,
        "states_note": note,
        "keys": keys,
    }
    if out.json:
        out.document(doc)
        return 0
    _render_summary(out, bundle, str(path))
    if counts is not None:
        out.fields([("states", ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))])
    elif note:
        out.line(("states: ", Style.DIM), note)
    out.table(
        ["KEY ID", "STATE", "DELETION"],
        [[key["key_id"], key["state"], key["deletion_date"]] for key in keys],
    )
    return 0


# --- restore -----------------------------------------------------------------------------------


def _place(bundle: Bundle, root: Path) -> tuple[Path, bool]:
    """Put the bundle into the server's backup directory when reachable (see place_bundle)."""
    from kms_tui.api import backup_files

    try:
        return backup_files.place_bundle(bundle, root)
    except backup_files.BundleError as err:
        raise CommandError(err.message, code=err.code, exit_code=EXIT_FAILED) from err


async def run_restore(ctx: Context) -> int:
    """Dry run, typed confirmation, stop, restore, start; each key's result."""
    from kms_tui.api.wire import ConflictPolicy, ServiceState

    out = ctx.out
    path = Path(ctx.args.file).expanduser()
    bundle = read_bundle(path)
    placed: Path | None = None
    async with ctx.session() as session, _plain_refusals("restore backups"):
        status = await _status(session, restoring=True)
        assert status.backup_root is not None
        there, wrote = _place(bundle, Path(status.backup_root))
        placed = there if wrote else None
        try:
            dry = await session.admin.restore_dry_run(bundle.backup_id)
            report = dry.report
            if report.blockers:
                missing = any(b.code == "missing-artifact" for b in report.blockers)
                detail = "; ".join(f"{b.code}: {b.detail}" for b in report.blockers)
                hint = (
                    f"; copy {path} to {there} on the server, then run this again"
                    if missing
                    else ""
                )
                raise CommandError(
                    f"the server cannot restore this bundle: {detail}{hint}",
                    code="RestoreBlocked",
                    exit_code=EXIT_FAILED,
                )
            if report.conflicts:
                clashing = ", ".join(sorted(c.key_id for c in report.conflicts))
                raise CommandError(
                    f"these keys of the bundle already exist on the server: {clashing}; the "
                    "server restores only into a key directory holding none of the bundle's "
                    "keys, so nothing was changed",
                    code="RestoreConflict",
                    exit_code=EXIT_FAILED,
                )
            service = await session.admin.service_status()
            running = service.state is ServiceState.RUNNING
            if not ctx.args.yes and interactive():
                out.message(
                    f"bundle {bundle.backup_id}: {len(bundle.key_ids)} key(s), created "
                    f"{bundle.summary()['created_at']}, from {bundle.deployment_identity}"
                )
                if running:
                    out.message(
                        "restoring stops the KMS service (every encrypt and decrypt fails "
                        "meanwhile), writes the keys, and starts it again"
                    )
                await ask_typed(
                    out, f"Type the backup id ({bundle.backup_id}) to confirm", bundle.backup_id
                )
            if running:
                out.progress("stopping the KMS service…")
                await session.admin.stop()
            try:
                out.progress("restoring…")
                result = await session.admin.restore(
                    bundle.backup_id,
                    confirm_backup_id=bundle.backup_id,
                    confirm_conflict_policy=ConflictPolicy.FAIL,
                )
                placed = None  # restored: the bundle stays where the server keeps its backups
            finally:
                if running:
                    out.progress("starting the KMS service…")
                    started = await session.admin.start()
                    if not started.success:
                        out.message(f"warning: the KMS service did not start: {started.message}")
        finally:
            if placed is not None:
                with contextlib.suppress(OSError):
                    placed.unlink()
    restored = list(result.restored_key_ids)
    not_restored = [key_id for key_id in bundle.key_ids if key_id not in set(restored)]
    doc = {
        "file": str(path),
        **bundle.summary(),
        "restored": restored,
        "not_restored": not_restored,
        "service_restarted": running,
    }
    if out.json:
        out.document(doc)
    else:
        out.line(
            f"restored {len(restored)} of {len(bundle.key_ids)} key(s) from {bundle.backup_id}"
        )
        for key_id in restored:
            out.line(("  restored      ", Style.GOOD), key_id)
        for key_id in not_restored:
            out.line(("  NOT restored  ", Style.BAD), key_id)
    if not_restored:
        out.message(f"{len(not_restored)} key(s) were not restored: {', '.join(not_restored)}")
        return EXIT_PARTIAL if restored else EXIT_FAILED
    return 0
