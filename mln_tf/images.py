"""The one image loop: ``iter_images(files, bad)`` reads each file, and :class:`BadFiles` names the ones it cannot.

Every loop over image files (inference and its stream, COCO evaluation, the export check, the
demo, int8 calibration, QAT distillation) reads through here, so a missing, truncated or
non-image file is reported the same way everywhere: one warning line ``skipping NAME: reason``
as it happens, and ``BadFiles.lines()`` for the run's summary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from mln_tf.inference import read_image

log = logging.getLogger(__name__)


@dataclass
class BadFiles:
    """The inputs a loop could not read, in order: ``(file, reason)``."""

    items: list[tuple[str, str]] = field(default_factory=list)
    quiet: bool = False  # no warning per file (the caller reports them all at the end)

    def add(self, path: str | Path, reason: str) -> None:
        """Record (and, unless quiet, warn about) one unreadable input."""
        self.items.append((str(path), str(reason)))
        if not self.quiet:
            log.warning("skipping %s", _line(path, reason))

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def lines(self) -> list[str]:
        """``"NAME: reason"`` for each, as every summary prints them."""
        return [_line(path, reason) for path, reason in self.items]


def _line(path: str | Path, reason: str) -> str:
    """``NAME: reason``, or the reason alone when it names the file already."""
    name = Path(path).name
    return reason if name in reason else f"{name}: {reason}"


def iter_images(
    files: Iterable[str | Path], bad: BadFiles | None = None, limit: int | None = None
) -> Iterator[tuple[Path, np.ndarray]]:
    """``(path, rgb uint8 (H, W, 3))`` for each readable file; the others go to ``bad`` and are skipped.

    ``limit``: at most that many readable images. Without ``bad`` the failures are only logged.
    """
    bad = bad if bad is not None else BadFiles()
    done = 0
    for item in files:
        if limit is not None and done >= limit:
            return
        path = Path(item)
        try:
            rgb = read_image(path)
        except ValueError as exc:
            bad.add(path, str(exc))
            continue
        done += 1
        yield path, rgb
