"""The route fuzz's requests: every routed (method, route) in turn, the rest drawn from a seed.

The schedule is a round-robin over slots: one per route the server has (``fuzz_oracle.routed()``,
read from the server's own route tables) and a few off-table slots (a routed path with a method
it does not take, a bent path, an odd prefix, an object or bucket sub-resource the server does
not serve). Request ``i`` goes to slot ``i % len(slots)``, so in ``n`` requests every route is
sent ``n // len(slots)`` times or once more, by construction. Every fourth pass over the slots
(the first included) is clean: each route gets a well-formed request in the state it needs, so
each route that can answer 2xx does. The other passes bend everything.

Only the parts of a request are random, drawn from one ``random.Random(seed)``: service state,
transport, auth, query, headers, and the body: the route's own shape, that shape broken one way
(a field dropped, an unknown one added, one retyped, the document wrapped), or raw bytes (random,
cut short, nested 50,000 deep, non-UTF-8, numbers past any range, duplicate fields, past the
1 MiB cap, XML with and without DOCTYPE). Text is drawn from all of Unicode, lone surrogates
included. The same seed gives the same requests on every install (no Hypothesis, whose draws
change between versions). Placeholders (``BLOB``, ``BACKUP``, ``KEY_DIR``) are filled at send
time with a ciphertext or backup id the server made and the sandbox key directory.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from scripts.fuzz_oracle import BUCKET_PATH, DESCRIBE_PATH, OBJECT_PATH, PREFIXES, Route, routed

MASTER_KEY = "fuzz master key passphrase"
STATES = ("NotConfigured", "Configured", "Running")
ODD_PREFIXES = ("/rustfs/admin/v4", "/rustfs/admin", "/minio/admin/v2", "/RUSTFS/admin/v3", "")
POOL_KEYS = ("fz-alpha", "fz-beta", "fz-gamma")
PENDING_KEY = "fz-pending"  # kept PendingDeletion for a clean cancel-deletion
POOL_BUCKETS = ("fz-bucket", "fz-other")
DOOMED_BUCKET = "fz-doomed"  # kept present for a clean DeleteBucket
OBJECT_KEY = "fz-object"  # kept present in the pool buckets for a clean GetObject/HeadObject
SSE_S3_KEY = "default"  # SSE-S3 is keyed by the KMS default key, else a key named "default"
ODD_BUCKETS = ("no-such-bucket", "Bad_Name", "a", "x" * 70, "xn--punycode", "192.168.1.1", "b..c")
ODD_IDS = ("", ".", "..", "a/b", "a\\b", "nul\x00x", "ключ", "🔑", "x" * 300, "name", "%2F", " s ",
           "lone\ud800", "\udfff")  # fmt: skip
BLOB, BACKUP, KEY_DIR = "\x00blob\x00", "\x00backup\x00", "\x00key-dir\x00"
CLEAN_EVERY = 4  # one pass over the slots in this many is clean
OFF_TABLE = ("admin: method off the table", "admin: bent path", "odd prefix", "S3: off the table")
CLEAN_STATE = {"POST /kms/restore": "Configured"}  # restore needs the service stopped
CLEAN_OVERRIDES = {"/kms/keys/cancel-deletion": {"key_id": PENDING_KEY}}

Rng = random.Random

# ------------------------------------------------------------------------------- values

_ASCII = [chr(c) for c in range(0x20, 0x7F)]
_CONTROL = [chr(c) for c in range(0x20)] + ["\x7f", "\x85", "\u2028", "\u202e", "\ufeff"]
_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
_ODD_CHARS = ["\u00e9", "\u00df", "\u0130", "\u03a3", "ключ"[0], "\u4e2d", "\uffff", "\ufffd",
              "\U0001f511", "\U0010ffff", "\u0301", "\u200b", "/", "\\", "%", "&", "=", "?", "#",
              '"', "'", "<", ">", "\n", "\t", " "]  # fmt: skip


def _char(rng: Rng) -> str:
    kind = rng.randrange(10)
    if kind < 5:
        return rng.choice(_ASCII)
    if kind == 5:
        return rng.choice(_CONTROL)
    if kind == 6:
        return rng.choice(_SURROGATES)
    if kind == 7:
        return rng.choice(_ODD_CHARS)
    if kind == 8:
        return chr(rng.randrange(0x80, 0x10000))  # the whole BMP, surrogates included
    return chr(rng.randrange(0x10000, 0x110000))


def unicode_text(rng: Rng, max_size: int = 24) -> str:
    """Text from all of Unicode; empty about one time in eight."""
    if rng.randrange(8) == 0:
        return ""
    return "".join(_char(rng) for _ in range(rng.randint(1, max_size)))


def key_id(rng: Rng) -> str:
    kind = rng.randrange(4)
    if kind < 2:
        return rng.choice(POOL_KEYS)
    return rng.choice(ODD_IDS) if kind == 2 else unicode_text(rng)


def json_leaf(rng: Rng) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-(2**70), 2**70)
    if kind == 2:
        return rng.choice([2**32, 2**64, -1, 0, 7, 30, 31, 2**63 - 1, -(2**63)])
    if kind == 3:
        return rng.choice([0.0, -0.0, 1.5, 1e308, 5e-324, rng.uniform(-1e9, 1e9)])
    if kind == 4:
        return key_id(rng)
    return unicode_text(rng)


def json_any(rng: Rng, depth: int = 3) -> Any:
    """A JSON value of up to ``depth`` levels of lists and objects."""
    kind = rng.randrange(4) if depth > 0 else 0
    if kind < 2:
        return json_leaf(rng)
    if kind == 2:
        return [json_any(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {unicode_text(rng): json_any(rng, depth - 1) for _ in range(rng.randint(0, 4))}


def string_map(rng: Rng) -> dict[str, str]:
    return {
        rng.choice(["team", "env", "name", unicode_text(rng)]): rng.choice(
            [unicode_text(rng), key_id(rng)]
        )
        for _ in range(rng.randint(0, 4))
    }


def _description(rng: Rng) -> Any:
    kind = rng.randrange(6)
    if kind == 0:
        return None
    if kind == 1:
        return "d" * rng.choice([1, 255, 256, 1024, 300_000])
    return unicode_text(rng)


def _window(rng: Rng) -> int:
    return rng.choice([rng.randint(0, 40), 2**32, -1, 7, 30, 2**64])


def _backup_id(rng: Rng) -> str:
    return rng.choice([BACKUP, BACKUP, "fz-backup", "../x", ".h", "a" * 200, unicode_text(rng)])


def _blob(rng: Rng) -> str:
    kind = rng.randrange(4)
    if kind < 2:
        return BLOB
    if kind == 2:
        return unicode_text(rng)
    return base64.b64encode(rng.randbytes(rng.randint(0, 64))).decode()


FIELDS: dict[str, Callable[[Rng], Any]] = {
    "key_id": key_id,
    "confirm_key_id": key_id,
    "description": _description,
    "tags": string_map,
    "encryption_context": string_map,
    "tag_keys": lambda r: [r.choice(["team", "name", unicode_text(r)]) for _ in range(4)][
        : r.randint(0, 4)
    ],
    "key_usage": lambda r: r.choice(["EncryptDecrypt", "SignVerify", "ENCRYPT_DECRYPT", ""]),
    "key_spec": lambda r: r.choice(["Aes256", "Aes128", "ChaCha20", "AES_256", "aes256"]),
    "pending_window_in_days": _window,
    "force_immediate": lambda r: r.choice([True, False]),
    "force": lambda r: r.choice([True, False]),
    "ciphertext_blob": _blob,
    "backup_id": _backup_id,
    "bundle": _backup_id,
    "confirm_backup_id": _backup_id,
    "observed_generation": lambda r: r.choice([None, -5, 0, 2**65, r.randint(0, 2**40)]),
    "confirm_conflict_policy": lambda r: r.choice(["fail", "restore-into-empty-target", "x"]),
    "confirm_target_key_dir": lambda r: r.choice([KEY_DIR, KEY_DIR, unicode_text(r)]),
}  # fmt: skip
CONFIG_FIELDS: dict[str, Callable[[Rng], Any]] = {
    "key_dir": lambda r: KEY_DIR,
    "master_key": lambda r: r.choice([MASTER_KEY, "", "other", None]),
    "allow_insecure_dev_defaults": lambda r: r.choice([True, True, False]),
    "file_permissions": lambda r: r.choice([384, 416, 511, 0, 4096, 420]),
    "default_key_id": lambda r: r.choice([*POOL_KEYS, None]),
    "enable_cache": lambda r: r.choice([True, False]),
    "max_cached_keys": lambda r: r.choice([0, 1, 5, 2**64]),
    "cache_ttl_seconds": lambda r: r.choice([0, 1, 300, 10**6]),
    "timeout_seconds": lambda r: r.choice([0, 30, 999]),
    "retry_attempts": lambda r: r.choice([0, 3]),
    "address": lambda r: r.choice(["https://vault.invalid:8200", "http://127.0.0.1:1", "x"]),
    "auth_method": lambda r: r.choice(
        [
            {"Token": {"token": "t"}},
            {"Token": {"token": ""}},
            {"AppRole": {"role_id": "r"}},
            {"token": "x"},
        ]
    ),  # fmt: skip
    "region": lambda r: r.choice(["eu-central-1", ""]),
}
# Well-formed values, for clean requests (each route's 2xx needs only these).
CLEAN_FIELDS: dict[str, Callable[[Rng], Any]] = {
    "key_id": lambda r: r.choice(POOL_KEYS),
    "description": lambda r: r.choice(["pool key", "fuzz: ключ 🔑", ""]),
    "tags": lambda r: {"team": r.choice(["a", "b"]), "env": "fuzz"},
    "tag_keys": lambda r: ["team"],
    "key_usage": lambda r: "EncryptDecrypt",
    "key_spec": lambda r: r.choice(["Aes256", "Aes128"]),
    "pending_window_in_days": lambda r: r.randint(7, 30),
    "force": lambda r: r.choice([True, False]),
    "ciphertext_blob": lambda r: BLOB,
    "backup_id": lambda r: f"fz-backup-{r.randrange(10**12)}",
    "bundle": lambda r: BACKUP,
    "confirm_backup_id": lambda r: BACKUP,
    "confirm_conflict_policy": lambda r: r.choice(["fail", "restore-into-empty-target"]),
    "confirm_target_key_dir": lambda r: KEY_DIR,
}
# (required, optional) fields of each admin route's body; the rest take none.
ROUTE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "/kms/keys": ((), ("key_usage", "description", "tags")),
    "/kms/create-key": ((), ("key_usage", "description", "tags")),
    "/kms/key/create": ((), ("key_usage", "description", "tags")),
    "/kms/keys/delete": (
        ("key_id",),
        ("pending_window_in_days", "force_immediate", "confirm_key_id"),
    ),
    "/kms/keys/update-description": (("key_id", "description"), ()),
    "/kms/keys/tag": (("key_id", "tags"), ()),
    "/kms/keys/untag": (("key_id", "tag_keys"), ()),
    "/kms/generate-data-key": (("key_id", "key_spec"), ("encryption_context",)),
    "/kms/decrypt": (("ciphertext_blob",), ("encryption_context",)),
    "/kms/start": ((), ("force",)),
    "/kms/backup": ((), ("backup_id",)),
    "/kms/restore/dry-run": (("bundle",), ("observed_generation",)),
    "/kms/restore": (
        ("bundle", "confirm_backup_id", "confirm_conflict_policy"),
        ("observed_generation",),
    ),
    "/kms/restore/abort": (("confirm_target_key_dir",), ()),
}
for _route in ("cancel-deletion", "enable", "disable", "rotate"):
    ROUTE_FIELDS[f"/kms/keys/{_route}"] = (("key_id",), ())
COMMON_CONFIG = (
    "default_key_id",
    "enable_cache",
    "max_cached_keys",
    "cache_ttl_seconds",
    "timeout_seconds",
    "retry_attempts",
    "allow_insecure_dev_defaults",
)
BACKEND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Local": (("key_dir",), ("master_key", "file_permissions", *COMMON_CONFIG)),
    "VaultKV2": (("address", "auth_method"), COMMON_CONFIG),
    "vault-transit": (("address", "auth_method"), COMMON_CONFIG),
    "AWS": (("region",), COMMON_CONFIG),
    "Static": ((), ()),
    "bogus": (("key_dir",), ()),
}
QUERY_VALUES: dict[str, Callable[[Rng], str]] = {
    "limit": lambda r: r.choice(
        ["0", "1", "2", "1000", "5000", "-1", "abc", "", "99999999999", "²"]
    ),
    "marker": key_id,
    "keyId": key_id,
    "key-id": key_id,
    "key": key_id,
    "status": lambda r: r.choice(["Active", "PENDING_DELETION", "pending-deletion", "x", ""]),
    "usage": lambda r: r.choice(["EncryptDecrypt", "ENCRYPT_DECRYPT", "y"]),
    "impact": lambda r: r.choice(["true", "false", "TRUE", "1", ""]),
    "pending_window_in_days": lambda r: r.choice(["7", "30", "3", "x", "99999999999"]),
    "force_immediate": lambda r: r.choice(["true", "false"]),
    "confirm_key_id": key_id,
}  # fmt: skip


# Query a clean request carries, by route.
def _clean_limit(rng: Rng) -> list[tuple[str, str | None]]:
    return [("limit", rng.choice(["1", "2", "1000"]))]


def _clean_key_query(rng: Rng) -> list[tuple[str, str | None]]:
    return [(rng.choice(["keyId", "key-id", "key"]), rng.choice(POOL_KEYS))]


def _list_query(rng: Rng, clean: bool) -> list[tuple[str, str | None]]:
    """ListObjectsV2: list-type=2 and some of its parameters, sound or (unless clean) not."""
    if clean:
        pairs: list[tuple[str, str | None]] = [("list-type", "2")]
        if rng.randrange(2):
            pairs.append(("max-keys", rng.choice(["1", "2", "1000", "5000"])))
        if rng.randrange(2):
            pairs += [("prefix", "fz"), ("delimiter", "/")]
        return pairs
    pairs = [("list-type", rng.choice(["2", "2", "2", "1", "", None]))]
    for name in rng.sample(sorted(LIST_VALUES), rng.randint(0, 3)):
        pairs.append((name, LIST_VALUES[name](rng)))
    return pairs


LIST_VALUES: dict[str, Callable[[Rng], str]] = {
    "max-keys": lambda r: r.choice(["-1", "abc", "0", "1", "1001", "99999999999999999999", ""]),
    "continuation-token": lambda r: r.choice(
        ["%%%", "bm90IHZhbGlk", "", "/w==", base64.b64encode(unicode_text(r).encode(
            "utf-8", "surrogatepass")).decode()]
    ),
    "delimiter": lambda r: r.choice(["/", "", "-", unicode_text(r)]),
    "prefix": lambda r: r.choice(["", "fz", unicode_text(r)]),
    "start-after": unicode_text,
    "fetch-owner": lambda r: r.choice(["true", "false", "x"]),
    "encoding-type": lambda r: r.choice(["url", "bogus", ""]),
}  # fmt: skip


CLEAN_QUERY: dict[str, Callable[[Rng], list[tuple[str, str | None]]]] = {
    "GET /kms/keys": _clean_limit,
    "GET /kms/list-keys": _clean_limit,
    "GET /kms/describe-key": _clean_key_query,
    "GET /kms/key/status": _clean_key_query,
}
CONTENT_TYPES = (
    None, None, "application/json", "application/xml", "text/plain", "",
    "application/json; charset=utf-16", "multipart/form-data; boundary=",
    "application/x-www-form-urlencoded", "*/*", ";;;", "a/b/c",
)  # fmt: skip
GARBAGE_QUERY = ("%", "%zz", "%ff", "%E2%82", "a+b", "&&", "a!b", "x:y", "[", "%2f", "a=b=c")


@dataclass(frozen=True)
class Case:
    """One request to send: where, in which service state, and its parts before signing."""

    slot: str  # the route label, or the off-table slot
    clean: bool  # well-formed, in the state the route needs: should answer 2xx
    over_socket: bool
    state: str
    method: str
    path: str
    query: str
    canonical_query: bool  # percent-encoded as a SigV4 signer expects
    headers: tuple[tuple[str, str], ...]
    body: Any  # bytes, or a JSON value still holding placeholders
    json_ascii: bool
    auth: str  # hashed | unsigned (UNSIGNED-PAYLOAD) | none


# ------------------------------------------------------------------------------- bodies


def json_body(rng: Rng, route: str, clean: bool = False) -> Any:
    """A body of the route's own shape, or (unless clean) that shape broken in one way."""
    strategies = CLEAN_FIELDS if clean else FIELDS
    document: dict[str, Any] = {}
    required, optional = ROUTE_FIELDS.get(route, ((), ()))
    if route in ("/kms/configure", "/kms/reconfigure"):
        backend = "Local" if clean else rng.choice(["Local"] * 6 + sorted(BACKEND_FIELDS))
        strategies, document = CONFIG_FIELDS, {"backend_type": backend}
        required, optional = BACKEND_FIELDS[backend]
        if clean:  # a Local reconfigure may not name the master key, even the same one
            document["allow_insecure_dev_defaults"] = True
            if route == "/kms/configure":
                document["master_key"] = MASTER_KEY
            optional = ()
    document.update({name: strategies[name](rng) for name in required})
    for name in optional:
        if name in strategies and rng.random() < 0.5:
            document[name] = strategies[name](rng)
    if clean:
        return document | CLEAN_OVERRIDES.get(route, {})
    mutation = rng.choice(["none", "none", "none", "drop", "unknown", "retype", "wrap"])
    if mutation == "drop" and document:
        document.pop(rng.choice(sorted(document)))
    elif mutation == "unknown":
        document[unicode_text(rng)] = json_any(rng)
    elif mutation == "retype" and document:
        document[rng.choice(sorted(document))] = json_any(rng)
    elif mutation == "wrap":
        return rng.choice([[document], "text", 12, None])
    return document


def raw_body(rng: Rng) -> bytes:
    """Bytes no well-behaved client sends."""
    kind = rng.choice(
        ["empty", "bytes", "truncated", "deep", "non_utf8", "huge_number", "duplicate", "oversize",
         "xml"]
    )  # fmt: skip
    if kind == "empty":
        return rng.choice([b"", b" ", b"{}", b"null", b"[]", b"\n"])
    if kind == "bytes":
        return rng.randbytes(rng.randint(0, 300))
    if kind == "truncated":
        whole = json.dumps(json_any(rng)).encode()
        return whole[: rng.randint(0, max(len(whole) - 1, 0))]
    if kind == "deep":
        depth = rng.choice([50, 1000, rng.randint(50, 50_000), 50_000])
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
        return (opener * depth + "1" + closer * depth).encode()
    if kind == "non_utf8":
        return b'{"key_id": "' + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]) + b'"}'
    if kind == "huge_number":
        number = rng.choice(["1" * 5000, "1e999", "-" + "9" * 40, "1.5e308", "NaN"])
        return f'{{"pending_window_in_days": {number}, "key_id": "fz-alpha"}}'.encode()
    if kind == "duplicate":
        return b'{"key_id": "fz-alpha", "key_id": "fz-beta", "tags": {"a": "1", "a": "2"}}'
    if kind == "oversize":
        return b'{"description": "' + b"x" * ((1 << 20) + 10) + b'"}'
    return xml_body(rng)


def xml_body(rng: Rng, clean: bool = False) -> bytes:
    """Bucket-encryption and create-bucket XML, well formed or (unless clean) not."""
    if clean:
        algorithm = rng.choice(["AES256", "aws:kms"])
        named = algorithm == "aws:kms"
        root = "ServerSideEncryptionConfiguration"
    else:
        algorithm = rng.choice(["AES256", "aws:kms", "aws:kms", "bogus", ""])
        named = rng.choice([algorithm == "aws:kms"] * 4 + [algorithm != "aws:kms"])
        root = rng.choice(["ServerSideEncryptionConfiguration"] * 3 + ["CreateBucketConfiguration"])
    master = rng.choice(POOL_KEYS) if clean else key_id(rng)
    key = f"<KMSMasterKeyID>{master}</KMSMasterKeyID>" if named else ""
    xml = (
        f'<{root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
        f"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm>{key}"
        f"</ApplyServerSideEncryptionByDefault></Rule></{root}>"
    )
    encoded = xml.encode("utf-8", "surrogatepass")
    shape = "whole" if clean else rng.choice(["whole"] * 6 + ["cut", "doctype"])
    if shape == "cut":
        return encoded[: rng.randint(1, len(encoded))]
    if shape == "doctype":
        return b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + encoded
    return encoded


def _fuzzed_body(rng: Rng, route: str) -> Any:
    return json_body(rng, route) if rng.randrange(3) else raw_body(rng)


# ------------------------------------------------------------------------------- requests


def _enc(text: str) -> str:
    """Percent-encode as SigV4 canonicalises (lone surrogates go out as their raw bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="-_.~")


def encode_query(pairs: list[tuple[str, str | None]]) -> str:
    # A bare "&&" or trailing "&" is no parameter at all; signers and servers disagree on it.
    return "&".join(
        _enc(n) if v is None else f"{_enc(n)}={_enc(v)}" for n, v in pairs if n or v is not None
    )


def _random_pairs(rng: Rng) -> list[tuple[str, str | None]]:
    names = [rng.choice(sorted(QUERY_VALUES)) for _ in range(rng.choice([0, 0, 1, 2, 3]))]
    return [(name, QUERY_VALUES[name](rng)) for name in names]


def _admin_prefix(rng: Rng) -> str:
    return rng.choice(PREFIXES)


def _key_path(key: str) -> str:
    return "/kms/keys/" + _enc(key)


def _routed_request(rng: Rng, route: Route, clean: bool) -> tuple[str, list[Any], Any]:
    """(path, query pairs, body) for one route of the table."""
    if route.family == "admin":
        if route.path == DESCRIBE_PATH:
            relative = _key_path(rng.choice(POOL_KEYS) if clean else key_id(rng))
        else:
            relative = route.path
        if clean:
            pairs = CLEAN_QUERY.get(route.label, lambda r: [])(rng)
            body: Any = json_body(rng, route.path, clean=True) if route.method != "GET" else b""
        else:
            pairs, body = _random_pairs(rng), _fuzzed_body(rng, route.path)
        return _admin_prefix(rng) + relative, pairs, body
    if route.subresources == ("list-type",):
        pairs = _list_query(rng, clean)
    else:
        pairs = [(name, rng.choice([None, ""])) for name in route.subresources]
    if route.path == OBJECT_PATH:
        if clean:
            path = f"/{rng.choice(POOL_BUCKETS)}/{OBJECT_KEY}"
        else:
            bucket = rng.choice(POOL_BUCKETS * 6 + ODD_BUCKETS)
            path = f"/{_enc(bucket)}/{_enc(unicode_text(rng) or OBJECT_KEY)}"
    elif route.path != BUCKET_PATH:
        path = route.path
    elif clean:
        path = "/" + _clean_bucket(rng, route)
    else:
        bucket = rng.choice(POOL_BUCKETS * 6 + ODD_BUCKETS + ("fz-new",))
        path = "/" + _enc(unicode_text(rng) if rng.randrange(8) == 0 else bucket)
    if clean and route.label == "PUT S3 " + OBJECT_PATH:
        return path, pairs, rng.randbytes(rng.choice([0, 1, 1000, 70_000, 200_000]))
    if clean:
        body = xml_body(rng, clean=True) if route.label.startswith("PUT S3 /{bucket}?") else b""
        if rng.randrange(2) and route.label == "PUT S3 /{bucket}?encryption":
            pairs.append(("x-id", "PutBucketEncryption"))
        return path, pairs, body
    if rng.randrange(6) == 0:
        pairs.append(("x-id", rng.choice(["", "PutObject"])))
    return path, pairs, rng.choice([xml_body, xml_body, raw_body])(rng)


def _clean_bucket(rng: Rng, route: Route) -> str:
    if route.label == "PUT S3 /{bucket}":
        return f"fz-new-{rng.randrange(10**9)}"
    if route.label == "DELETE S3 /{bucket}":
        return DOOMED_BUCKET
    return rng.choice(POOL_BUCKETS)


def _off_table_request(rng: Rng, slot: str, admin: list[Route]) -> tuple[str, str, list[Any], Any]:
    """(method, path, query pairs, body) for a request the route table does not hold."""
    route = rng.choice(admin)
    if slot == "admin: method off the table":
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
        return method, _admin_prefix(rng) + route.path, _random_pairs(rng), raw_body(rng)
    if slot == "admin: bent path":
        bent = rng.choice(
            [route.path + "/", route.path + "/extra", route.path.upper(), "//kms",
             route.path + "/%zz", "/kms/a/b", "/kms/keys/", "/kms/keys/a/b", ""]
        )  # fmt: skip
        body = _fuzzed_body(rng, route.path)
        return route.method, _admin_prefix(rng) + bent, _random_pairs(rng), body
    if slot == "odd prefix":
        body = _fuzzed_body(rng, route.path)
        return route.method, rng.choice(ODD_PREFIXES) + route.path, _random_pairs(rng), body
    method = rng.choice(["PUT", "GET", "DELETE", "HEAD", "POST", "PATCH"])
    bucket = rng.choice(POOL_BUCKETS + ODD_BUCKETS)
    kind = rng.randrange(3)
    if kind == 0:  # an object operation it does not serve (multipart, ACL, tagging...)
        path = f"/{bucket}/" + _enc(unicode_text(rng) or "object")
        subresource = rng.choice(["uploads", "uploadId", "acl", "tagging", "retention", "torrent"])
        pairs: list[tuple[str, str | None]] = [(subresource, "")]
    elif kind == 1:  # a sub-resource it does not serve
        path = f"/{bucket}"
        pairs = [(rng.choice(["acl", "versioning", "policy", "lifecycle", "tagging"]), "")]
    else:  # the root with anything but GET
        method, path, pairs = rng.choice(["PUT", "POST", "DELETE", "HEAD"]), "/", []
    return method, path, pairs, rng.choice([xml_body, raw_body])(rng)


def _headers(rng: Rng, clean: bool) -> tuple[tuple[str, str], ...]:
    """An odd Content-Type, sometimes a Content-MD5, unsigned headers (some duplicated)."""
    if clean:
        return (("content-type", "application/json"),) if rng.randrange(2) else ()
    headers: list[tuple[str, str]] = []
    content_type = rng.choice(CONTENT_TYPES)
    if content_type is not None:
        headers.append(("content-type", content_type))
    if rng.randrange(10) == 0:
        headers.append(("content-md5", rng.choice(["", "bm90IGFuIG1kNQ==", "%%%"])))
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        name = rng.choice(["accept", "x-fuzz", "user-agent", "expect"])
        value = "".join(rng.choice(_ASCII) for _ in range(rng.randint(0, 30))).strip()
        headers.append((name, value))
        if rng.randrange(3) == 0:
            headers.append((name, value[::-1].strip()))  # the same unsigned header twice
    return tuple(headers)


class Schedule:
    """The slots in turn, the random parts from ``random.Random(seed)``."""

    def __init__(self, seed: int, socket_share: float = 0.1) -> None:
        self.routes = routed()
        self.slots: tuple[str, ...] = tuple(r.label for r in self.routes) + OFF_TABLE
        self._by_label = {r.label: r for r in self.routes}
        self._admin = [r for r in self.routes if r.family == "admin" and r.path != DESCRIBE_PATH]
        self._rng = random.Random(seed)
        self._socket_share = socket_share

    def case(self, index: int) -> Case:
        """Request number ``index`` (call with 0, 1, 2...: the draws run in order)."""
        rng = self._rng
        slot = self.slots[index % len(self.slots)]
        route = self._by_label.get(slot)
        clean = route is not None and (index // len(self.slots)) % CLEAN_EVERY == 0
        over_socket = rng.random() < self._socket_share
        canonical = True
        if clean:
            assert route is not None
            state = CLEAN_STATE.get(slot, "Running")
            over_socket = over_socket and state == "Running" and route.family == "admin"
            method = route.method
            path, pairs, body = _routed_request(rng, route, clean=True)
            auth = rng.choice(["hashed", "hashed", "unsigned"])
        else:
            state = "Running" if over_socket else rng.choice(["Running"] * 6 + list(STATES))
            if route is not None:
                method = route.method
                path, pairs, body = _routed_request(rng, route, clean=False)
            else:
                method, path, pairs, body = _off_table_request(rng, slot, self._admin)
            if rng.randrange(8) == 0:
                pairs.append((unicode_text(rng), rng.choice([None, unicode_text(rng)])))
            auth = rng.choice(["hashed"] * 40 + ["unsigned"] * 9 + ["none"])
            canonical = rng.randrange(25) != 0
        query = encode_query(pairs)
        if not canonical:  # percent-garbage the signature layer may refuse first
            garbage = [rng.choice(GARBAGE_QUERY) for _ in range(rng.randint(1, 3))]
            query = "&".join(part for part in [query, *garbage] if part)
        ascii_json = rng.choice([True, False])
        headers = _headers(rng, clean)
        return Case(
            slot, clean, over_socket, state, method, path, query, canonical, headers, body,
            ascii_json, auth,
        )  # fmt: skip
