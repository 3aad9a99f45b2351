"""The edit form: a key's description and tags (the ``name`` tag is the id and stays put)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from textual.app import ComposeResult
from textual.widgets import Label

from kms_tui.tui.dialogs.confirm import FormDialog
from kms_tui.tui.dialogs.form_rules import EditKeyRequest, edit_key_rules
from kms_tui.tui.formatting import format_tags

__all__ = ["EditKeyDialog", "KeyEdits"]


@dataclass(frozen=True, slots=True)
class KeyEdits:
    """The calls needed to get from the current key to the request."""

    description: str | None  # None: unchanged
    set_tags: Mapping[str, str]
    removed_tags: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """Nothing to send."""
        return self.description is None and not self.set_tags and not self.removed_tags

    @classmethod
    def between(
        cls, description: str, tags: Mapping[str, str], request: EditKeyRequest
    ) -> KeyEdits:
        """Compare the key as it is with the request; ``name`` is never touched."""
        current = {k: v for k, v in tags.items() if k != "name"}
        wanted = dict(request.tags)
        return cls(
            description=request.description if request.description != description else None,
            set_tags=MappingProxyType({k: v for k, v in wanted.items() if current.get(k) != v}),
            removed_tags=tuple(sorted(k for k in current if k not in wanted)),
        )


class EditKeyDialog(FormDialog[EditKeyRequest]):
    """Edit one key's description and tags."""

    submit_label = "Save"

    def __init__(
        self,
        key_id: str,
        description: str,
        tags: Mapping[str, str],
        *,
        initial: EditKeyRequest | None = None,
        server_error: str | None = None,
    ) -> None:
        super().__init__(server_error=server_error)
        self.key_id = key_id
        self.title_text = f"Edit key {key_id}"
        self.name_tag = tags.get("name")
        editable = {k: v for k, v in tags.items() if k != "name"}
        self.current_description = description
        self.current_tags: Mapping[str, str] = MappingProxyType(editable)
        self.initial = initial or EditKeyRequest(
            description=description, tags=editable, tags_text=format_tags(editable)
        )

    def compose_fields(self) -> ComposeResult:
        if self.name_tag is not None:
            yield Label(f"name={self.name_tag} (identifies the key; not editable)", markup=False)
        yield from self.field("Description", "description", self.initial.description)
        yield from self.field("Tags (key=value, comma separated)", "tags", self.initial.tags_text)

    def on_mount(self) -> None:
        self.query_one("#description").focus()

    def collect(self) -> EditKeyRequest | None:
        check = edit_key_rules(
            self.value("description"),
            self.value("tags"),
            current_description=self.current_description,
            current_tags=self.current_tags,
        )
        for field_id in ("description", "tags"):
            self.set_field_error(field_id, check.problems.get(field_id))
        return check.value
