"""kms-tui: a terminal console for the RustFS Key Management Service."""

__version__ = "0.1.0"
