"""Embedded server start over a large key store vs a bare decrypt loop (issue 13).

``python -m benchmarks.store_start ROOT KEYS ROUNDS [--seed] [--profile PATH]``

Each round runs, in alternating order:

- **case**: ``EmbeddedServer(dataset.server_dir, log_file=dataset.server_log).start()`` until it
  accepts connections with every key open (checked), then ``.stop()`` (not timed);
- **baseline**: a bare loop with ``cryptography``'s AESGCM and nothing else: read the server's
  persisted configuration for the key directory and master key, derive the wrapping key from
  ``.master-key.salt`` with Argon2id (RustFS's parameters), list the key directory, read and
  ``json.loads`` each ``*.key`` file, and AES-GCM-decrypt its material, keeping each key's
  document and material in memory (the server must hold them too).

What the server legitimately does on top of the bare loop, so it is part of the case: the data
directory lock and bucket store, the directory mode check and the leftover-temp-file sweep, the
reference's validation of every record (duplicate fields, lone surrogates, field types, ids,
timestamps, nonce and material sizes), the sorted in-memory index, and starting uvicorn.

The last stdout line is one JSON object: ``{"keys": N, "case_s": [...], "baseline_s": [...]}``
(per-round seconds), plus ``stop_s`` for information. ``--profile PATH`` adds one unmeasured case
round under pyinstrument (cProfile when pyinstrument is missing) and writes the text to PATH.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from benchmarks.dataset import DataSet

REPO = Path(__file__).resolve().parent.parent
CONFIG_FILE = "kms_config.json"
SALT_FILE = ".master-key.salt"


def bare_open(server_dir: Path) -> dict[str, tuple[dict[str, Any], bytes]]:
    """The baseline: every key record read, parsed and decrypted, in a plain loop."""
    config = json.loads((server_dir / CONFIG_FILE).read_bytes())["config"]
    key_dir = config["key_dir"]
    salt = Path(key_dir, SALT_FILE).read_bytes()
    kdf = Argon2id(salt=salt, length=32, iterations=2, lanes=1, memory_cost=19456)
    aead = AESGCM(kdf.derive(config["master_key"].encode("utf-8")))
    keys: dict[str, tuple[dict[str, Any], bytes]] = {}
    for name in os.listdir(key_dir):
        if not name.endswith(".key"):
            continue
        with open(os.path.join(key_dir, name), "rb") as file:
            document = json.loads(file.read())
        sealed = base64.b64decode(document["encrypted_key_material"])
        material = aead.decrypt(bytes(document["nonce"]), sealed, None)
        keys[document["key_id"]] = (document, material)
    return keys


def _start_server(dataset: DataSet) -> Any:
    from kms_tui.embedded.server import EmbeddedServer

    return EmbeddedServer(dataset.server_dir, log_file=dataset.server_log)


def _check_open(server: Any, keys: int) -> None:
    service = server.service
    if not service.is_running:
        raise RuntimeError("the seeded server did not come back Running; see its log")
    opened = len(service.keys.require_store())
    if opened != keys:
        raise RuntimeError(f"the server opened {opened} keys, expected {keys}")


def _case_round(dataset: DataSet) -> tuple[float, float]:
    """(start seconds, stop seconds) of one embedded server over the data set."""
    server = _start_server(dataset)
    started = time.perf_counter()
    server.start()
    start_s = time.perf_counter() - started
    try:
        _check_open(server, dataset.key_count)
    finally:
        started = time.perf_counter()
        server.stop()
        stop_s = time.perf_counter() - started
    return start_s, stop_s


def _baseline_round(dataset: DataSet) -> float:
    started = time.perf_counter()
    keys = bare_open(dataset.server_dir)
    elapsed = time.perf_counter() - started
    if len(keys) != dataset.key_count:
        raise RuntimeError(f"the bare loop read {len(keys)} keys, expected {dataset.key_count}")
    return elapsed


def _profile_round(dataset: DataSet, report: Path) -> None:
    """One unmeasured case round under a profiler; the text report goes to ``report``."""
    server = _start_server(dataset)
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import io
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        server.start()
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(60)
        text = out.getvalue()
    else:
        profiler = Profiler()
        profiler.start()
        server.start()
        profiler.stop()
        text = profiler.output_text(unicode=True, color=False)
    try:
        _check_open(server, dataset.key_count)
    finally:
        server.stop()
    report.write_text(text)


def run(options: argparse.Namespace) -> dict[str, Any]:
    """Seed if asked, then alternate case and baseline rounds."""
    dataset = DataSet(Path(options.root), options.keys)
    if not (dataset.root / "seeded.json").exists():
        if not options.seed:
            raise SystemExit(f"{dataset.root} is not seeded; pass --seed to seed it first")
        dataset.create(cwd=REPO)
    if options.profile:
        _profile_round(dataset, Path(options.profile))
    case_s: list[float] = []
    stop_s: list[float] = []
    baseline_s: list[float] = []
    for round_number in range(options.rounds):
        for turn in ("case", "base") if round_number % 2 == 0 else ("base", "case"):
            gc.collect()  # each side starts from the same clean heap
            if turn == "case":
                start, stop = _case_round(dataset)
                case_s.append(start)
                stop_s.append(stop)
            else:
                baseline_s.append(_baseline_round(dataset))
    return {"keys": options.keys, "case_s": case_s, "baseline_s": baseline_s, "stop_s": stop_s}


def main(argv: list[str]) -> int:
    """Run the rounds and print the JSON on the last line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_start")
    parser.add_argument("root")
    parser.add_argument("keys", type=int)
    parser.add_argument("rounds", type=int)
    parser.add_argument("--seed", action="store_true", help="seed ROOT first if not seeded")
    parser.add_argument("--profile", metavar="PATH", help="profile one extra, unmeasured start")
    options = parser.parse_args(argv)
    result = run(options)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
