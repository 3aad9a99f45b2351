"""The create-key form: description, tags as ``k=v`` and an optional name, checked first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from textual.app import ComposeResult

from kms_tui.tui.dialogs.confirm import FormDialog
from kms_tui.tui.formatting import FieldError, parse_tags, validate_key_name

__all__ = ["CreateKeyDialog", "CreateKeyRequest"]


@dataclass(frozen=True, slots=True)
class CreateKeyRequest:
    """What to create, plus the text as typed so a refused form reopens unchanged."""

    description: str | None
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    name: str | None = None
    tags_text: str = ""


class CreateKeyDialog(FormDialog[CreateKeyRequest]):
    """Ask for a new key's description, tags and optional name."""

    title_text = "Create key"
    submit_label = "Create"

    def __init__(
        self, initial: CreateKeyRequest | None = None, *, server_error: str | None = None
    ) -> None:
        super().__init__(server_error=server_error)
        self.initial = initial

    def compose_fields(self) -> ComposeResult:
        initial = self.initial
        yield from self.field(
            "Description", "description", (initial.description or "") if initial else ""
        )
        yield from self.field(
            "Tags (key=value, comma separated)",
            "tags",
            initial.tags_text if initial else "",
            placeholder="team=storage, env=prod",
        )
        yield from self.field(
            "Name (optional; becomes the key id)",
            "name",
            (initial.name or "") if initial else "",
            placeholder="leave empty for a generated id",
        )

    def on_mount(self) -> None:
        self.query_one("#description").focus()

    def collect(self) -> CreateKeyRequest | None:
        tags_text = self.value("tags")
        name_text = self.value("name")
        ok = True
        tags: dict[str, str] = {}
        try:
            tags = parse_tags(tags_text)
            if "name" in tags:
                raise FieldError("set the name in the Name field, not as a tag")
            self.set_field_error("tags", None)
        except FieldError as err:
            self.set_field_error("tags", str(err))
            ok = False
        name: str | None = None
        if name_text:
            try:
                name = validate_key_name(name_text)
                self.set_field_error("name", None)
            except FieldError as err:
                self.set_field_error("name", str(err))
                ok = False
        else:
            self.set_field_error("name", None)
        if not ok:
            return None
        description = self.value("description")
        return CreateKeyRequest(
            description=description or None,
            tags=MappingProxyType(tags),
            name=name,
            tags_text=tags_text,
        )
