"""The console forms' rules as properties: bad input is refused at its field, good input passes.

Every rule function is fed generated text on both sides of each edge. The expected verdict comes
from an oracle restated here from the rules (the reference, S3's naming rules, the console's
limits), not from the implementation. Whatever a form accepts must also pass the client's
pre-send checks (the client sends it to a loopback fake without raising ``ValueError``) and,
where the embedded server has pure validators, the server's own checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import string
import unicodedata
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.backends import BackendConfig
from kms_tui.api.buckets import SSE_KMS, SSE_S3, BucketEncryptionClient, validate_bucket_name
from kms_tui.api.errors import KmsError
from kms_tui.api.service_models import ConfigSummary
from kms_tui.api.wire import KeySpec
from kms_tui.embedded.buckets import is_valid_bucket_name
from kms_tui.embedded.config import (
    KmsConfig,
    normalize_against,
    parse_configure_document,
    validate_config,
)
from kms_tui.embedded.keyrecord import validate_key_id as server_validate_key_id
from kms_tui.tui.dialogs.configure_rules import build_config, frozen_local_dev_flag
from kms_tui.tui.dialogs.edit_key import KeyEdits
from kms_tui.tui.dialogs.form_rules import (
    MAX_DESCRIPTION_CHARS,
    MAX_KEY_NAME_CHARS,
    MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS,
    MAX_TAGS,
    bucket_name_rules,
    context_rule,
    create_key_rules,
    data_key_rules,
    edit_key_rules,
    encryption_rules,
    schedule_deletion_rules,
    window_rule,
)
from kms_tui.tui.formatting import FieldError
from tests.fakes.rustfs import FakeRustFS, RecordedRequest

MANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- the oracle --------------------------------------------------------------------------------


def shows_as_typed(text: str) -> bool:
    """No control, format, private-use, unassigned, line or paragraph separator characters."""
    return all(
        unicodedata.category(char)[0] != "C" and unicodedata.category(char) not in ("Zl", "Zp")
        for char in text
    )


def oracle_key_name(text: str) -> bool:
    """The reference's safe id alphabet (§2: ``[A-Za-z0-9._-]``), not '.'/'..', 200 at most."""
    return (
        re.fullmatch(r"[A-Za-z0-9._-]+", text) is not None
        and text not in (".", "..")
        and len(text) <= MAX_KEY_NAME_CHARS
    )


def oracle_window(text: str) -> bool:
    """The reference: a whole number of days, 7..=30 (typed with ASCII digits)."""
    digits = text.strip()
    significant = digits.lstrip("0")
    return (
        digits.isascii()
        and digits.isdigit()
        and len(significant) <= 2
        and 7 <= int(significant or "0") <= 30
    )


# --- strategies --------------------------------------------------------------------------------

VISIBLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
PAIR_CHAR = st.characters(
    exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"), exclude_characters=",="
)


def trimmed(alphabet: st.SearchStrategy[str], min_size: int, max_size: int) -> Any:
    return (
        st.text(alphabet, min_size=min_size, max_size=max_size)
        .map(str.strip)
        .filter(lambda s: len(s) >= min_size)
    )


TAG_KEYS = trimmed(PAIR_CHAR, 1, 16).filter(lambda key: key != "name")
TAG_VALUES = trimmed(
    st.characters(
        exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"), exclude_characters=","
    ),
    0,
    16,
)
TAGS = st.dictionaries(TAG_KEYS, TAG_VALUES, max_size=6)
KEY_NAMES = st.from_regex(r"\A[A-Za-z0-9._-]{1,40}\Z").filter(lambda s: s not in (".", ".."))
DESCRIPTIONS = st.text(VISIBLE, max_size=60)


@st.composite
def rendered_pairs(draw: st.DrawFn, pairs: st.SearchStrategy[dict[str, str]] = TAGS) -> Any:
    """``(text, pairs)``: pairs written the way people type them (spaces, no spaces)."""
    chosen = draw(pairs)
    parts = []
    for key, value in chosen.items():
        left, right = draw(st.sampled_from(["", " "])), draw(st.sampled_from(["", " "]))
        parts.append(f"{left}{key}{right}={right}{value}{left}")
    separator = draw(st.sampled_from([",", ", ", " , "]))
    return separator.join(parts), chosen


# Each entry breaks the tags field in one way; the form must say so at "tags".
BAD_TAGS = [
    "team",  # no '='
    "=prod",  # empty key
    "team=a, team=b",  # duplicate key
    "team=a,,env=b",  # empty pair
    "team=a,",  # trailing comma
    "name=my-key",  # the name belongs in its own field
    "k" * (MAX_TAG_KEY_CHARS + 1) + "=v",  # over-long key
    "k=" + "v" * (MAX_TAG_VALUE_CHARS + 1),  # over-long value
    "k=a\x07b",  # control character in a value
    "k\x1bx=v",  # escape character in a key
    "k=\u202eevil",  # right-to-left override
    ", ".join(f"t{n}=v" for n in range(MAX_TAGS + 1)),  # too many
]


# --- the client side: a loopback fake that records what was sent -------------------------------


@dataclass
class Wire:
    """A running fake RustFS, an event loop and clients pointed at it."""

    fake: FakeRustFS
    runner: asyncio.Runner
    admin: KmsAdminClient
    buckets: BucketEncryptionClient

    def send(self, call: Coroutine[Any, Any, Any]) -> RecordedRequest:
        """Run one client call; it must not refuse (ValueError) and must reach the fake."""
        before = len(self.fake.requests)
        with contextlib.suppress(KmsError):  # the fake's answer does not matter
            self.runner.run(call)
        assert len(self.fake.requests) > before, "the client sent nothing"
        return self.fake.requests[-1]


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    with FakeRustFS() as fake, asyncio.Runner() as runner:
        admin = KmsAdminClient(fake.url, fake.access_key, fake.secret_key, retries=0)
        buckets = BucketEncryptionClient(fake.url, fake.access_key, fake.secret_key, retries=0)
        try:
            yield Wire(fake, runner, admin, buckets)
        finally:
            runner.run(admin.aclose())
            runner.run(buckets.aclose())


# --- key names, descriptions, tags -------------------------------------------------------------


@MANY
@given(st.one_of(st.text(max_size=12), st.text(VISIBLE, max_size=70), KEY_NAMES))
@example("")
@example(".")
@example("..")
@example("a/b")
@example("a\\b")
@example("a\x00b")
@example(" padded")
@example("tab\there")
@example("é")
@example("a" * MAX_KEY_NAME_CHARS)
@example("a" * (MAX_KEY_NAME_CHARS + 1))
@example("zero\u200bwidth")
@example("percent%41")
@example("...")
def test_name_field_accepts_exactly_the_names_the_server_can_store(name: str) -> None:
    check = create_key_rules("", "", name)
    if name == "":
        assert check.ok and check.value is not None and check.value.name is None
        return
    assert check.ok == oracle_key_name(name), check.problems
    if check.ok:
        assert check.value is not None and check.value.name == name
        server_validate_key_id(name)  # the embedded server takes it as an id...
        assert len(name.encode()) + len(".tmp-") + 36 <= 255  # ...and as a file name
    else:
        assert set(check.problems) == {"name"}


@MANY
@given(st.one_of(st.text(max_size=8), DESCRIPTIONS, st.integers(1000, 1100).map("d".__mul__)))
@example("tab\there")
@example("line\nbreak")
@example("x" * MAX_DESCRIPTION_CHARS)
@example("x" * (MAX_DESCRIPTION_CHARS + 1))
def test_description_field_accepts_visible_text_up_to_the_limit(description: str) -> None:
    check = create_key_rules(description, "", "")
    expected = shows_as_typed(description) and len(description) <= MAX_DESCRIPTION_CHARS
    assert check.ok == expected
    if expected:
        assert check.value is not None
        assert check.value.description == (description or None)
    else:
        assert set(check.problems) == {"description"}


@MANY
@given(rendered_pairs())
def test_tags_typed_in_any_spacing_read_back_as_the_pairs(
    typed: tuple[str, dict[str, str]],
) -> None:
    text, tags = typed
    check = create_key_rules("", text, "")
    assert check.ok, check.problems
    assert check.value is not None
    assert dict(check.value.tags) == tags
    assert check.value.tags_text == text  # reopens as typed


@pytest.mark.parametrize("text", BAD_TAGS)
def test_each_broken_tag_field_is_refused_at_the_tags_field(text: str) -> None:
    check = create_key_rules("fine", text, "fine-name")
    assert check.value is None
    assert set(check.problems) == {"tags"}
    assert check.problems["tags"]


@MANY
@given(rendered_pairs(), st.sampled_from(BAD_TAGS), st.booleans())
def test_one_bad_pair_anywhere_spoils_the_whole_tags_field(
    typed: tuple[str, dict[str, str]], bad: str, bad_first: bool
) -> None:
    text, tags = typed
    assume(not (bad.startswith("team=") and "team" in tags))
    joined = f"{bad}, {text}" if bad_first else f"{text}, {bad}"
    if not text:
        joined = bad
    check = create_key_rules("", joined, "")
    assert check.value is None and "tags" in check.problems


@SOME
@given(DESCRIPTIONS, rendered_pairs(), st.one_of(st.just(""), KEY_NAMES))
def test_what_create_accepts_the_client_sends_unchanged(
    wire: Wire, description: str, typed: tuple[str, dict[str, str]], name: str
) -> None:
    text, tags = typed
    check = create_key_rules(description, text, name)
    assert check.ok and check.value is not None
    request = check.value
    sent = wire.send(
        wire.admin.create_key(
            description=request.description, tags=dict(request.tags), name=request.name
        )
    )
    assert sent.method == "POST" and sent.path == "/kms/keys"
    expected_tags = dict(tags) | ({"name": name} if name else {})
    assert sent.json.get("tags", {}) == expected_tags
    assert sent.json.get("description") == (description or None)


# --- editing -----------------------------------------------------------------------------------


@SOME
@given(DESCRIPTIONS, rendered_pairs(), TAGS, DESCRIPTIONS)
def test_what_edit_accepts_the_client_sends_as_description_tag_and_untag_calls(
    wire: Wire,
    description: str,
    typed: tuple[str, dict[str, str]],
    current_tags: dict[str, str],
    current_description: str,
) -> None:
    text, tags = typed
    check = edit_key_rules(
        description, text, current_description=current_description, current_tags=current_tags
    )
    assert check.ok and check.value is not None
    edits = KeyEdits.between(current_description, {**current_tags, "name": "k"}, check.value)
    if edits.description is not None:
        sent = wire.send(wire.admin.update_key_description("k", edits.description))
        assert sent.json["description"] == description
    if edits.set_tags:
        sent = wire.send(wire.admin.tag_key("k", dict(edits.set_tags)))
        assert sent.json["tags"] == {k: v for k, v in tags.items() if current_tags.get(k) != v}
    if edits.removed_tags:
        sent = wire.send(wire.admin.untag_key("k", edits.removed_tags))
        assert set(sent.json["tag_keys"]) == set(current_tags) - set(tags)


def test_edit_holds_only_changed_values_to_the_limits() -> None:
    long_value = "v" * (MAX_TAG_VALUE_CHARS + 10)
    current = {"legacy": long_value}
    untouched = edit_key_rules(
        "new text", f"legacy={long_value}", current_description="old", current_tags=current
    )
    assert untouched.ok  # set by another tool before the console's limits; left alone
    changed = edit_key_rules(
        "old", f"legacy={long_value}x", current_description="old", current_tags=current
    )
    assert set(changed.problems) == {"tags"}
    refused = edit_key_rules("bell\x07", "", current_description="old")
    assert set(refused.problems) == {"description"}
    renamed = edit_key_rules("old", "name=other", current_description="old")
    assert "cannot be changed" in renamed.problems["tags"]


# --- deletion window and confirmation ----------------------------------------------------------


@MANY
@given(
    st.one_of(
        st.integers(-3, 40).map(str),
        st.text(max_size=5),
        st.text(string.digits + " .+-e", max_size=4),
        st.sampled_from(["²", "٩", "１２", "7.5", "0x9", "1e1", "009", " 9 ", "9" * 5000]),
    )
)
@example("6")
@example("7")
@example("30")
@example("31")
@example("")
def test_window_field_accepts_exactly_whole_days_from_7_to_30(window: str) -> None:
    check = schedule_deletion_rules(window, "gamma-key", "gamma-key")
    assert check.ok == oracle_window(window)
    if check.ok:
        assert check.value is not None
        assert check.value.pending_window_days == int(window)
        assert check.value.window_text == window
    else:
        assert set(check.problems) == {"window"}
        with pytest.raises(FieldError):
            window_rule(window)


@SOME
@given(st.integers(7, 30), st.sampled_from(["", " ", "0"]))
def test_accepted_window_is_the_one_the_client_sends(wire: Wire, days: int, pad: str) -> None:
    typed = {"": str(days), " ": f" {days} ", "0": f"0{days}"}[pad]
    check = schedule_deletion_rules(typed, "k", "k")
    assert check.value is not None
    sent = wire.send(
        wire.admin.schedule_key_deletion(
            "k", pending_window_in_days=check.value.pending_window_days
        )
    )
    assert sent.json == {"key_id": "k", "pending_window_in_days": days}


@MANY
@given(st.text(max_size=12), KEY_NAMES)
def test_confirmation_must_be_the_key_id(typed: str, key_id: str) -> None:
    check = schedule_deletion_rules("30", typed, key_id)
    assert check.ok == (typed.strip() == key_id)
    if not check.ok:
        assert set(check.problems) == {"confirmation"}


# --- buckets -----------------------------------------------------------------------------------

BUCKET_SHAPED = st.from_regex(r"\A[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]\Z")
BUCKET_EDGES = [
    "My-Bucket",  # upper case
    "ab",  # too short
    "a" * 64,  # too long
    "192.168.1.10",  # IP-shaped
    "my..bucket",
    "-bucket",
    "bucket-",
    "my_bucket",
    "my.-bucket",
    "my-.bucket",
    "xn--bucket",
    "sthree-bucket",
    "amzn-s3-demo-bucket",
    "bucket-s3alias",
    "bucket--ol-s3",
    "bucket.mrap",
    "bucket--x-s3",
    "bucket--table-s3",
    "bücket",
    "",
]


@MANY
@given(st.one_of(BUCKET_SHAPED, st.text(max_size=10), st.sampled_from(BUCKET_EDGES)))
@example("abc")
@example("a" * 63)
def test_bucket_name_form_accepts_what_client_and_s3_both_accept(name: str) -> None:
    check = bucket_name_rules(name)
    both = validate_bucket_name(name) is None and is_valid_bucket_name(name)
    assert check.ok == both
    if not check.ok:
        assert set(check.problems) == {"name"}
        assert check.problems["name"].startswith("bucket name ")


@pytest.mark.parametrize("name", [n for n in BUCKET_EDGES if n])
def test_each_bucket_name_edge_is_refused_with_its_rule(name: str) -> None:
    assert set(bucket_name_rules(name).problems) == {"name"}


@SOME
@given(st.booleans(), st.one_of(st.none(), st.just(""), st.just(" "), st.just("a/b"), KEY_NAMES))
def test_encryption_form_needs_a_usable_key_only_for_sse_kms(
    wire: Wire, use_kms: bool, key_id: str | None
) -> None:
    check = encryption_rules(use_kms, key_id)
    if not use_kms:
        assert check.value is not None and check.value.algorithm == SSE_S3
        assert check.value.kms_key_id is None
    elif key_id in (None, "", " ", "a/b"):
        assert set(check.problems) == {"kms_key"}
        return
    else:
        assert check.value is not None
        assert (check.value.algorithm, check.value.kms_key_id) == (SSE_KMS, key_id)
    assert check.value is not None
    sent = wire.send(
        wire.buckets.put_bucket_encryption(
            "bucket", algorithm=check.value.algorithm, kms_key_id=check.value.kms_key_id
        )
    )
    assert sent.method == "PUT" and sent.query.startswith("encryption")
    assert check.value.algorithm.encode() in sent.body


# --- data keys ---------------------------------------------------------------------------------

CONTEXT_EDGES = ["app", "=billing", "app=a, app=b", "app=a,,env=b", "app=a\x00", "k\x01=v"]


@MANY
@given(st.one_of(rendered_pairs(), st.text(max_size=16).map(lambda t: (t, None))))
def test_context_rule_reads_every_rendered_context(
    typed: tuple[str, dict[str, str] | None],
) -> None:
    text, pairs = typed
    try:
        ours: dict[str, str] | None = context_rule(text)
    except FieldError:
        ours = None
    if pairs is not None:
        assert ours == pairs


@pytest.mark.parametrize("text", CONTEXT_EDGES)
def test_each_broken_context_is_refused_at_the_context_field(text: str) -> None:
    check = data_key_rules("alpha-key", KeySpec.AES_256, text)
    assert set(check.problems) == {"context"}


def test_data_key_form_needs_a_key_and_a_known_spec() -> None:
    assert set(data_key_rules(None, KeySpec.AES_128, "").problems) == {"key"}
    assert set(data_key_rules("a/b", KeySpec.AES_128, "").problems) == {"key"}
    assert set(data_key_rules("k", KeySpec("AES_256"), "").problems) == {"key_spec"}
    assert set(data_key_rules("k", "Aes256", "").problems) == {"key_spec"}


@SOME
@given(KEY_NAMES, st.sampled_from(list(KeySpec)), rendered_pairs())
def test_what_the_data_key_form_accepts_the_client_sends(
    wire: Wire, key_id: str, spec: KeySpec, typed: tuple[str, dict[str, str]]
) -> None:
    text, pairs = typed
    check = data_key_rules(key_id, spec, text)
    assert check.ok and check.value is not None
    request = check.value
    sent = wire.send(
        wire.admin.generate_data_key(
            request.key_id,
            key_spec=request.key_spec,
            encryption_context=dict(request.encryption_context) or None,
        )
    )
    assert sent.json["key_id"] == key_id and sent.json["key_spec"] == spec.value
    assert sent.json.get("encryption_context", {}) == pairs


# --- configure ---------------------------------------------------------------------------------

SEGMENT = st.from_regex(r"\A[a-z][a-z0-9_-]{0,8}\Z")
PATHS = st.lists(SEGMENT, min_size=1, max_size=3).map("/".join)
HOSTS = st.sampled_from(["vault.example.com", "10.0.0.5", "vault", "[::1]"])
SECRETS = st.text(VISIBLE, min_size=1, max_size=24).filter(lambda s: s == s.strip() and s.strip())
OWNER_RW_MODES = st.integers(0, 0o777).map(lambda mode: mode | 0o600)


@dataclass(frozen=True)
class FormCase:
    """The configure form as filled in, and the server's configuration it is sent to."""

    backend: str
    auth: str
    values: Mapping[str, str | bool]
    current: KmsConfig | None

    @property
    def summary(self) -> ConfigSummary | None:
        if self.current is None:
            return None
        return ConfigSummary.from_wire(self.current.config_summary())

    def build(self) -> tuple[BackendConfig | None, list[Any]]:
        return build_config(self.backend, self.auth, self.values, current=self.summary)

    def with_value(self, name: str, value: str | bool) -> FormCase:
        return FormCase(
            self.backend, self.auth, MappingProxyType({**self.values, name: value}), self.current
        )


def server_config(document: dict[str, Any]) -> KmsConfig:
    return validate_config(parse_configure_document(document))


CURRENT_LOCAL = server_config(
    {"backend_type": "Local", "key_dir": "/srv/kms/keys", "master_key": "old-master-passphrase"}
)
CURRENT_VAULT = server_config(
    {
        "backend_type": "VaultTransit",
        "address": "https://vault.example.com:8200",
        "auth_method": {"Token": {"token": "hvs.current"}},
    }
)


@st.composite
def common_values(draw: st.DrawFn) -> dict[str, str | bool]:
    def number(low: int, high: int) -> str:
        return draw(st.one_of(st.just(""), st.integers(low, high).map(str)))

    return {
        "default_key_id": draw(st.one_of(st.just(""), st.just("rustfs-default"), KEY_NAMES)),
        "timeout_seconds": number(1, 300),
        "retry_attempts": number(1, 10),
        "enable_cache": draw(st.booleans()),
        "max_cached_keys": number(1, 100_000),
        "cache_ttl_seconds": number(1, 86_400),
    }


@st.composite
def local_cases(draw: st.DrawFn) -> FormCase:
    """A valid Local form for a fresh server (or one running Vault)."""
    dev = draw(st.booleans())
    root = draw(st.sampled_from(["/tmp", "/srv"] if dev else ["/srv", "/var/lib/rustfs"]))
    mode = draw(st.one_of(st.none(), OWNER_RW_MODES))
    written = "" if mode is None else draw(st.sampled_from(["{:o}", "0{:o}", "0o{:o}"]))
    values: dict[str, str | bool] = {
        "key_dir": f"{root}/{draw(PATHS)}",
        "master_key": draw(st.one_of(st.just(""), SECRETS)) if dev else draw(SECRETS),
        "file_permissions": written.format(mode) if mode is not None else "",
        "allow_insecure_dev_defaults": dev,
        **draw(common_values()),
    }
    current = draw(st.sampled_from([None, CURRENT_VAULT]))
    return FormCase("Local", "Token", MappingProxyType(values), current)


@st.composite
def vault_cases(draw: st.DrawFn) -> FormCase:
    """A valid Vault KV2 or Transit form, with Token or AppRole auth."""
    backend = draw(st.sampled_from(["VaultKV2", "VaultTransit"]))
    auth = draw(st.sampled_from(["Token", "AppRole"]))
    dev = draw(st.booleans())
    current = draw(st.sampled_from([None, CURRENT_VAULT]))
    scheme = draw(st.sampled_from(["https", "http"] if dev else ["https"]))
    port = draw(st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")))
    token_options = [SECRETS.filter(lambda t: dev or t != "dev-token")]
    if current is not None:
        token_options.append(st.just(""))  # keeps the server's current credentials
    values: dict[str, str | bool] = {
        "address": f"{scheme}://{draw(HOSTS)}{port}",
        "namespace": draw(st.one_of(st.just(""), PATHS)),
        "mount_path": draw(st.one_of(st.just(""), PATHS)),
        "kv_mount": draw(st.one_of(st.just(""), SEGMENT)),
        "key_path_prefix": draw(st.one_of(st.just(""), PATHS)),
        "skip_tls_verify": dev and draw(st.booleans()),
        "allow_insecure_dev_defaults": dev,
        **draw(common_values()),
    }
    if auth == "Token":
        values["auth_method.token"] = draw(st.one_of(*token_options))
    else:
        secret_id = draw(st.one_of(st.just(""), SECRETS))
        values.update(
            {
                "auth_method.role_id": draw(SECRETS),
                "auth_method.secret_id": secret_id,
                "auth_method.secret_id_file": (
                    f"/run/secrets/{draw(SEGMENT)}"
                    if not secret_id
                    else draw(st.sampled_from(["", "/run/secrets/role"]))
                ),
                "auth_method.mount": draw(st.one_of(st.just(""), PATHS)),
            }
        )
    return FormCase(backend, auth, MappingProxyType(values), current)


@st.composite
def local_reconfigure_cases(draw: st.DrawFn) -> FormCase:
    """A valid form for a server already running Local: only the common options may change."""
    summary = ConfigSummary.from_wire(CURRENT_LOCAL.config_summary())
    assert summary.backend_summary is not None
    values: dict[str, str | bool] = {
        "key_dir": CURRENT_LOCAL.key_dir or "",
        "master_key": "",
        "file_permissions": draw(st.sampled_from(["", "0600", "600"])),
        "allow_insecure_dev_defaults": frozen_local_dev_flag(CURRENT_LOCAL.key_dir or ""),
        **draw(common_values()),
    }
    return FormCase("Local", "Token", MappingProxyType(values), CURRENT_LOCAL)


VALID_CASES = st.one_of(local_cases(), vault_cases(), local_reconfigure_cases())


@MANY
@given(VALID_CASES)
def test_valid_configure_forms_build_a_config_client_and_server_accept(case: FormCase) -> None:
    config, problems = case.build()
    assert problems == [] and config is not None
    reconfigure_local = case.current is CURRENT_LOCAL
    assert config.validate(reconfigure=reconfigure_local or case.current is not None) == []
    wire = config.to_wire()
    parsed = parse_configure_document(wire)  # the embedded server's parser and rules
    validate_config(normalize_against(parsed, case.current))


# (field, bad value, which forms it applies to) — each must be refused at that field.
BAD_FIELDS: list[tuple[str, str | bool, str]] = [
    ("key_dir", "relative/keys", "local"),
    ("key_dir", "", "local"),
    ("key_dir", "/srv/keys\x01", "local"),
    ("master_key", " padded ", "local"),
    ("file_permissions", "0400", "local"),
    ("file_permissions", "0o1000", "local"),
    ("file_permissions", "rw-------", "local"),
    ("address", "vault.example.com:8200", "vault"),
    ("address", "https://", "vault"),
    ("address", "https://vault:99999", "vault"),
    ("address", "https://va ult", "vault"),
    ("address", "", "vault"),
    ("namespace", "/admin", "vault"),
    ("mount_path", "a b", "vault"),
    ("mount_path", "transit/", "vault"),
    ("key_path_prefix", "a//b", "kv2"),
    ("kv_mount", "a b", "kv2"),
    ("timeout_seconds", "0", "any"),
    ("timeout_seconds", "301", "any"),
    ("timeout_seconds", "7.5", "any"),
    ("timeout_seconds", "-1", "any"),
    ("timeout_seconds", "+5", "any"),
    ("timeout_seconds", "٣", "any"),
    ("retry_attempts", "11", "any"),
    ("retry_attempts", "1_0", "any"),
    ("cache_ttl_seconds", "86401", "any"),
    ("max_cached_keys", "99999999999999999999999", "any"),
    ("default_key_id", "a/b", "any"),
    ("default_key_id", "..", "any"),
    ("default_key_id", "bell\x07", "any"),
]
BAD_TOKEN = [("auth_method.token", " hvs.x", "token"), ("auth_method.token", "hvs\x00", "token")]
BAD_APPROLE = [
    ("auth_method.role_id", "", "approle"),
    ("auth_method.secret_id_file", "relative/secret", "approle"),
    ("auth_method.mount", "/approle", "approle"),
    ("auth_method.mount", "app role", "approle"),
]


def applies(case: FormCase, kind: str) -> bool:
    vault = case.backend != "Local"
    return {
        "any": True,
        "local": not vault,
        "vault": vault,
        "kv2": case.backend == "VaultKV2",
        "token": vault and case.auth == "Token",
        "approle": vault and case.auth == "AppRole",
    }[kind]


@MANY
@given(VALID_CASES, st.sampled_from(BAD_FIELDS + BAD_TOKEN + BAD_APPROLE))
def test_one_bad_configure_field_is_refused_at_that_field(
    case: FormCase, bad: tuple[str, str | bool, str]
) -> None:
    name, value, kind = bad
    assume(applies(case, kind))
    config, problems = case.with_value(name, value).build()
    assert config is None
    assert name in {problem.field for problem in problems}, problems


@MANY
@given(st.one_of(local_cases(), vault_cases()))
def test_development_only_values_need_the_flag(case: FormCase) -> None:
    off = case.with_value("allow_insecure_dev_defaults", False)
    if case.backend == "Local":
        refused = off.with_value("key_dir", "/tmp/kms/keys").with_value("master_key", "m")
        field = "key_dir"
        also = off.with_value("key_dir", "/srv/../tmp/keys").with_value("master_key", "m")
        assert "key_dir" in {p.field for p in also.build()[1]}  # the server resolves '..'
        blank = off.with_value("key_dir", "/srv/keys").with_value("master_key", "")
        assert "master_key" in {p.field for p in blank.build()[1]}
    elif case.auth == "Token":
        refused = off.with_value("auth_method.token", "dev-token")
        field = "auth_method.token"
    else:
        refused = off.with_value("skip_tls_verify", True)
        field = "skip_tls_verify"
    config, problems = refused.build()
    assert config is None and field in {p.field for p in problems}
    if case.backend != "Local":
        http = off.with_value("address", "http://vault.example.com")
        assert "address" in {p.field for p in http.build()[1]}


@MANY
@given(local_reconfigure_cases(), st.data())
def test_a_configured_local_backend_keeps_its_frozen_fields(
    case: FormCase, data: st.DataObject
) -> None:
    frozen = data.draw(
        st.sampled_from(
            [
                ("key_dir", "/srv/kms/other-keys"),
                ("master_key", "a-new-master-passphrase"),
                ("file_permissions", "0640"),
                ("allow_insecure_dev_defaults", True),
            ]
        )
    )
    config, problems = case.with_value(*frozen).build()
    assert config is None and frozen[0] in {p.field for p in problems}
    moved = FormCase(
        "VaultTransit",
        "Token",
        MappingProxyType(
            {**case.values, "address": "https://vault.example.com", "auth_method.token": "t"}
        ),
        CURRENT_LOCAL,
    )
    assert "backend_type" in {p.field for p in moved.build()[1]}


def test_a_blank_token_keeps_credentials_only_when_the_server_has_some() -> None:
    values = {"address": "https://vault.example.com", "auth_method.token": ""}
    fresh = FormCase("VaultTransit", "Token", values, None)
    assert "auth_method.token" in {p.field for p in fresh.build()[1]}
    kept = FormCase("VaultTransit", "Token", values, CURRENT_VAULT)
    config, problems = kept.build()
    assert problems == [] and config is not None
    validate_config(normalize_against(parse_configure_document(config.to_wire()), CURRENT_VAULT))


@SOME
@given(VALID_CASES)
def test_what_configure_accepts_the_client_sends_as_built(wire: Wire, case: FormCase) -> None:
    config, _ = case.build()
    assert config is not None
    sent = wire.send(wire.admin.configure(config))
    assert sent.path == "/kms/configure"
    assert sent.json == config.to_wire()
