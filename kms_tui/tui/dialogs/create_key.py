"""The create-key form: description, tags as ``k=v`` and an optional name, checked first."""

from __future__ import annotations

from textual.app import ComposeResult

from kms_tui.tui.dialogs.confirm import FormDialog
from kms_tui.tui.dialogs.form_rules import CreateKeyRequest, create_key_rules

__all__ = ["CreateKeyDialog"]

_FIELDS = ("description", "tags", "name")


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
        check = create_key_rules(self.value("description"), self.value("tags"), self.value("name"))
        for field_id in _FIELDS:
            self.set_field_error(field_id, check.problems.get(field_id))
        return check.value
