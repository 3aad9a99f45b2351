"""The exit codes of every command, and the one error the commands raise themselves.

======  ==========================================================================================
code    meaning
======  ==========================================================================================
0       done
1       the server refused or failed the request (not found, invalid state, any 4xx/5xx), or a
        check found a problem (``doctor``, ``buckets verify``)
2       usage or configuration error: bad arguments, a bad config file, a change refused because
        the session is read-only, a destructive command without ``--yes`` when stdin is not a
        terminal (or a typed confirmation that did not match)
3       the server could not be reached (connection, timeout, TLS; the embedded server did not
        start)
4       partly done: a bulk command where some keys failed (each key's result is in the output)
130     interrupted (SIGINT)
======  ==========================================================================================

Server failures arrive as :class:`~kms_tui.api.errors.KmsError`; :func:`exit_code_for` maps every
exception a command can end with to its code, :func:`error_fields` to the JSON error object.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "CommandError",
    "error_fields",
    "exit_code_for",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_PARTIAL = 4
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A command stops before (or instead of) asking the server; ``code`` names the reason."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "UsageError",
        exit_code: int = EXIT_USAGE,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.exit_code = exit_code
        self.status = status
        self.request_id = request_id


def exit_code_for(err: BaseException) -> int:
    """The documented exit code for a command that ended with ``err``."""
    from kms_tui.settings import SettingsError

    if isinstance(err, CommandError):
        return err.exit_code
    if isinstance(err, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(err, SettingsError | ValueError):
        return EXIT_USAGE
    name = type(err).__name__
    if name == "EmbeddedProcessError":
        return EXIT_UNREACHABLE
    if name == "BootstrapError":
        return EXIT_USAGE  # the embedded server's local files need the user's attention
    from kms_tui.api.errors import KmsError, KmsTransportError

    if isinstance(err, KmsTransportError):
        return EXIT_UNREACHABLE
    if isinstance(err, KmsError):
        return EXIT_FAILED
    return EXIT_FAILED


def _code_for(err: BaseException) -> str:
    from kms_tui.settings import SettingsError

    if isinstance(err, CommandError):
        return err.code
    if isinstance(err, KeyboardInterrupt):
        return "Interrupted"
    if isinstance(err, SettingsError):
        return "ConfigError"
    if isinstance(err, ValueError):
        return "UsageError"
    if type(err).__name__ == "EmbeddedProcessError":
        return "EmbeddedServerError"
    code = getattr(err, "code", None)
    return code if isinstance(code, str) and code else type(err).__name__


def error_fields(err: BaseException) -> dict[str, Any]:
    """``{"code", "message", "status", "request_id"}`` for the JSON error document."""
    if isinstance(err, KeyboardInterrupt):
        message = "interrupted"
    else:
        message = getattr(err, "message", None) or str(err) or type(err).__name__
    status = getattr(err, "status", None)
    request_id = getattr(err, "request_id", None)
    return {
        "code": _code_for(err),
        "message": message,
        "status": status if isinstance(status, int) else None,
        "request_id": request_id if isinstance(request_id, str) else None,
    }


def one_line(err: BaseException) -> str:
    """The plain line for stderr: the message, what the server said, and a hint if any."""
    fields = error_fields(err)
    detail = []
    if fields["status"] is not None:
        detail.append(f"HTTP {fields['status']}")
    if fields["request_id"]:
        detail.append(f"request id {fields['request_id']}")
    text = fields["message"]
    if detail:
        text += f" ({', '.join(detail)})"
    hint = getattr(err, "hint", None)
    if isinstance(hint, str) and hint and hint not in text:
        text += f"; {hint}"
    return " ".join(text.split())
