"""What a failed call tells its caller: bad input found before any work, and the exit codes of the tools."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class UsageError(ValueError):
    """Bad arguments or input found before any work: exit status 2, one line, no traceback."""
