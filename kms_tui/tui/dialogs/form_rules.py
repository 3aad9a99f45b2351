"""The console forms' rules as pure functions: the text typed in, a value or per-field problems out.

Every dialog hands its raw field strings to one of these and shows each problem under the field
it names; nothing is sent until the function returns a value. The rules are the client's
pre-send checks plus what the server (and its file system) would refuse, and a few console
limits (lengths, invisible characters), so whatever a form accepts, the client and the server
accept too. No Textual here: the rules are cheap to import and test on their own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, TypeVar

from kms_tui.api.admin import validate_key_id
from kms_tui.api.buckets import SSE_KMS, SSE_S3, validate_bucket_name
from kms_tui.api.wire import KeySpec
from kms_tui.tui.formatting import MAX_WINDOW_DAYS, MIN_WINDOW_DAYS, FieldError

__all__ = [
    "MAX_CONTEXT_KEY_CHARS",
    "MAX_CONTEXT_PAIRS",
    "MAX_CONTEXT_VALUE_CHARS",
    "MAX_DESCRIPTION_CHARS",
    "MAX_KEY_NAME_CHARS",
    "MAX_TAGS",
    "MAX_TAG_KEY_CHARS",
    "MAX_TAG_VALUE_CHARS",
    "CreateKeyRequest",
    "DataKeyRequest",
    "EditKeyRequest",
    "EncryptionChoice",
    "FormCheck",
    "ScheduleDeletionRequest",
    "bucket_name_problem",
    "bucket_name_rules",
    "check_text",
    "context_rule",
    "create_key_rules",
    "data_key_rules",
    "description_rule",
    "edit_key_rules",
    "encryption_rules",
    "key_id_rule",
    "key_name_rule",
    "parse_pairs",
    "schedule_deletion_rules",
    "tags_rule",
    "unusable_character",
    "window_rule",
]

# Console limits. The server sets none for descriptions and tags; these keep values readable
# and match AWS KMS's tag limits. Key names become file names on a Local server (with a
# 41-byte temp suffix under the usual 255-byte limit), so they are capped well below that.
MAX_DESCRIPTION_CHARS = 1024
MAX_TAGS = 50
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256
MAX_KEY_NAME_CHARS = 200
MAX_CONTEXT_PAIRS = 64
MAX_CONTEXT_KEY_CHARS = 256
MAX_CONTEXT_VALUE_CHARS = 1024

# S3 rules the client's validate_bucket_name does not check but S3 (and the embedded server) do.
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

# RustFS matches /kms/keys/{key_id} against the raw, still percent-encoded path, so an id
# with any other character cannot be described or read back once created (reference §2, §10.7).
_KEY_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")

_T = TypeVar("_T")


def _empty_problems() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FormCheck(Generic[_T]):
    """A form's verdict: the value when every field is acceptable, else field → problem."""

    value: _T | None
    problems: Mapping[str, str] = field(default_factory=_empty_problems)

    @property
    def ok(self) -> bool:
        """Whether the form may be sent."""
        return self.value is not None and not self.problems


@dataclass(frozen=True, slots=True)
class CreateKeyRequest:
    """What to create, plus the text as typed so a refused form reopens unchanged."""

    description: str | None
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    name: str | None = None
    tags_text: str = ""


@dataclass(frozen=True, slots=True)
class EditKeyRequest:
    """The description and tags as they should be, plus the text as typed."""

    description: str
    tags: Mapping[str, str]
    tags_text: str


@dataclass(frozen=True, slots=True)
class ScheduleDeletionRequest:
    """The confirmed window, and the text typed so a refused form reopens unchanged."""

    pending_window_days: int
    window_text: str
    confirmation_text: str


@dataclass(frozen=True, slots=True)
class EncryptionChoice:
    """What the user chose: ``AES256`` (SSE-S3) or ``aws:kms`` with the key id."""

    algorithm: str
    kms_key_id: str | None = None

    @property
    def label(self) -> str:
        """How the choice reads in notifications and the activity log."""
        if self.algorithm == SSE_KMS:
            return f"SSE-KMS with {self.kms_key_id}"
        return "SSE-S3"


@dataclass(frozen=True, slots=True)
class DataKeyRequest:
    """A generate-data-key request as the Data keys form describes it."""

    key_id: str
    key_spec: KeySpec
    encryption_context: Mapping[str, str]


# --- single values -----------------------------------------------------------------------------


def _shown(text: str, limit: int = 24) -> str:
    """A value quoted for a message, cut short so a pasted essay does not flood the dialog."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def unusable_character(text: str) -> str | None:
    """The first control, format, private or unassigned character (``U+0009``), or None.

    Such characters cannot be typed, display as nothing or move the cursor, so a value holding
    one would not read back as what the person meant.
    """
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


def check_text(text: str, *, label: str, max_chars: int) -> str:
    """``text`` unchanged when it is short enough and fully visible; raises FieldError."""
    bad = unusable_character(text)
    if bad is not None:
        raise FieldError(f"{label} contains an invisible or control character ({bad})")
    if len(text) > max_chars:
        raise FieldError(f"{label} is {len(text)} characters long; at most {max_chars}")
    return text


def description_rule(text: str) -> str:
    """A key description: any visible text up to the console's limit (empty is allowed)."""
    return check_text(text, label="the description", max_chars=MAX_DESCRIPTION_CHARS)


def key_name_rule(text: str) -> str:
    """A key name the server can use as the id, in a URL path and as a file name."""
    if not text:
        raise FieldError("the name must not be empty")
    if text in (".", ".."):
        raise FieldError("the name must not be '.' or '..'")
    for bad, label in (("/", "'/'"), ("\\", "'\\'"), ("\x00", "a NUL character")):
        if bad in text:
            raise FieldError(f"the name must not contain {label}")
    if text != text.strip():
        raise FieldError("the name must not start or end with spaces")
    if not _KEY_NAME_CHARS.fullmatch(text):
        bad = next(char for char in text if not _KEY_NAME_CHARS.fullmatch(char))
        shown = repr(bad) if unusable_character(bad) is None else f"U+{ord(bad):04X}"
        raise FieldError(
            f"the name may hold only letters, digits, '.', '_' and '-' (not {shown}): "
            "RustFS cannot address a key whose id needs encoding in a URL"
        )
    if len(text) > MAX_KEY_NAME_CHARS:
        raise FieldError(f"the name is {len(text)} characters long; at most {MAX_KEY_NAME_CHARS}")
    return validate_key_id(text, "name")


def key_id_rule(text: str, *, label: str = "the key id") -> str:
    """An existing key's id as the client can address it (picked, so only the hard rules)."""
    try:
        return validate_key_id(text, "key id")
    except ValueError as err:
        raise FieldError(f"{label}: {err}") from None


def parse_pairs(
    text: str,
    *,
    noun: str,
    key_noun: str,
    max_pairs: int,
    max_key_chars: int,
    max_value_chars: int,
    unchecked: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Read ``k=v, k2=v2`` (empty text: none); raises FieldError naming the pair at fault.

    Pairs present unchanged in ``unchecked`` skip the length and character limits, so a value
    set by other tools before the console's limits does not block an unrelated edit.
    """
    pairs: dict[str, str] = {}
    if not text.strip():
        return pairs
    items = text.split(",")
    already = unchecked or {}
    if len(items) > max_pairs and len(items) > len(already):
        raise FieldError(f"at most {max_pairs} {noun}s, got {len(items)}")
    for position, raw in enumerate(items, start=1):
        item = raw.strip()
        if not item:
            raise FieldError(f"{noun} {position} is empty (remove the extra comma)")
        if "=" not in item:
            raise FieldError(f"{noun} {position} ({_shown(item)}) needs the form key=value")
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not key:
            raise FieldError(f"{noun} {position} ({_shown(item)}) has no key before '='")
        if key in pairs:
            raise FieldError(f"{key_noun} {_shown(key)} is given twice")
        if already.get(key) != value:
            check_text(key, label=f"{key_noun} {_shown(key)}", max_chars=max_key_chars)
            check_text(value, label=f"the value of {_shown(key)}", max_chars=max_value_chars)
        pairs[key] = value
    return pairs


def tags_rule(
    text: str, *, name_message: str, unchecked: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Tags as ``k=v`` pairs; ``name`` is refused with ``name_message`` (it is the key's id)."""
    tags = parse_pairs(
        text,
        noun="tag",
        key_noun="tag key",
        max_pairs=MAX_TAGS,
        max_key_chars=MAX_TAG_KEY_CHARS,
        max_value_chars=MAX_TAG_VALUE_CHARS,
        unchecked=unchecked,
    )
    if "name" in tags:
        raise FieldError(name_message)
    return tags


def context_rule(text: str) -> dict[str, str]:
    """An encryption context as ``k=v`` pairs (empty: no context)."""
    return parse_pairs(
        text,
        noun="pair",
        key_noun="context key",
        max_pairs=MAX_CONTEXT_PAIRS,
        max_key_chars=MAX_CONTEXT_KEY_CHARS,
        max_value_chars=MAX_CONTEXT_VALUE_CHARS,
    )


def window_rule(text: str) -> int:
    """The pending-deletion window: a whole number of days (ASCII digits) from 7 to 30."""
    stripped = text.strip()
    if not stripped:
        raise FieldError(f"enter a number of days from {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS}")
    if not (stripped.isascii() and stripped.isdigit()):
        raise FieldError(f"{_shown(stripped)} is not a whole number of days")
    days = int(stripped) if len(stripped) <= 6 else None
    if days is None or not MIN_WINDOW_DAYS <= days <= MAX_WINDOW_DAYS:
        shown = days if days is not None else _shown(stripped)
        raise FieldError(
            f"the window must be {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS} days, got {shown}"
        )
    return days


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse ``name`` as a bucket name (the client's rules and S3's), or None."""
    problem = validate_bucket_name(name)
    if problem is None:
        if ".-" in name or "-." in name:
            problem = "must not have '.' next to '-'"
        elif name.startswith(_BUCKET_RESERVED_PREFIXES):
            prefix = next(p for p in _BUCKET_RESERVED_PREFIXES if name.startswith(p))
            problem = f"must not start with {prefix!r} (reserved by S3)"
        elif name.endswith(_BUCKET_RESERVED_SUFFIXES):
            suffix = next(s for s in _BUCKET_RESERVED_SUFFIXES if name.endswith(s))
            problem = f"must not end with {suffix!r} (reserved by S3)"
    return f"bucket name {problem}" if problem else None


# --- whole forms -------------------------------------------------------------------------------


class _Problems:
    """Collects one problem per field while a form's fields are read."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def read(self, field_name: str, rule: Callable[[], _T]) -> _T | None:
        """Run one field's rule; on FieldError note it against the field and return None."""
        try:
            return rule()
        except FieldError as err:
            self.found[field_name] = str(err)
            return None

    def refuse(self, field_name: str, message: str) -> None:
        """Note a problem found without a rule function."""
        self.found.setdefault(field_name, message)

    def verdict(self, build: Callable[[], _T]) -> FormCheck[_T]:
        """The value when nothing was found, else the problems."""
        if self.found:
            return FormCheck(None, MappingProxyType(dict(self.found)))
        return FormCheck(build())


def create_key_rules(description: str, tags: str, name: str) -> FormCheck[CreateKeyRequest]:
    """The create-key form (fields ``description``, ``tags``, ``name``; empty name: generated)."""
    problems = _Problems()
    problems.read("description", lambda: description_rule(description))
    parsed = problems.read(
        "tags", lambda: tags_rule(tags, name_message="set the name in the Name field, not as a tag")
    )
    key_name = problems.read("name", lambda: key_name_rule(name)) if name else None
    return problems.verdict(
        lambda: CreateKeyRequest(
            description=description or None,
            tags=MappingProxyType(dict(parsed or {})),
            name=key_name,
            tags_text=tags,
        )
    )


def edit_key_rules(
    description: str,
    tags: str,
    *,
    current_description: str = "",
    current_tags: Mapping[str, str] | None = None,
) -> FormCheck[EditKeyRequest]:
    """The edit form (``description``, ``tags``); what is unchanged is not held to the limits."""
    problems = _Problems()
    if description != current_description:
        problems.read("description", lambda: description_rule(description))
    parsed = problems.read(
        "tags",
        lambda: tags_rule(
            tags,
            name_message="the name tag identifies the key and cannot be changed",
            unchecked=current_tags,
        ),
    )
    return problems.verdict(
        lambda: EditKeyRequest(
            description=description, tags=MappingProxyType(dict(parsed or {})), tags_text=tags
        )
    )


def schedule_deletion_rules(
    window: str, confirmation: str, expected: str
) -> FormCheck[ScheduleDeletionRequest]:
    """The deletion form: ``window`` in days and ``confirmation`` equal to ``expected``."""
    problems = _Problems()
    days = problems.read("window", lambda: window_rule(window))
    if confirmation.strip() != expected:
        problems.refuse(
            "confirmation", "does not match; nothing will be sent" if confirmation else "required"
        )
    return problems.verdict(
        lambda: ScheduleDeletionRequest(days or MAX_WINDOW_DAYS, window, confirmation)
    )


def bucket_name_rules(name: str) -> FormCheck[str]:
    """The create-bucket form's one field, ``name``."""
    problems = _Problems()
    problem = bucket_name_problem(name)
    if problem is not None:
        problems.refuse("name", problem)
    return problems.verdict(lambda: name)


def encryption_rules(use_kms: bool, kms_key_id: str | None) -> FormCheck[EncryptionChoice]:
    """The bucket-encryption form: SSE-S3, or SSE-KMS with a key (field ``kms_key``)."""
    problems = _Problems()
    if not use_kms:
        return problems.verdict(lambda: EncryptionChoice(SSE_S3))
    if kms_key_id is None or not kms_key_id.strip():
        problems.refuse("kms_key", "SSE-KMS needs a key: press k to choose one")
    else:
        problems.read("kms_key", lambda: key_id_rule(kms_key_id))
    return problems.verdict(lambda: EncryptionChoice(SSE_KMS, kms_key_id))


def data_key_rules(key_id: str | None, key_spec: object, context: str) -> FormCheck[DataKeyRequest]:
    """The generate form (``key``, ``key_spec``, ``context``) of the Data keys screen."""
    problems = _Problems()
    if key_id is None:
        problems.refuse("key", "choose a key first (k)")
    else:
        problems.read("key", lambda: key_id_rule(key_id))
    spec = key_spec if isinstance(key_spec, KeySpec) and key_spec.known else None
    if spec is None:
        allowed = ", ".join(member.value for member in KeySpec)
        problems.refuse("key_spec", f"choose one of {allowed}")
    pairs = problems.read("context", lambda: context_rule(context))
    return problems.verdict(
        lambda: DataKeyRequest(
            key_id=key_id or "",
            key_spec=spec or KeySpec.AES_256,
            encryption_context=MappingProxyType(dict(pairs or {})),
        )
    )
