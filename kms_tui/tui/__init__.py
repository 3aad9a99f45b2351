"""Textual console: screens, dialogs and widgets."""
