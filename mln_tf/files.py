"""Files: the one input collector, and atomic writes (a reader or a crash never sees a half-written result)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


def collect_files(
    inputs: str | Path | Iterable[str | Path], suffixes: Iterable[str] = IMAGE_SUFFIXES, what: str = "images"
) -> list[Path]:
    """Files named in ``inputs``, folders expanded to their files with ``suffixes`` (sorted, not recursive).

    A missing input, a folder holding none of them, or a file with another suffix is a
    ValueError naming it (so a tool stops before loading anything).
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    suffixes = {s.lower() for s in suffixes}
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise ValueError(f"no {what} in folder {path} (looked for {', '.join(sorted(suffixes))})")
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in suffixes:
                raise ValueError(f"{path} is not one of the {what} this tool reads ({', '.join(sorted(suffixes))})")
            files.append(path)
        else:
            raise ValueError(f"input not found: {path}")
    if not files:
        raise ValueError(f"no {what} given")
    return files


def _usual_mode(base: int) -> int:
    """``base`` (0o666 files, 0o777 folders) under the current umask, as open/mkdir would give."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def write_file_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Let ``write(tmp)`` create a temporary file beside ``path``, then rename it onto ``path``.

    The temporary name ends with ``path``'s own name, so writers that check the suffix
    (``model.save`` wants ``.keras``, ``save_weights`` ``.weights.h5``) accept it. The file
    gets the usual umask mode (``mkstemp`` alone would leave it private).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".", suffix=f".{path.name}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _usual_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: str | Path, data: bytes, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    ``fsync`` also makes it survive a power cut (models); per-frame results and overlays
    skip it, where a sync per file would slow a video down.
    """

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())

    return write_file_atomic(path, write)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename (not synced)."""
    return write_bytes_atomic(path, json.dumps(obj).encode(), fsync=False)


def write_dir_atomic(path: str | Path, write: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Let ``write(tmp_dir)`` fill a fresh folder, then move it to ``path`` in one rename.

    An existing ``path`` is an error unless ``overwrite``; it is then replaced only after the
    new folder is complete (moved aside, the new one renamed in, the old one deleted).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ValueError(f"{path} already exists (pass overwrite=True / --overwrite to replace it)")
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old = None
    try:
        write(tmp)
        os.chmod(tmp, _usual_mode(0o777))  # mkdtemp makes it private
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            old.rmdir()
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        if old is not None and not path.exists():
            os.replace(old, path)  # put the previous export back
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return path
