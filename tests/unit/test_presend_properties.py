"""Client pre-send checks as properties: bad input is refused at its field, good input is sent.

Each property generates values on both sides of every edge of one rule (key ids, deletion
windows 7–30, descriptions, tags, key specs, encryption contexts, list paging, ciphertexts,
backup ids, restore confirmations, bucket names, bucket encryption, backend configs). The
expected verdict comes from an oracle written from the reference's rules, not from the client.
An input the oracle calls invalid must raise ``ValueError`` whose message starts with the name
of an offending field, and the loopback server's request count must not move; an input it
calls valid must reach the server exactly once, whatever the server then answers.
"""

from __future__ import annotations

import asyncio
import string
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.backends import (
    BackendConfig,
    LocalConfig,
    VaultAppRoleAuth,
    VaultAuth,
    VaultKv2Config,
    VaultTokenAuth,
    VaultTransitConfig,
)
from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.api.errors import KmsError
from tests.fakes.rustfs import FakeRustFS

EXAMPLES = 120
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- the oracle: the reference's rules, restated ---------------------------------------------

SPECS = ("Aes256", "Aes128", "ChaCha20")
POLICIES = ("fail", "restore-into-empty-target")
BACKUP_ID_CHARS = frozenset(string.ascii_letters + string.digits + "._-")


def key_id_ok(value: object) -> bool:
    """Local key ids: non-empty, not ``.``/``..``, no ``/``, ``\\`` or NUL (reference 6.9)."""
    return (
        isinstance(value, str)
        and value not in ("", ".", "..")
        and not any(bad in value for bad in ("/", "\\", "\x00"))
    )


def window_ok(value: object) -> bool:
    """``pending_window_in_days``: a whole number from 7 to 30."""
    return type(value) is int and 7 <= value <= 30


def string_map_ok(value: object) -> bool:
    """Tags and encryption contexts: string keys to string values."""
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def whole(value: object, minimum: int) -> bool:
    """An int (never a bool) of at least ``minimum``."""
    return type(value) is int and value >= minimum


def backup_id_ok(value: object) -> bool:
    """Backup ids: 1–128 of letters, digits, ``._-``, not starting with ``.``."""
    return (
        isinstance(value, str)
        and 1 <= len(value) <= 128
        and not value.startswith(".")
        and set(value) <= BACKUP_ID_CHARS
    )


def bucket_name_ok(value: object) -> bool:
    """S3 bucket naming rules."""
    if not isinstance(value, str) or not 3 <= len(value) <= 63:
        return False
    if set(value) - set(string.ascii_lowercase + string.digits + ".-"):
        return False
    parts = value.split(".")
    looks_like_ip = len(parts) == 4 and all(part.isdigit() for part in parts)
    return (
        value[0] not in ".-"
        and value[-1] not in ".-"
        and ".." not in value
        and not looks_like_ip
        and not value.startswith("xn--")
        and not value.endswith("-s3alias")
    )


# --- strategies around each rule's edges ------------------------------------------------------

not_a_string = st.sampled_from([None, 0, 7, 1.5, True, b"bytes", ["list"], {"k": "v"}])
key_ids = st.one_of(
    st.sampled_from(["", ".", "..", "...", ".a", "a.", "/", "a/b", "\\", "a\\b", "\x00", "k\x00"]),
    st.text(alphabet="ab.-_/\\\x00 é", max_size=6),
    st.text(max_size=24),
    not_a_string,
)
windows = st.one_of(
    st.integers(min_value=0, max_value=40),
    st.integers(),
    st.booleans(),
    st.floats(min_value=6.0, max_value=31.0),
    st.sampled_from(["7", "30", None, 30.0]),
)
short_text = st.text(max_size=12)
string_maps = st.one_of(
    st.dictionaries(short_text, short_text, max_size=3),
    st.dictionaries(st.one_of(short_text, st.integers()), short_text, max_size=3),
    st.dictionaries(short_text, st.one_of(short_text, st.integers(), st.none()), max_size=3),
    st.sampled_from([None, [("a", "b")], "a=b", 3]),
)
key_specs = st.one_of(
    st.sampled_from([*SPECS, "AES_256", "aes256", "AES256", "Aes512", "", "ChaCha", "Aes256 "]),
    st.text(max_size=8),
    not_a_string,
)
backup_ids = st.one_of(
    st.text(alphabet="aZ09._-/ ", min_size=0, max_size=6),
    st.integers(min_value=126, max_value=130).map(lambda n: "b" * n),
    st.sampled_from([".hidden", "-ok", "ok.", "a/b", "é"]),
    not_a_string,
)
bucket_names = st.one_of(
    st.text(alphabet="abz09.-_A é", max_size=66),
    st.from_regex(r"\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z"),
    st.sampled_from(["ab", "a" * 63, "a" * 64, "xn--abc", "data-s3alias", "10.0.0.1", "1.2.3"]),
    st.from_regex(r"\A[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z"),
)


# --- the servers and a probe that counts what reaches them ------------------------------------


class CountingS3:
    """A loopback HTTP server that answers 200 to anything and counts what it was sent."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with counter._lock:
                    counter.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_DELETE = do_POST = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CountingS3:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Outcome:
    """What one call did: the pre-send refusal (if any) and how many requests went out."""

    refusal: ValueError | None
    sent: int


class Probe:
    """Runs client calls on one event loop and counts the requests each one sent."""

    def __init__(
        self,
        runner: asyncio.Runner,
        admin: KmsAdminClient,
        buckets: BucketEncryptionClient,
        fake: FakeRustFS,
        s3: CountingS3,
    ) -> None:
        self.runner = runner
        self.admin = admin
        self.buckets = buckets
        self.fake = fake
        self.s3 = s3

    def _run(self, call: Awaitable[object], count: Callable[[], int]) -> Outcome:
        async def attempt() -> Outcome:
            before = count()
            try:
                await call
            except ValueError as refusal:
                return Outcome(refusal, count() - before)
            except KmsError:
                pass  # the server answered with an error: the request did reach it
            return Outcome(None, count() - before)

        return self.runner.run(attempt())

    def admin_call(self, call: Callable[[KmsAdminClient], Awaitable[object]]) -> Outcome:
        return self._run(call(self.admin), lambda: len(self.fake.requests))

    def bucket_call(self, call: Callable[[BucketEncryptionClient], Awaitable[object]]) -> Outcome:
        return self._run(call(self.buckets), lambda: self.s3.count)


def check(outcome: Outcome, bad_fields: list[str]) -> None:
    """Refused at an offending field with nothing sent, or sent exactly once."""
    if bad_fields:
        assert outcome.refusal is not None, f"expected a refusal at {bad_fields}"
        message = str(outcome.refusal)
        assert any(
            message.startswith(name) and message[len(name) : len(name) + 1] in (" ", ":", "[")
            for name in bad_fields
        ), (message, bad_fields)
        assert outcome.sent == 0
    else:
        assert outcome.refusal is None, str(outcome.refusal)
        assert outcome.sent == 1


@pytest.fixture(scope="module")
def probe() -> Iterator[Probe]:
    with FakeRustFS() as fake, CountingS3() as s3, asyncio.Runner() as runner:
        fake.seed_running(("existing-key",))
        admin = KmsAdminClient(fake.url, fake.access_key, fake.secret_key, retries=0)
        buckets = BucketEncryptionClient(s3.url, "probe-access", "probe-secret", retries=0)
        try:
            yield Probe(runner, admin, buckets, fake, s3)
        finally:
            runner.run(admin.aclose())
            runner.run(buckets.aclose())


def bad(**verdicts: bool) -> list[str]:
    """The names whose verdict is False, in the order given."""
    return [name for name, ok in verdicts.items() if not ok]


# --- admin client properties ------------------------------------------------------------------

KEY_ID_METHODS: dict[str, Callable[[KmsAdminClient, Any], Awaitable[object]]] = {
    "describe": lambda c, k: c.describe_key(k),
    "cancel": lambda c, k: c.cancel_key_deletion(k),
    "enable": lambda c, k: c.enable_key(k),
    "disable": lambda c, k: c.disable_key(k),
    "rotate": lambda c, k: c.rotate_key(k),
    "delete-now": lambda c, k: c.delete_key_immediately(k),
    "generate": lambda c, k: c.generate_data_key(k),
}


@PROPERTY
@given(key_id=key_ids, method=st.sampled_from(sorted(KEY_ID_METHODS)))
def test_key_ids(probe: Probe, key_id: Any, method: str) -> None:
    outcome = probe.admin_call(lambda c: KEY_ID_METHODS[method](c, key_id))
    check(outcome, bad(key_id=key_id_ok(key_id)))


@PROPERTY
@given(key_id=key_ids, days=windows)
def test_deletion_window(probe: Probe, key_id: Any, days: Any) -> None:
    outcome = probe.admin_call(
        lambda c: c.schedule_key_deletion(key_id, pending_window_in_days=days)
    )
    check(outcome, bad(pending_window_in_days=window_ok(days), key_id=key_id_ok(key_id)))


@PROPERTY
@given(
    description=st.one_of(st.none(), st.text(max_size=40), not_a_string),
    tags=st.one_of(st.none(), string_maps),
    name=st.one_of(st.none(), key_ids),
)
def test_create_key(probe: Probe, description: Any, tags: Any, name: Any) -> None:
    outcome = probe.admin_call(
        lambda c: c.create_key(description=description, tags=tags, name=name)
    )
    tags_ok = tags is None or string_map_ok(tags)
    name_tag = tags.get("name") if tags_ok and tags else None
    if name is not None:
        name_ok = key_id_ok(name) and (name_tag is None or name_tag == name)
        tag_name_ok = True
    else:
        name_ok = True
        tag_name_ok = name_tag is None or key_id_ok(name_tag)
    expected = bad(
        description=description is None or isinstance(description, str),
        tags=tags_ok and tag_name_ok,
        name=name_ok,
    )
    if not tag_name_ok:
        expected.append("tags['name']")
    check(outcome, expected)


@PROPERTY
@given(key_id=key_ids, description=st.one_of(st.text(max_size=40), not_a_string))
def test_update_description(probe: Probe, key_id: Any, description: Any) -> None:
    outcome = probe.admin_call(lambda c: c.update_key_description(key_id, description))
    check(outcome, bad(description=isinstance(description, str), key_id=key_id_ok(key_id)))


@PROPERTY
@given(key_id=key_ids, tags=string_maps)
def test_tag_key(probe: Probe, key_id: Any, tags: Any) -> None:
    outcome = probe.admin_call(lambda c: c.tag_key(key_id, tags))
    tags_ok = string_map_ok(tags) and "name" not in tags
    check(outcome, bad(tags=tags_ok, key_id=key_id_ok(key_id)))


@PROPERTY
@given(
    key_id=key_ids,
    tag_keys=st.one_of(
        st.lists(st.one_of(short_text, st.just("name")), max_size=3),
        st.lists(st.one_of(short_text, st.integers(), st.none()), max_size=3),
        st.tuples(short_text),
        short_text,
        not_a_string,
    ),
)
def test_untag_key(probe: Probe, key_id: Any, tag_keys: Any) -> None:
    outcome = probe.admin_call(lambda c: c.untag_key(key_id, tag_keys))
    tag_keys_ok = (
        isinstance(tag_keys, Iterable)
        and not isinstance(tag_keys, str)
        and all(isinstance(item, str) for item in tag_keys)
        and "name" not in tag_keys
    )
    check(outcome, bad(tag_keys=tag_keys_ok, key_id=key_id_ok(key_id)))


@PROPERTY
@given(key_id=key_ids, spec=key_specs, context=st.one_of(st.none(), string_maps))
def test_generate_data_key(probe: Probe, key_id: Any, spec: Any, context: Any) -> None:
    outcome = probe.admin_call(
        lambda c: c.generate_data_key(key_id, key_spec=spec, encryption_context=context)
    )
    check(
        outcome,
        bad(
            key_id=key_id_ok(key_id),
            key_spec=isinstance(spec, str) and spec in SPECS,
            encryption_context=context is None or string_map_ok(context),
        ),
    )


@PROPERTY
@given(
    blob=st.one_of(st.binary(max_size=40), st.binary(max_size=4).map(bytearray), not_a_string),
    context=st.one_of(st.none(), string_maps),
)
def test_decrypt(probe: Probe, blob: Any, context: Any) -> None:
    outcome = probe.admin_call(lambda c: c.decrypt(blob, encryption_context=context))
    blob_ok = isinstance(blob, bytes | bytearray) and len(blob) > 0
    check(
        outcome,
        bad(
            ciphertext_blob=blob_ok,
            encryption_context=context is None or string_map_ok(context),
        ),
    )


@PROPERTY
@given(
    limit=st.one_of(st.none(), st.integers(min_value=-3, max_value=5), st.booleans(), not_a_string),
    marker=st.one_of(st.none(), short_text, not_a_string),
)
def test_list_keys(probe: Probe, limit: Any, marker: Any) -> None:
    outcome = probe.admin_call(lambda c: c.list_keys(limit=limit, marker=marker))
    check(
        outcome,
        bad(
            limit=limit is None or whole(limit, 0),
            marker=marker is None or isinstance(marker, str),
        ),
    )


@PROPERTY
@given(page_size=st.one_of(st.integers(min_value=-2, max_value=3), st.booleans(), not_a_string))
def test_iter_keys_page_size(probe: Probe, page_size: Any) -> None:
    async def first_page(client: KmsAdminClient) -> None:
        async for _page in client.iter_keys(page_size=page_size):
            break

    check(probe.admin_call(first_page), bad(page_size=whole(page_size, 1)))


@PROPERTY
@given(backup_id=st.one_of(st.none(), backup_ids))
def test_create_backup(probe: Probe, backup_id: Any) -> None:
    outcome = probe.admin_call(lambda c: c.create_backup(backup_id))
    check(outcome, bad(backup_id=backup_id is None or backup_id_ok(backup_id)))


@PROPERTY
@given(
    bundle=st.one_of(st.sampled_from(["", "b-1"]), short_text, not_a_string),
    generation=st.one_of(st.none(), st.integers(min_value=-2, max_value=3), st.booleans()),
    confirm=st.one_of(st.sampled_from(["", "b-1"]), not_a_string),
    policy=st.one_of(st.sampled_from([*POLICIES, "Fail", "", "restore"]), not_a_string),
)
def test_restore(probe: Probe, bundle: Any, generation: Any, confirm: Any, policy: Any) -> None:
    outcome = probe.admin_call(
        lambda c: c.restore(
            bundle,
            confirm_backup_id=confirm,
            confirm_conflict_policy=policy,
            observed_generation=generation,
        )
    )
    check(
        outcome,
        bad(
            bundle=isinstance(bundle, str) and bundle != "",
            observed_generation=generation is None or whole(generation, 0),
            confirm_backup_id=isinstance(confirm, str) and confirm != "",
            confirm_conflict_policy=isinstance(policy, str) and policy in POLICIES,
        ),
    )


@PROPERTY
@given(
    bundle=st.one_of(st.sampled_from(["", "b-1"]), not_a_string),
    generation=st.one_of(st.none(), st.integers(min_value=-2, max_value=3), st.booleans()),
    key_dir=st.one_of(st.sampled_from(["", "/var/lib/kms"]), not_a_string),
)
def test_restore_dry_run_and_abort(
    probe: Probe, bundle: Any, generation: Any, key_dir: Any
) -> None:
    dry_run = probe.admin_call(lambda c: c.restore_dry_run(bundle, observed_generation=generation))
    check(
        dry_run,
        bad(
            bundle=isinstance(bundle, str) and bundle != "",
            observed_generation=generation is None or whole(generation, 0),
        ),
    )
    abort = probe.admin_call(lambda c: c.abort_restore(key_dir))
    check(abort, bad(confirm_target_key_dir=isinstance(key_dir, str) and key_dir != ""))


# --- bucket client properties -----------------------------------------------------------------

BUCKET_METHODS: dict[str, Callable[[BucketEncryptionClient, str], Awaitable[object]]] = {
    "create": lambda c, b: c.create_bucket(b),
    "get": lambda c, b: c.get_bucket_encryption(b),
    "delete": lambda c, b: c.delete_bucket_encryption(b),
    "put": lambda c, b: c.put_bucket_encryption(b, algorithm="AES256"),
}


@PROPERTY
@given(name=bucket_names, method=st.sampled_from(sorted(BUCKET_METHODS)))
def test_bucket_names(probe: Probe, name: str, method: str) -> None:
    outcome = probe.bucket_call(lambda c: BUCKET_METHODS[method](c, name))
    check(outcome, bad(bucket=bucket_name_ok(name)))


@PROPERTY
@given(
    algorithm=st.sampled_from(["AES256", "aws:kms", "aws:kms:dsse", "aes256", "", "SSE-S3"]),
    kms_key_id=st.one_of(st.none(), st.sampled_from(["", " ", "key-1", "arn:aws:kms:k"])),
)
def test_bucket_encryption(probe: Probe, algorithm: str, kms_key_id: str | None) -> None:
    outcome = probe.bucket_call(
        lambda c: c.put_bucket_encryption("bucket-1", algorithm=algorithm, kms_key_id=kms_key_id)
    )
    algorithm_ok = algorithm in ("AES256", "aws:kms")
    key_ok = kms_key_id is None or (algorithm == "aws:kms" and kms_key_id.strip() != "")
    expected = bad(algorithm=algorithm_ok)
    if algorithm_ok and not key_ok:
        expected.append("kms_key_id")
    check(outcome, expected)


# --- backend configs: validate() is the pre-send check of the configure form -----------------

TEMP_DIRS = tuple(dict.fromkeys(("/tmp", tempfile.gettempdir())))
key_dirs = st.sampled_from(
    ["", "  ", "relative/keys", "/var/lib/rustfs/kms", "/tmp", "/tmp/keys", "/tmpfoo/keys"]
    + [f"{directory}/kms" for directory in TEMP_DIRS]
)
optional_counts = st.one_of(st.none(), st.integers(min_value=-1, max_value=2), st.just(True))
secrets_text = st.one_of(st.none(), st.sampled_from(["", "   ", "s3cr3t-passphrase", "dev-token"]))


@st.composite
def common_options(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "default_key_id": draw(st.one_of(st.none(), st.sampled_from(["", " ", "default-key"]))),
        "timeout_seconds": draw(optional_counts),
        "retry_attempts": draw(optional_counts),
        "enable_cache": draw(st.one_of(st.none(), st.booleans())),
        "max_cached_keys": draw(optional_counts),
        "cache_ttl_seconds": draw(optional_counts),
        "allow_insecure_dev_defaults": draw(st.booleans()),
    }


def blank(value: str | None) -> bool:
    return value is None or value.strip() == ""


def positive_or_unset(value: object) -> bool:
    return value is None or whole(value, 1)


def common_problems(options: Mapping[str, Any]) -> set[str]:
    """Reference 8.1: counts must be > 0; cache sizes only matter while the cache is on."""
    fields = set()
    if options["default_key_id"] is not None and blank(options["default_key_id"]):
        fields.add("default_key_id")
    for name in ("timeout_seconds", "retry_attempts"):
        if not positive_or_unset(options[name]):
            fields.add(name)
    if options["enable_cache"] is not False:
        for name in ("max_cached_keys", "cache_ttl_seconds"):
            if not positive_or_unset(options[name]):
                fields.add(name)
    return fields


@st.composite
def local_configs(draw: st.DrawFn) -> tuple[LocalConfig, set[str], bool]:
    options = draw(common_options())
    key_dir = draw(key_dirs)
    master_key = draw(secrets_text)
    mode = draw(st.one_of(st.none(), st.sampled_from([0, 0o600, 0o777, 0o1000, -1, 384])))
    reconfigure = draw(st.booleans())
    config = LocalConfig(key_dir=key_dir, master_key=master_key, file_permissions=mode, **options)
    dev = options["allow_insecure_dev_defaults"]
    fields = common_problems(options)
    under_temp = any(key_dir == d or key_dir.startswith(d + "/") for d in TEMP_DIRS)
    if blank(key_dir) or not key_dir.startswith("/") or (under_temp and not dev):
        fields.add("key_dir")
    if not dev and not reconfigure and blank(master_key):
        fields.add("master_key")
    if mode is not None and not 0 <= mode <= 0o777:
        fields.add("file_permissions")
    return config, fields, reconfigure


@st.composite
def vault_configs(draw: st.DrawFn) -> tuple[BackendConfig, set[str], bool]:
    options = draw(common_options())
    dev = options["allow_insecure_dev_defaults"]
    reconfigure = draw(st.booleans())
    address = draw(
        st.sampled_from(["", "vault:8200", "http://vault:8200", "https://vault:8200", "ftp://v"])
    )
    skip_tls = draw(st.one_of(st.none(), st.booleans()))
    fields = common_problems(options)
    auth: VaultAuth
    if draw(st.booleans()):
        token = draw(st.sampled_from(["", " ", "dev-token", " dev-token ", "s.hvs-token"]))
        auth = VaultTokenAuth(token)
        if blank(token) and not reconfigure:
            fields.add("auth_method.token")
        if token.strip() == "dev-token" and not dev:
            fields.add("auth_method.token")
    else:
        role_id = draw(st.sampled_from(["", "role-1"]))
        secret_id = draw(secrets_text)
        secret_id_file = draw(st.one_of(st.none(), st.sampled_from(["", "relative", "/run/sid"])))
        auth = VaultAppRoleAuth(role_id, secret_id=secret_id, secret_id_file=secret_id_file)
        if blank(role_id):
            fields.add("auth_method.role_id")
        if blank(secret_id) and blank(secret_id_file):
            fields.add("auth_method.secret_id")
        if secret_id_file is not None and not secret_id_file.startswith("/"):
            fields.add("auth_method.secret_id_file")
    plain_http = address.startswith("http://")
    if not address.startswith(("http://", "https://")) or (plain_http and not dev):
        fields.add("address")
    if skip_tls and not dev:
        fields.add("skip_tls_verify")
    config: BackendConfig
    if draw(st.booleans()):
        kv_mount = draw(st.one_of(st.none(), st.sampled_from(["", "secret"])))
        config = VaultKv2Config(
            address=address,
            auth_method=auth,
            skip_tls_verify=skip_tls,
            kv_mount=kv_mount,
            **options,
        )
        if kv_mount is not None and blank(kv_mount):
            fields.add("kv_mount")
    else:
        mount_path = draw(st.one_of(st.none(), st.sampled_from(["", "transit"])))
        config = VaultTransitConfig(
            address=address,
            auth_method=auth,
            skip_tls_verify=skip_tls,
            mount_path=mount_path,
            **options,
        )
        if mount_path is not None and blank(mount_path):
            fields.add("mount_path")
    return config, fields, reconfigure


@PROPERTY
@given(case=st.one_of(local_configs(), vault_configs()))
def test_backend_configs(probe: Probe, case: tuple[BackendConfig, set[str], bool]) -> None:
    config, expected_fields, reconfigure = case
    problems = config.validate(reconfigure=reconfigure)
    assert {problem.field for problem in problems} == expected_fields
    assert all(problem.message.strip() for problem in problems)
    if expected_fields:
        return
    # Nothing stops a valid configuration: it goes out once, exactly as to_wire() says.
    before = len(probe.fake.requests)
    outcome = probe.admin_call(
        lambda c: c.reconfigure(config) if reconfigure else c.configure(config)
    )
    check(outcome, [])
    assert probe.fake.requests[before].json == config.to_wire()
