"""The performance harness: ``python -m benchmarks`` (not part of the test suite).

Every case runs side by side with its baseline in the same run; see ``__main__`` for the CLI.
This package imports only the standard library at the top level, so the orchestrating process
stays small and quiet while it measures the processes it starts.
"""
