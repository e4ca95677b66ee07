"""What every command shares: one-line usage errors, one logging set-up, honest exit codes.

:func:`run_tool` runs a command's ``run(args)``: bad arguments and input found before any work
(:class:`~mln_tf.errors.UsageError`, a missing file) exit 2 with one line; a run that fails
exits 1 with one line; Ctrl-C exits 130 and says what was done (:class:`Interrupted` carries
the counts). :func:`check_output` is the check every writing command makes before it loads a model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from mln_tf.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line naming the command, with a hint to ``--help`` (exit 2)."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser(prog: str, description: str, epilog: str | None = None) -> Parser:
    """A command's parser; its description keeps its line breaks."""
    return Parser(
        prog=prog, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


class Interrupted(Exception):
    """Ctrl-C in a loop over items: how many were done and how many were left."""

    def __init__(self, done: int, total: int | None, what: str = "items", saved: str = "") -> None:
        left = f", {total - done} left" if total is not None else ""
        super().__init__(f"{done} {what} done{left}" + (f"; {saved}" if saved else ""))


def error(prog: str, exc: BaseException | str) -> None:
    """``prog: error: what`` on stderr, one line."""
    text = " ".join(str(exc).split()) if str(exc) else type(exc).__name__
    print(f"{prog}: error: {text}", file=sys.stderr)


def run_tool(
    build_parser: Callable[[str], argparse.ArgumentParser], run: Callable, argv: Sequence[str] | None, prog: str
) -> int:
    """Parse ``argv``, set up logging, run; returns the exit status (0, 1 failed, 2 usage, 130 Ctrl-C)."""
    from mln_tf.console import setup_logging

    args = build_parser(prog).parse_args(argv)
    setup_logging(getattr(args, "quiet", False))
    try:
        return run(args)
    except (UsageError, FileNotFoundError) as exc:  # FileNotFoundError: a file named on the command line
        error(prog, exc)
        return EXIT_USAGE
    except Interrupted as exc:
        print(f"{prog}: stopped by Ctrl-C: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"{prog}: stopped by Ctrl-C", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as exc:
        error(prog, exc)
        return EXIT_FAILED


def entry(build_parser: Callable[[str], argparse.ArgumentParser], run: Callable, prog: str) -> Callable[..., int]:
    """A command's ``main(argv=None, prog=...)``: :func:`run_tool` over its parser and ``run``."""

    def main(argv: Sequence[str] | None = None, prog: str = prog) -> int:
        return run_tool(build_parser, run, argv, prog)

    main.__doc__ = f"Run ``{prog}`` with ``argv``; returns the exit status (0, 1 failed, 2 usage, 130 Ctrl-C)."
    return main


def check_output(path: str | Path, overwrite: bool, suffixes: tuple[str, ...] = (), folder: bool = False) -> Path:
    """An output path that can be written: its folder exists and is writable, and it is not there
    already unless ``overwrite`` (``--overwrite``); a UsageError otherwise, before any work."""
    path = Path(path)
    if suffixes and not path.name.lower().endswith(suffixes):
        raise UsageError(
            f"the output must be a {' or '.join(suffixes)} {'folder' if folder else 'file'}, got {str(path)!r}"
        )
    if path.exists():
        if folder != path.is_dir():
            raise UsageError(f"{path} exists and is {'a folder, not a file' if path.is_dir() else 'not a folder'}")
        if not overwrite:
            raise UsageError(f"{path} already exists (pass --overwrite to replace it)")
    parent = path.resolve().parent
    # a model folder (TF Serving's model/1) gets its missing parents, as mkdir -p would; a file's must exist
    if not folder and not parent.exists():
        raise UsageError(f"the output folder does not exist: {parent}")
    check_writable(parent)  # also a file standing where a folder is needed
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"cannot write {path}: permission denied")
    return path


def check_writable(folder: str | Path) -> None:
    """A UsageError unless ``folder``, or the nearest folder above it that exists (where it will be
    made), can be written.

    Permissions are not enough (root passes every permission check, yet cannot write to /proc, a
    read-only mount or an immutable folder): an empty folder is made there and removed again.
    """
    folder = Path(folder).resolve()
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"cannot write under {folder}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write to {folder}/: permission denied")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mln-write-check-", dir=folder))
    except OSError as exc:
        raise UsageError(f"cannot write to {folder}/: {exc.strerror or exc}") from None
