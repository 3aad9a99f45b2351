"""Embedded RustFS-compatible KMS server (no Textual, no kms_tui.api)."""
