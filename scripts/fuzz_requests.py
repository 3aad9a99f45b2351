"""Hypothesis strategies for the route fuzz: admin and S3 requests of every shape.

Bodies come in the route's own shape (from its field list), that shape broken one way (a field
dropped, an unknown one added, one retyped, the document wrapped), or raw bytes: random, cut
short, nested 50,000 deep, non-UTF-8, numbers past any range, duplicate fields, past the 1 MiB
cap, XML with and without DOCTYPE. Text is drawn from all of Unicode, lone surrogates included.
Placeholders (``BLOB``, ``BACKUP``, ``KEY_DIR``) are filled at send time with a ciphertext or
backup id the server made and the sandbox key directory.

Choices that should be rare are sampled from lists rather than drawn as numbers: Hypothesis
favours 0 in a drawn number, which would make the rare branch the common one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from kms_tui.embedded.admin_routes import ROUTES
from scripts.fuzz_oracle import PREFIXES

MASTER_KEY = "fuzz master key passphrase"
STATES = ("NotConfigured", "Configured", "Running")
ODD_PREFIXES = ("/rustfs/admin/v4", "/rustfs/admin", "/minio/admin/v2", "/RUSTFS/admin/v3", "")
POOL_KEYS = ("fz-alpha", "fz-beta", "fz-gamma")
POOL_BUCKETS = ("fz-bucket", "fz-other")
ODD_BUCKETS = ("no-such-bucket", "Bad_Name", "a", "x" * 70, "xn--punycode", "192.168.1.1", "b..c")
ODD_IDS = ("", ".", "..", "a/b", "a\\b", "nul\x00x", "ключ", "🔑", "x" * 300, "name", "%2F", " s ",
           "lone\ud800", "\udfff")  # fmt: skip
BLOB, BACKUP, KEY_DIR = "\x00blob\x00", "\x00backup\x00", "\x00key-dir\x00"
_WHOLE_UNICODE = st.characters(exclude_categories=())  # surrogates and controls included


unicode_text = st.text(_WHOLE_UNICODE, max_size=24)
key_ids = st.one_of(
    st.sampled_from(POOL_KEYS), st.sampled_from(POOL_KEYS), st.sampled_from(ODD_IDS), unicode_text
)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**32, 2**64, -1, 0, 7, 30, 31]),
    st.floats(allow_nan=False),
    unicode_text,
    key_ids,
)
json_any = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(unicode_text, inner, max_size=4)
    ),
    max_leaves=10,
)
string_maps = st.dictionaries(
    st.one_of(st.sampled_from(["team", "env", "name"]), unicode_text),
    st.one_of(unicode_text, key_ids),
    max_size=4,
)
descriptions = st.one_of(unicode_text, st.none(), st.integers(1, 300_000).map(lambda n: "d" * n))
windows = st.one_of(st.integers(0, 40), st.sampled_from([2**32, -1, 7, 30, 2**64]))
backup_ids = st.one_of(
    st.just(BACKUP), st.sampled_from(["fz-backup", "../x", ".h", "a" * 200]), unicode_text
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "key_id": key_ids,
    "confirm_key_id": key_ids,
    "description": descriptions,
    "tags": string_maps,
    "encryption_context": string_maps,
    "tag_keys": st.lists(st.one_of(st.sampled_from(["team", "name"]), unicode_text), max_size=4),
    "key_usage": st.sampled_from(["EncryptDecrypt", "SignVerify", "ENCRYPT_DECRYPT", ""]),
    "key_spec": st.sampled_from(["Aes256", "Aes128", "ChaCha20", "AES_256", "aes256"]),
    "pending_window_in_days": windows,
    "force_immediate": st.booleans(),
    "force": st.booleans(),
    "ciphertext_blob": st.one_of(
        st.just(BLOB),
        st.just(BLOB),
        unicode_text,
        st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    ),
    "backup_id": backup_ids,
    "bundle": backup_ids,
    "confirm_backup_id": backup_ids,
    "observed_generation": st.one_of(st.integers(-5, 2**65), st.none()),
    "confirm_conflict_policy": st.sampled_from(["fail", "restore-into-empty-target", "x"]),
    "confirm_target_key_dir": st.one_of(st.just(KEY_DIR), unicode_text),
}
CONFIG_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "backend_type": st.sampled_from(
        ["Local", "local", "VaultKV2", "vault-transit", "AWS", "Static", "bogus"]
    ),
    "key_dir": st.just(KEY_DIR),
    "master_key": st.sampled_from([MASTER_KEY, "", "other", None]),
    "allow_insecure_dev_defaults": st.sampled_from([True, True, False]),
    "file_permissions": st.sampled_from([384, 416, 511, 0, 4096, 420]),
    "default_key_id": st.one_of(st.sampled_from(POOL_KEYS), st.none()),
    "enable_cache": st.booleans(),
    "max_cached_keys": st.sampled_from([0, 1, 5, 2**64]),
    "cache_ttl_seconds": st.sampled_from([0, 1, 300, 10**6]),
    "timeout_seconds": st.sampled_from([0, 30, 999]),
    "retry_attempts": st.sampled_from([0, 3]),
    "address": st.sampled_from(["https://vault.invalid:8200", "http://127.0.0.1:1", "x"]),
    "auth_method": st.sampled_from(
        [
            {"Token": {"token": "t"}},
            {"Token": {"token": ""}},
            {"AppRole": {"role_id": "r"}},
            {"token": "x"},
        ]
    ),
    "region": st.sampled_from(["eu-central-1", ""]),
}
ROUTE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (required, optional)
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
for _route in ("cancel-deletion", "enable", "disable", "rotate"):
    ROUTE_FIELDS[f"/kms/keys/{_route}"] = (("key_id",), ())
QUERY_VALUES: dict[str, st.SearchStrategy[str]] = {
    "limit": st.sampled_from(["0", "1", "2", "1000", "5000", "-1", "abc", "", "99999999999", "²"]),
    "marker": key_ids,
    "keyId": key_ids,
    "key-id": key_ids,
    "key": key_ids,
    "status": st.sampled_from(["Active", "PENDING_DELETION", "pending-deletion", "x", ""]),
    "usage": st.sampled_from(["EncryptDecrypt", "ENCRYPT_DECRYPT", "y"]),
    "impact": st.sampled_from(["true", "false", "TRUE", "1", ""]),
    "pending_window_in_days": st.sampled_from(["7", "30", "3", "x", "99999999999"]),
    "force_immediate": st.sampled_from(["true", "false"]),
    "confirm_key_id": key_ids,
}
CONTENT_TYPES = (
    None,
    "application/json",
    "application/xml",
    "text/plain",
    "",
    "application/json; charset=utf-16",
    "multipart/form-data; boundary=",
    ";;;",
)
ROUTE_GROUPS = {
    "keys": [
        r for r in sorted(ROUTES) if r[1].startswith(("/kms/keys", "/kms/generate", "/kms/decrypt"))
    ],
    "control": [
        r
        for r in sorted(ROUTES)
        if r[1]
        in (
            "/kms/configure",
            "/kms/reconfigure",
            "/kms/start",
            "/kms/stop",
            "/kms/service-status",
            "/kms/status",
            "/kms/config",
            "/kms/clear-cache",
        )
    ],
    "legacy": [
        r
        for r in sorted(ROUTES)
        if r[1]
        in (
            "/kms/create-key",
            "/kms/key/create",
            "/kms/describe-key",
            "/kms/key/status",
            "/kms/list-keys",
        )
    ],
    "backup": [r for r in sorted(ROUTES) if r[1].startswith(("/kms/backup", "/kms/restore"))],
}


@dataclass(frozen=True)
class Case:
    """One request to send: where, in which service state, and its parts before signing."""

    over_socket: bool
    state: str
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: Any  # bytes, or a JSON value still holding placeholders
    json_ascii: bool
    auth: str  # hashed | unsigned (UNSIGNED-PAYLOAD) | none


@st.composite
def json_bodies(draw: st.DrawFn, route: str) -> Any:
    """A body of the route's own shape, or that shape broken in one way."""
    strategies = FIELDS
    document: dict[str, Any] = {}
    required, optional = ROUTE_FIELDS.get(route, ((), ()))
    if route in ("/kms/configure", "/kms/reconfigure"):
        backend = draw(st.sampled_from(["Local"] * 6 + sorted(BACKEND_FIELDS)))
        strategies, document = CONFIG_FIELDS, {"backend_type": backend}
        required, optional = BACKEND_FIELDS[backend]
    document.update({name: draw(strategies[name]) for name in required})
    for name in optional:
        if draw(st.booleans()):
            document[name] = draw(strategies[name])
    mutation = draw(st.sampled_from(["none", "none", "none", "drop", "unknown", "retype", "wrap"]))
    if mutation == "drop" and document:
        document.pop(draw(st.sampled_from(sorted(document))))
    elif mutation == "unknown":
        document[draw(unicode_text)] = draw(json_any)
    elif mutation == "retype" and document:
        document[draw(st.sampled_from(sorted(document)))] = draw(json_any)
    elif mutation == "wrap":
        return draw(st.sampled_from([[document], "text", 12, None]))
    return document


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes no well-behaved client sends."""
    kind = draw(
        st.sampled_from(
            [
                "empty",
                "bytes",
                "truncated",
                "deep",
                "non_utf8",
                "huge_number",
                "duplicate",
                "oversize",
                "xml",
            ]
        )
    )
    if kind == "empty":
        return draw(st.sampled_from([b"", b" ", b"{}", b"null", b"[]", b"\n"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "truncated":
        whole = json.dumps(draw(json_any)).encode()
        return whole[: draw(st.integers(0, max(len(whole) - 1, 0)))]
    if kind == "deep":
        depth = draw(st.integers(50, 50_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return (opener * depth + "1" + closer * depth).encode()
    if kind == "non_utf8":
        return (
            b'{"key_id": "' + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])) + b'"}'
        )
    if kind == "huge_number":
        number = draw(st.sampled_from(["1" * 5000, "1e999", "-" + "9" * 40, "1.5e308"]))
        return f'{{"pending_window_in_days": {number}, "key_id": "fz-alpha"}}'.encode()
    if kind == "duplicate":
        return b'{"key_id": "fz-alpha", "key_id": "fz-beta", "tags": {"a": "1", "a": "2"}}'
    if kind == "oversize":
        return b'{"description": "' + b"x" * ((1 << 20) + 10) + b'"}'
    return draw(xml_bodies())


@st.composite
def xml_bodies(draw: st.DrawFn) -> bytes:
    """Bucket-encryption and create-bucket XML, well formed or not."""
    algorithm = draw(st.sampled_from(["AES256", "aws:kms", "aws:kms", "bogus", ""]))
    named = draw(st.sampled_from([algorithm == "aws:kms"] * 4 + [algorithm != "aws:kms"]))
    key = f"<KMSMasterKeyID>{draw(key_ids)}</KMSMasterKeyID>" if named else ""
    root = draw(
        st.sampled_from(["ServerSideEncryptionConfiguration"] * 3 + ["CreateBucketConfiguration"])
    )
    xml = (
        f'<{root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
        f"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm>{key}"
        f"</ApplyServerSideEncryptionByDefault></Rule></{root}>"
    )
    encoded = xml.encode("utf-8", "surrogatepass")
    shape = draw(st.sampled_from(["whole"] * 6 + ["cut", "doctype"]))
    if shape == "cut":
        return encoded[: draw(st.integers(1, len(encoded)))]
    if shape == "doctype":
        return b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + encoded
    return encoded


def _encode_query(pairs: list[tuple[str, str | None]]) -> str:
    """Percent-encode as SigV4 canonicalises (lone surrogates go out as their raw bytes)."""

    def enc(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="-_.~")

    # A bare "&&" or trailing "&" is no parameter at all; signers and servers disagree on it.
    return "&".join(
        enc(n) if v is None else f"{enc(n)}={enc(v)}" for n, v in pairs if n or v is not None
    )


def _one_in(draw: st.DrawFn, times: int) -> bool:
    """True about once in ``times`` (sampled: Hypothesis would favour 0 in a drawn number)."""
    return bool(draw(st.sampled_from([False] * (times - 1) + [True])))


@st.composite
def admin_requests(draw: st.DrawFn) -> tuple[str, str, list[tuple[str, str | None]], Any]:
    """(method, path, query pairs, body) for the admin catalogue, sometimes bent out of shape."""
    group = draw(st.sampled_from(["keys"] * 5 + ["control", "legacy", "legacy", "backup"]))
    method, route = draw(st.sampled_from(ROUTE_GROUPS[group]))
    shape = draw(st.sampled_from(["catalogue"] * 16 + ["method", "describe", "describe", "odd"]))
    if shape == "method":
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]))
    elif shape == "describe":
        method, route = "GET", "/kms/keys/" + _encode_query([(draw(key_ids), None)])
    elif shape == "odd":
        odd = [route + "/", route + "/extra", route.upper(), "//kms", route + "/%zz", "/kms/a/b"]
        route = draw(st.sampled_from(odd))
    prefix = draw(st.sampled_from(PREFIXES * 40 + ODD_PREFIXES))
    pairs: list[tuple[str, str | None]] = [
        (name, draw(QUERY_VALUES[name]))
        for name in draw(st.lists(st.sampled_from(sorted(QUERY_VALUES)), max_size=3))
    ]
    body = draw(st.one_of(json_bodies(route), json_bodies(route), raw_bodies()))
    return method, prefix + route, pairs, body


@st.composite
def s3_requests(draw: st.DrawFn) -> tuple[str, str, list[tuple[str, str | None]], Any]:
    """(method, path, query pairs, body) for buckets and their default encryption."""
    method = draw(st.sampled_from(["PUT", "GET", "PUT", "DELETE", "HEAD", "POST"]))
    bucket = draw(st.sampled_from(POOL_BUCKETS * 6 + ODD_BUCKETS + ("fz-new",)))
    if _one_in(draw, 8):
        bucket = draw(unicode_text)
    where = draw(st.sampled_from(["bucket"] * 8 + ["root", "object"]))
    path = "/" if where == "root" else "/" + _encode_query([(bucket, None)])
    if where == "object":
        path += "/" + _encode_query([(draw(unicode_text) or "object", None)])
    pairs: list[tuple[str, str | None]] = []
    sub = draw(st.sampled_from(["encryption"] * 5 + [None] * 3 + ["acl", "x-id"]))
    if sub is not None:
        pairs.append((sub, draw(st.sampled_from([None, "", "PutObject"]))))
    body = draw(st.one_of(xml_bodies(), xml_bodies(), raw_bodies()))
    return method, path, pairs, body


@st.composite
def cases(draw: st.DrawFn, socket_share: float) -> Case:
    """One request: the admin catalogue (three in four) or the S3 subset, with odd headers."""
    share = round(socket_share * 100)
    over_socket = draw(st.sampled_from([False] * (100 - share) + [True] * share))
    state = "Running" if over_socket else draw(st.sampled_from(["Running"] * 6 + list(STATES)))
    requests = s3_requests() if _one_in(draw, 4) else admin_requests()
    method, path, pairs, body = draw(requests)
    if _one_in(draw, 8):
        pairs.append((draw(unicode_text), draw(st.one_of(st.none(), unicode_text))))
    headers: list[tuple[str, str]] = []
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        headers.append(("content-type", content_type))
    if _one_in(draw, 10):
        headers.append(("content-md5", draw(st.sampled_from(["", "bm90IGFuIG1kNQ==", "%%%"]))))
    printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
    for name in draw(
        st.lists(st.sampled_from(["accept", "x-fuzz", "user-agent", "expect"]), max_size=3)
    ):
        headers.append((name, draw(printable).strip()))
    auth = draw(st.sampled_from(["hashed"] * 40 + ["unsigned"] * 9 + ["none"]))
    query = _encode_query(pairs)
    ascii_json = draw(st.booleans())
    return Case(over_socket, state, method, path, query, tuple(headers), body, ascii_json, auth)
