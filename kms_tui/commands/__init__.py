"""``kms-tui <command>``: one action with the console's clients, profiles and rules, then exit.

- :mod:`~kms_tui.commands.parser`: the arguments (no client imported until a command runs).
- :mod:`~kms_tui.commands.runner`: runs one command: read-only and ``--yes`` refusals before
  anything is sent, the event loop, exit codes, Ctrl-C and a closed pipe.
- :mod:`~kms_tui.commands.session`: the server (profile, endpoint or the embedded one).
- :mod:`~kms_tui.commands.output`, :mod:`~kms_tui.commands.records`: what is written, and the
  JSON field names; :mod:`~kms_tui.commands.errors`: the exit codes.
- One module per command group: ``status``, ``doctor``, ``keys``, ``impact``, ``buckets``,
  ``backup`` (with ``bundle``, the local bundle file).
"""
