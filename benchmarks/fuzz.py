"""Coverage-guided fuzzing of the parsers and the numeric entry points (atheris: libFuzzer for Python).

    .venv/bin/python benchmarks/fuzz.py                                # every target, 10^5 inputs each
    .venv/bin/python benchmarks/fuzz.py tracker postprocess --runs 20000 --seed 7
    .venv/bin/python benchmarks/fuzz.py tflite --max-time 600           # stop a target after 10 minutes
    .venv/bin/python benchmarks/fuzz.py coco --replay crash-3f2a...    # one input again, with its traceback
    .venv/bin/python benchmarks/fuzz.py --list

Targets (``--list``): ``decode_image`` (``mln_tf.inference.decode_image`` on any bytes, or an array),
``coco`` (``mln_tf.evaluate.load_coco`` on any file or JSON value, then ``evaluate_coco`` on what it
loaded), ``tf_config`` (``mln_tf.train.setup.tf_config_cluster`` on any ``TF_CONFIG``), ``tflite``
(``mln_tf.runners.load_runner`` on any bytes as a ``.tflite``), ``tracker``
(``mln_tf.tracking.PoseTracker.update`` on frames of arbitrary arrays and times) and ``postprocess``
(``mln_tf.inference.postprocess`` on arbitrary maps, transforms and configs). There is no OpenPose
JSON reader in the package (``mln_tf.outputs`` only writes it), so nothing to fuzz there.

The contract for every target: it returns a valid result (checked here: type, shape, dtype, finite
values, the invariants its docstring states) or raises ValueError (the project's UsageError is one)
with a one-line message that names the file or variable it read. Anything else is a finding: another
exception type, a wrong result, a hang (``--timeout`` per input), memory past ``--rss-limit-mb``, or a
native crash. A well-formed input (right shapes and types, finite or huge values) must not raise at
all. libFuzzer stops a target at its first finding and writes the input to ``--artifacts``
(``crash-<sha1>``, ``timeout-...``, ``oom-...``); the script reports it and exits 1.

Each target runs in its own process (libFuzzer owns the process and exits it) from a fixed seed
corpus made here (copied to a temporary folder, where libFuzzer adds the inputs it finds
interesting), with libFuzzer's ``-seed``: the same command runs the same inputs. Coverage is that
of the Python code of ``mln_tf`` (and pycocotools for ``coco``); native code (OpenCV, LiteRT) is
not instrumented, so there the fuzzer mutates blindly.

``tflite``: LiteRT builds its interpreter without verifying the flatbuffer, and crashed the process
(SIGSEGV, in its XNNPACK delegate) or ran out of memory on mutated files, so ``load_runner`` checks
the file first (``mln_tf.tflite_file``). The check runs in the fuzzer's process (coverage-guided);
whatever passes it goes to ``load_runner`` in a helper process, so that a native crash or hang there
is recorded (``tflite-native-crash-<sha1>``, with the inputs before it, and whether it crashes alone)
and the helper restarted instead of the fuzzer dying. An input is a whole file when it has ``TFL3``
at byte 4, any bytes after an ``R``, else byte patches of the seed ``fuzz_seeds/tiny.tflite`` (8x8
input, the exporter's signature; ``--make-tflite-seed`` writes it again with TensorFlow), so that
about one input in six is a model LiteRT loads. The helper's address space is capped at 4 GiB, so that a
model asking LiteRT for gigabytes fails there (as LiteRT's error) instead of taking the machine's
memory; the fuzzer found one that took 13 GB and 24 s uncapped (``slow-unit``), now refused by the check.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = Path(__file__).resolve().parent / "fuzz_seeds"
TINY_TFLITE = SEEDS_DIR / "tiny.tflite"
DEFAULT_RUNS = 100_000
INSTRUMENTED = ("mln_tf", "pycocotools")
HELPER_MEMORY = 4 << 30  # address space of the tflite target's LiteRT process


class Finding(Exception):
    """The contract was broken (an error is expected, or a result is wrong)."""


def check(ok: bool, what: str) -> None:
    if not ok:
        raise Finding(what)


def expect_error(exc: BaseException, names: str | None = None) -> None:
    """A documented error: ValueError with a one-line message naming ``names`` (when given)."""
    message = str(exc)
    check(bool(message.strip()), f"{type(exc).__name__} with an empty message")
    check("\n" not in message.strip(), f"{type(exc).__name__} message is not one line: {message!r}")
    if names is not None:
        check(names in message, f"{type(exc).__name__} message does not name {names!r}: {message!r}")


# ---------------------------------------------------------------- fuzzed values

SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-30, 1e30, -1e30, 1e300, -1e300, 1.7e308, -1.7e308, 5e-324)
NONFINITE = (math.nan, math.inf, -math.inf)


def fuzz_float(fdp, lo: float, hi: float, special: float = 0.1, nonfinite: bool = True) -> float:
    """Mostly a value in [lo, hi]; sometimes an extreme one (huge, tiny, and NaN/inf when allowed)."""
    if fdp.ConsumeProbability() >= special:
        return lo + (hi - lo) * fdp.ConsumeProbability()
    choices = SPECIAL + (NONFINITE if nonfinite else ())
    return choices[fdp.ConsumeIntInRange(0, len(choices) - 1)]


# ---------------------------------------------------------------- decode_image


def seeds_decode_image() -> list[bytes]:
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    images = {
        ".png": [bgr, bgr[..., 0], np.dstack([bgr, bgr[..., :1]]), (bgr.astype(np.uint16) * 257)],
        ".jpg": [bgr, bgr[..., 0]],
        ".bmp": [bgr],
        ".webp": [bgr],
        ".tiff": [bgr, bgr.astype(np.float32) / 255],
        ".ppm": [bgr],
        ".pgm": [bgr[..., 0]],
        ".pfm": [bgr.astype(np.float32) / 255],
        ".hdr": [bgr.astype(np.float32) / 255],
    }
    seeds = []
    for ext, arrays in images.items():
        for array in arrays:
            try:
                ok, data = cv2.imencode(ext, array)
            except cv2.error:
                continue
            if ok:
                seeds.append(data.tobytes())
    jpg = seeds[4]
    seeds += [jpg[: len(jpg) // 2], seeds[0][:40], b"", b"not an image", b"\xa5" + bytes(range(64))]
    return seeds


def target_decode_image(workdir: Path) -> Callable[[bytes], None]:
    import atheris
    import numpy as np

    from mln_tf.inference import decode_image

    dtypes = (np.uint8, np.int8, np.uint16, np.int32, np.float32, np.float64, np.bool_)

    def one(data: bytes) -> None:
        if data[:1] == b"\xa5":  # an array, the other input decode_image documents
            fdp = atheris.FuzzedDataProvider(data[1:])
            dtype = dtypes[fdp.ConsumeIntInRange(0, len(dtypes) - 1)]
            shape = [fdp.ConsumeIntInRange(0, 40) for _ in range(fdp.ConsumeIntInRange(0, 3))]
            raw = fdp.ConsumeBytes(fdp.remaining_bytes())
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize
            buf = np.frombuffer((raw * (size // max(len(raw), 1) + 1))[:size] if raw else bytes(size), dtype)
            arg = buf.reshape(shape)
        else:
            arg = data
        try:
            image = decode_image(arg, "fuzz.img")
        except ValueError as exc:
            expect_error(exc, "fuzz.img")
            return
        check(isinstance(image, np.ndarray), f"returned {type(image)}")
        check(image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, f"image {image.dtype} {image.shape}")
        check(min(image.shape[:2]) >= 1 and image.flags.c_contiguous, f"image shape {image.shape}")

    return one


# ---------------------------------------------------------------- coco


def seeds_coco() -> list[bytes]:
    bundled = ROOT / "mln_tf" / "bundled"
    files = sorted(bundled.glob("coco_*_mini/*.json"))
    full = json.loads(files[0].read_text()) if files else {"images": [], "annotations": []}
    image = full["images"][0] if full["images"] else {"id": 1, "width": 64, "height": 48, "file_name": "a.jpg"}
    anns = [a for a in full.get("annotations", []) if a["image_id"] == image["id"]][:2]
    small = {"images": [image], "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
    kp = [10, 10, 2] * 17
    handmade = {
        "images": [{"id": 7, "width": 64, "height": 48, "file_name": "x.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "area": 300.0, "bbox": [1, 2, 20, 15],
             "num_keypoints": 17, "keypoints": kp},
            {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 1, "area": 0, "bbox": [0, 0, 0, 0],
             "num_keypoints": 0, "keypoints": [0] * 51},
        ],
    }  # fmt: skip
    return [
        json.dumps(small).encode(),
        json.dumps(handmade, separators=(",", ":")).encode(),
        b'{"images": [], "annotations": []}',
        b'{"images": [{"id": 1}], "annotations": [{"id": 1, "image_id": 2}]}',
        b"[1, 2, 3]",
        b'{"images": [{"id": NaN}], "annotations": [], "categories": {}}',
        b"\xff\xfe{\x00}\x00",
        b"",
    ]


def target_coco(workdir: Path) -> Callable[[bytes], None]:
    from mln_tf.evaluate import STAT_NAMES, evaluate_coco, load_coco

    path = workdir / "fuzz.json"

    def evaluate(gt) -> None:
        check(hasattr(gt, "getImgIds") and len(gt.getImgIds()) > 0, f"load_coco returned {type(gt)}")
        anns = list(gt.anns.values())[:8]
        results = [
            {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0} for a in anns
        ]
        stats = evaluate_coco(results, gt, verbose=False)
        for name in STAT_NAMES:
            check(isinstance(stats[name], float) and -1.0 <= stats[name] <= 1.0, f"{name} = {stats[name]!r}")
        check(0.0 <= stats["lr_confusion"] <= 1.0, f"lr_confusion = {stats['lr_confusion']!r}")

    def one(data: bytes) -> None:
        path.write_bytes(data)
        try:
            gt = load_coco(path)
        except ValueError as exc:
            expect_error(exc, "fuzz.json")
        else:
            evaluate(gt)
        try:  # the in-memory form: any JSON value
            value = json.loads(data)
        except (ValueError, RecursionError):
            return
        try:
            gt = load_coco(value)
        except ValueError as exc:
            expect_error(exc)
            return
        evaluate(gt)

    return one


# ---------------------------------------------------------------- tf_config


def seeds_tf_config() -> list[bytes]:
    good = {"cluster": {"worker": ["host0:2222", "host1:2222"]}, "task": {"type": "worker", "index": 1}}
    return [
        json.dumps(good).encode(),
        b'{"cluster": {"chief": ["a:1"], "worker": ["b:2", "[::1]:3"]}, "task": {"type": "chief", "index": 0}}',
        b'{"cluster": {"worker": ["localhost:99999"]}, "task": {"type": "worker", "index": 0}}',
        b'{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": "0"}}',
        b'{"cluster": {"worker": [1, null]}, "task": {"type": "worker", "index": 1.5}}',
        b'{"cluster": [], "task": []}',
        b"not json",
        b"",
    ]


def target_tf_config(workdir: Path) -> Callable[[bytes], None]:
    from mln_tf.train.setup import _port, tf_config_cluster

    def one(data: bytes) -> None:
        text = data.decode("utf-8", "replace").replace("\0", "")
        os.environ["TF_CONFIG"] = text
        try:
            result = tf_config_cluster()
        except ValueError as exc:
            expect_error(exc, "TF_CONFIG")
            return
        if not text:
            check(result is None, f"unset TF_CONFIG gave {result!r}")
            return
        check(isinstance(result, tuple) and len(result) == 2, f"returned {result!r}")
        addresses, me = result
        check(isinstance(addresses, dict) and me in addresses, f"returned {result!r}")
        for name, address in addresses.items():
            check(isinstance(name, str) and isinstance(address, str), f"address {name!r}: {address!r}")
            port = _port(address)
            check(isinstance(port, int) and 0 < port < 65536, f"port {port!r} of {address!r}")

    return one


# ---------------------------------------------------------------- tflite


def seeds_tflite() -> list[bytes]:
    tiny = TINY_TFLITE.read_bytes()
    patches = [
        b"P" + struct.pack("<HB", offset, 4) + value for offset, value in ((1088, b"\xff" * 4), (580, b"\x07\0\0\0"))
    ]
    raw = [b"R", b"RTFL3" * 4, b"Rjust some text, not a model", b"R" + tiny[:8]]
    return [tiny, tiny[: len(tiny) // 2], *raw, *patches]


def tflite_bytes(data: bytes, seed: bytes) -> bytes:
    """The file a fuzzed input stands for: itself when it looks like one (``TFL3`` at byte 4), any bytes
    after an ``R``, else patches of the seed model: (offset u16, length u8, bytes) each. Whole-file
    mutations rarely keep a flatbuffer LiteRT loads; patches keep most of it, so that LiteRT's own
    loading and checks get fuzzed too."""
    if data[4:8] == b"TFL3":
        return data
    if data[:1] == b"R":
        return data[1:]
    model, pos = bytearray(seed), 1
    while pos + 3 <= len(data):
        offset, length = struct.unpack_from("<HB", data, pos)
        value = data[pos + 3 : pos + 3 + length % 9]
        pos += 3 + len(value)
        offset %= len(model)
        model[offset : offset + len(value)] = value
    return bytes(model)


class TfliteHelper:
    """``load_runner`` in a child process: a native crash or a hang there is a finding, not the end."""

    def __init__(self, workdir: Path, timeout_s: float = 30.0, command: list[str] | None = None) -> None:
        self.folder, self.timeout_s = workdir, timeout_s
        self.command = command or [sys.executable, __file__, "--tflite-helper", str(workdir / "fuzz.tflite")]
        self.artifacts = workdir.parent  # where libFuzzer writes its findings too
        self.recent: list[bytes] = []
        self.proc: subprocess.Popen | None = None
        self.counts: dict[str, int] = {}

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )

    def load(self, data: bytes) -> str:
        """'ok', 'ValueError: ...', 'Other: ...', or 'native: ...' when the helper died or hung."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.recent = (self.recent + [data])[-8:]
        self.proc.stdin.write(struct.pack("<I", len(data)) + data)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout_s)
        line = self.proc.stdout.readline().decode(errors="replace").rstrip("\n") if ready else ""
        if line:
            line = json.loads(line)
            kind = line.split(":")[0].split(" ")[0]
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if sum(self.counts.values()) in (1, 10, 100) or sum(self.counts.values()) % 1000 == 0:
                print(f"tflite helper: {sum(self.counts.values())} passed the check and were loaded: {self.counts}")
            return line
        hung = not ready
        if hung:
            self.proc.kill()
        code = self.proc.wait()
        self.proc = None
        return self._record("hang" if hung else f"signal {-code}" if code < 0 else f"exit {code}")

    def _record(self, what: str) -> str:
        """Write the input (and those before it) as a native finding; find one that fails alone."""
        digest = hashlib.sha1(self.recent[-1]).hexdigest()
        alone = "crashes alone" if self._fails_alone(self.recent[-1]) else "only after the inputs before it"
        for k, data in enumerate(self.recent):
            name = f"tflite-native-crash-{digest}" + (
                "" if k == len(self.recent) - 1 else f".before{len(self.recent) - 1 - k}"
            )
            (self.artifacts / name).write_bytes(data)
        print(
            f"FINDING tflite: LiteRT {what} ({alone}): {self.artifacts / f'tflite-native-crash-{digest}'}", flush=True
        )
        return f"native: {what}"

    def _fails_alone(self, data: bytes) -> bool:
        path = self.folder / "alone.tflite"
        path.write_bytes(data)
        code = ["from mln_tf.runners import load_runner", f"try: load_runner({str(path)!r})", "except ValueError: pass"]
        try:
            done = subprocess.run([sys.executable, "-c", "\n".join(code)], capture_output=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            return True
        return done.returncode != 0


def tflite_helper(path: str) -> None:
    """The helper's loop: length-prefixed files on stdin, one line per file on stdout. Its memory is
    capped (``HELPER_MEMORY``), so that a model LiteRT would take gigabytes for dies (a finding)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (HELPER_MEMORY, HELPER_MEMORY))
    from mln_tf.runners import load_runner

    while True:
        head = sys.stdin.buffer.read(4)
        if len(head) < 4:
            return
        data = sys.stdin.buffer.read(struct.unpack("<I", head)[0])
        Path(path).write_bytes(data)
        try:
            runner = load_runner(path)
            shape = runner.input_hw
            ok = runner.kind == "tflite" and shape is not None and len(shape) == 2
            reply = f"ok {shape}" if ok else f"Finding: bad runner {runner!r}"
            del runner
        except ValueError as exc:
            reply = f"ValueError: {exc}"
        except Exception as exc:  # noqa: BLE001 - reported as a finding by the fuzzer's process
            reply = f"{type(exc).__name__}: {exc}"
        sys.stdout.write(json.dumps(reply) + "\n")  # one line, whatever the message holds
        sys.stdout.flush()


def target_tflite(workdir: Path) -> Callable[[bytes], None]:
    from mln_tf.tflite_file import check_tflite

    helper = TfliteHelper(workdir)
    seed = TINY_TFLITE.read_bytes()

    def one(data: bytes) -> None:
        data = tflite_bytes(data, seed)
        try:
            check_tflite(data, "fuzz.tflite")
        except ValueError as exc:
            expect_error(exc, "fuzz.tflite")
            return
        reply = helper.load(data)
        if reply.startswith(("ok", "native:")):
            return  # a native finding is recorded; the fuzzer goes on
        kind, _, message = reply.partition(": ")
        check(kind == "ValueError", f"load_runner raised {reply}")
        check(bool(message.strip()) and "\n" not in message.strip(), f"ValueError message: {message!r}")
        check("fuzz.tflite" in message, f"ValueError message does not name the file: {message!r}")

    return one


# ---------------------------------------------------------------- tracker


def seeds_random(count: int = 12, seed: int = 0, sizes=(16, 4096)) -> list[bytes]:
    import random

    rng = random.Random(seed)
    return [bytes(rng.randrange(256) for _ in range(rng.randint(*sizes))) for _ in range(count)]


def target_tracker(workdir: Path) -> Callable[[bytes], None]:
    import atheris
    import numpy as np

    from mln_tf.poses import Poses
    from mln_tf.tracking import MAX_COORD_PX, PoseTracker, SmoothingConfig, TrackerConfig

    def config(fdp) -> TrackerConfig:
        if fdp.ConsumeIntInRange(0, 3):
            return TrackerConfig()
        smoothing = None
        if fdp.ConsumeBool():
            smoothing = SmoothingConfig(*(fuzz_float(fdp, 0.0, 10.0, 0.05) for _ in range(4)))
        return TrackerConfig(
            min_similarity=fuzz_float(fdp, 0.0, 1.0, 0.05),
            min_shared_parts=fdp.ConsumeIntInRange(0, 19),
            part_threshold=fuzz_float(fdp, -1.0, 1.0, 0.05),
            max_age_ms=fuzz_float(fdp, 0.0, 5000.0, 0.05),
            max_tracks=fdp.ConsumeIntInRange(0, 8),
            velocity_cutoff=fuzz_float(fdp, 0.0, 20.0, 0.05),
            search_growth=fuzz_float(fdp, 0.0, 10.0, 0.05),
            smoothing=smoothing,
        )

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        try:
            tracker = PoseTracker(config(fdp))
        except ValueError as exc:
            expect_error(exc, "Config.")
            return
        people = fdp.ConsumeIntInRange(0, 5)
        base = np.array(
            [[fuzz_float(fdp, 0, 640, 0.02, False), fuzz_float(fdp, 0, 480, 0.02, False)] for _ in range(people)]
        )
        base = base.reshape(people, 2)
        shape = np.array([[fuzz_float(fdp, -60, 60, 0.02, False) for _ in range(2)] for _ in range(18)])
        t = fuzz_float(fdp, -1e3, 1e6, 0.05)
        for _ in range(fdp.ConsumeIntInRange(1, 8)):
            kp = np.zeros((people, 18, 3))
            kp[..., :2] = base[:, None, :] + shape[None] + fdp.ConsumeProbability() * 20
            kp[..., 2] = np.array([fdp.ConsumeProbability() for _ in range(people * 18)]).reshape(people, 18)
            for _ in range(fdp.ConsumeIntInRange(0, 4) if people else 0):  # extreme values anywhere
                kp[fdp.ConsumeIntInRange(0, people - 1), fdp.ConsumeIntInRange(0, 17), fdp.ConsumeIntInRange(0, 2)] = (
                    fuzz_float(fdp, -1e6, 1e6, 0.7)
                )
            scores = np.array([fdp.ConsumeProbability() for _ in range(people)], np.float32)
            kind = fdp.ConsumeIntInRange(0, 15)
            well_formed = kind < 12
            if kind < 6:
                arg: Any = Poses(kp.astype(np.float32), scores)
            elif kind < 11:
                arg = kp.astype([np.float32, np.float64][kind % 2])
            elif kind == 11:
                arg = kp.tolist() if people else np.zeros((0, 18, 3))
            elif kind == 12:
                arg = kp[:, :17] if people else np.zeros((2, 17, 3))
            elif kind == 13:
                arg = Poses(kp.astype(np.float32), np.zeros(people + 1, np.float32))
            elif kind == 14:
                arg = kp[..., :2] if people else np.zeros((1, 18))
            else:
                arg = "people"
            step = fuzz_float(fdp, -50, 200, 0.2)
            t = t + step if math.isfinite(step) else step
            before = np.asarray(arg.keypoints if isinstance(arg, Poses) else [] if kind == 15 else arg, np.float64)
            try:
                out = tracker.update(arg, t)
            except ValueError as exc:
                check(not well_formed, f"well-formed frame raised {exc!r}")
                expect_error(exc)
                continue
            check(well_formed, f"malformed frame ({kind}) gave {out!r}")
            check_tracked(out, before, scores if kind < 6 else None, tracker.config.part_threshold)

    def check_tracked(out, kp, scores, threshold: float) -> None:
        n = len(kp)
        check(isinstance(out, Poses) and len(out) == n, f"returned {out!r} for {n} people")
        check(
            out.keypoints.shape == (n, 18, 3) and out.keypoints.dtype == np.float32, f"keypoints {out.keypoints.shape}"
        )
        check(out.ids is not None and out.ids.shape == (n,) and out.ids.dtype == np.int64, f"ids {out.ids!r}")
        check(bool(np.isfinite(out.keypoints).all()), f"non-finite keypoints out: {out.keypoints}")
        tracked = out.ids[out.ids >= 0]
        check(len(set(tracked.tolist())) == len(tracked), f"an ID twice: {out.ids}")
        with np.errstate(invalid="ignore", over="ignore"):  # the documented rule (tracking.py, step 1)
            present = np.isfinite(kp.astype(np.float32)).all(-1) & (np.abs(kp[..., :2]) <= MAX_COORD_PX).all(-1)
            present &= np.nan_to_num(kp[..., 2], nan=-np.inf) > threshold
        check(bool((out.keypoints[~present] == 0).all()), "a missing part is not (0, 0, 0)")
        check(bool((out.keypoints[present][:, 2] == kp[present][:, 2].astype(np.float32)).all()), "part scores changed")
        if scores is not None:
            check(np.array_equal(out.scores, scores, equal_nan=True), "people's scores changed")

    return one


# ---------------------------------------------------------------- postprocess


def target_postprocess(workdir: Path) -> Callable[[bytes], None]:
    import atheris
    import numpy as np

    from mln_tf.grouping import GroupingConfig
    from mln_tf.inference import PostprocessConfig, Transform, postprocess
    from mln_tf.poses import Poses
    from mln_tf.targets import render_heatmaps, render_pafs

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        h, w = fdp.ConsumeIntInRange(1, 10), fdp.ConsumeIntInRange(1, 10)
        stride = 8 if fdp.ConsumeIntInRange(0, 3) else fdp.ConsumeIntInRange(1, 16)
        try:
            grouping = GroupingConfig()
            if not fdp.ConsumeIntInRange(0, 3):
                grouping = GroupingConfig(
                    peak_threshold=fuzz_float(fdp, -0.1, 1.0, 0.05),
                    smooth_sigma=fuzz_float(fdp, -0.5, 2.0, 0.05, False),
                    refine_peaks=fdp.ConsumeBool(),
                    max_peaks=fdp.ConsumeIntInRange(0, 70),
                    samples=fdp.ConsumeIntInRange(0, 20),
                    paf_threshold=fuzz_float(fdp, -0.5, 1.0, 0.05),
                    min_fraction=fuzz_float(fdp, -0.1, 1.1, 0.05),
                    distance_prior=fuzz_float(fdp, -1.0, 2.0, 0.05),
                    min_parts=fdp.ConsumeIntInRange(0, 19),
                    min_mean_score=fuzz_float(fdp, -1.0, 2.0, 0.05),
                )
            config = PostprocessConfig(grouping, upsample=fdp.ConsumeIntInRange(0, 3), stride=stride)
        except ValueError as exc:
            expect_error(exc)
            return
        consistent = fdp.ConsumeIntInRange(0, 4) > 0
        input_hw = (h * stride, w * stride)
        if consistent:
            content = (fdp.ConsumeIntInRange(1, input_hw[0]), fdp.ConsumeIntInRange(1, input_hw[1]))
            image = (fdp.ConsumeIntInRange(1, 2000), fdp.ConsumeIntInRange(1, 2000))
            spec = (image, input_hw, (content[1] / image[1], content[0] / image[0]), content)
        else:
            ints = [fdp.ConsumeIntInRange(-2, 100) for _ in range(6)]
            scale = (fuzz_float(fdp, 0, 4, 0.3), fuzz_float(fdp, 0, 4, 0.3))
            spec = ((ints[0], ints[1]), (ints[2], ints[3]), scale, (ints[4], ints[5]))
        try:
            transform = Transform(*spec)
        except ValueError as exc:
            check(not consistent, f"a consistent transform {spec} raised {exc!r}")
            expect_error(exc, "Transform")
            return
        n_hm = 19 if fdp.ConsumeIntInRange(0, 7) else fdp.PickValueInList([18, 17, 20, 38])
        n_pf = 38 if fdp.ConsumeIntInRange(0, 7) else fdp.PickValueInList([19, 36, 40])
        hm = np.zeros((h, w, n_hm), np.float32)
        pf = np.zeros((h, w, n_pf), np.float32)
        if fdp.ConsumeBool() and n_hm >= 18 and n_pf == 38:  # people drawn as the network would
            kp = np.zeros((fdp.ConsumeIntInRange(1, 3), 18, 3), np.float32)
            kp[..., 0] = [[fuzz_float(fdp, -4, input_hw[1] + 4, 0.0) for _ in range(18)] for _ in kp]
            kp[..., 1] = [[fuzz_float(fdp, -4, input_hw[0] + 4, 0.0) for _ in range(18)] for _ in kp]
            kp[..., 2] = [[2.0 * fdp.ConsumeBool() for _ in range(18)] for _ in kp]
            hm[..., :18] = render_heatmaps(kp, (h, w))[..., :18]
            pf[:] = render_pafs(kp, (h, w))
        else:  # anything
            values = [fuzz_float(fdp, -1.0, 2.0, 0.02, False) for _ in range(min(hm.size + pf.size, 400))]
            if values:
                flat = np.resize(np.asarray(values, np.float32), hm.size + pf.size)
                hm[:] = flat[: hm.size].reshape(hm.shape)
                pf[:] = flat[hm.size :].reshape(pf.shape)
        with np.errstate(over="ignore"):
            for _ in range(fdp.ConsumeIntInRange(0, 3)):  # extreme values
                maps = hm if fdp.ConsumeBool() else pf
                y, x = fdp.ConsumeIntInRange(0, h - 1), fdp.ConsumeIntInRange(0, w - 1)
                maps[y, x, fdp.ConsumeIntInRange(0, maps.shape[2] - 1)] = fuzz_float(fdp, -1e6, 1e6, 0.8)
        # postprocess reads the maps over the image only (the padding is cropped): finite there
        rows = -(-transform.content_hw[0] // stride)
        cols = -(-transform.content_hw[1] // stride)
        finite = bool(np.isfinite(hm[:rows, :cols]).all() and np.isfinite(pf[:rows, :cols]).all())
        shaped = n_hm in (18, 19) and n_pf == 38 and stride == config.stride
        well_formed = finite and shaped and (h, w) == (transform.input_hw[0] // stride, transform.input_hw[1] // stride)
        try:
            poses = postprocess(hm, pf, transform, config)
        except ValueError as exc:
            check(not well_formed, f"well-formed maps raised {exc!r}")
            expect_error(exc)
            return
        check(well_formed, f"bad maps (finite {finite}, shaped {shaped}) gave {poses!r}")
        check(isinstance(poses, Poses) and poses.ids is None, f"returned {poses!r}")
        p = len(poses)
        check(poses.keypoints.shape == (p, 18, 3) and poses.keypoints.dtype == np.float32, f"{poses.keypoints.shape}")
        check(poses.scores.shape == (p,) and bool(np.isfinite(poses.scores).all()), f"scores {poses.scores}")
        check(bool(np.isfinite(poses.keypoints).all()), "non-finite keypoints")
        present = poses.keypoints[..., 2] > 0
        check(bool((poses.keypoints[~present] == 0).all()), "a missing part is not (0, 0, 0)")
        check(bool((present.sum(-1) >= config.grouping.min_parts).all()), "a person with fewer than min_parts parts")
        if consistent and p:
            margin = (stride * config.upsample) / np.asarray(transform.scale)[::-1] + 1.0  # (y, x) a map pixel
            xy = poses.keypoints[present][:, :2]
            low, high = -margin[::-1], np.asarray(transform.image_hw[::-1]) + margin[::-1]
            check(bool(((xy >= low) & (xy <= high)).all()), f"parts outside the image {transform.image_hw}: {xy}")

    return one


# ---------------------------------------------------------------- the driver


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    make: Callable[..., Callable[[bytes], None]]
    seeds: Callable[[], list[bytes]]
    doc: str
    max_len: int = 4096
    timeout_s: int = 20
    tokens: tuple[bytes, ...] = ()  # libFuzzer's dictionary: pieces its mutations insert


JSON_TOKENS = (b"Infinity", b"-Infinity", b"NaN", b"null", b"true", b"false", b"1e400", b"-1", b"0.5", b"[]", b"{}")
JSON_TOKENS += tuple(b"[" * 40 for _ in range(1)) + (b'"', b":", b",")
COCO_TOKENS = JSON_TOKENS + tuple(
    f'"{key}"'.encode()
    for key in ("images", "annotations", "categories", "id", "image_id", "category_id", "keypoints",
                "num_keypoints", "area", "bbox", "iscrowd", "width", "height", "file_name")
)  # fmt: skip
TF_CONFIG_TOKENS = JSON_TOKENS + tuple(
    f'"{key}"'.encode() for key in ("cluster", "task", "type", "index", "worker", "chief", "ps", "host:1", ":65536")
)


TARGETS = {
    t.name: t
    for t in (
        Target("decode_image", target_decode_image, seeds_decode_image, "mln_tf.inference.decode_image"),
        Target("coco", target_coco, seeds_coco, "mln_tf.evaluate.load_coco + evaluate_coco", tokens=COCO_TOKENS),
        Target(
            "tf_config",
            target_tf_config,
            seeds_tf_config,
            "mln_tf.train.setup.tf_config_cluster",
            1024,
            tokens=TF_CONFIG_TOKENS,
        ),
        Target("tflite", target_tflite, seeds_tflite, "mln_tf.runners.load_runner on .tflite bytes", 3000, 60),
        Target("tracker", target_tracker, seeds_random, "mln_tf.tracking.PoseTracker.update", 2048),
        Target("postprocess", target_postprocess, seeds_random, "mln_tf.inference.postprocess", 4096),
    )
}


def make_target(name: str, artifacts: Path) -> Callable[[bytes], None]:
    """The target's one-input function; its scratch files go to a folder in ``artifacts``."""
    workdir = artifacts / f"{name}-scratch"
    workdir.mkdir(parents=True, exist_ok=True)
    return TARGETS[name].make(workdir)


def worker(name: str, libfuzzer_args: list[str], artifacts: Path) -> None:
    """This process is libFuzzer's: instrument mln_tf, build the target, fuzz; never returns."""
    import atheris

    with atheris.instrument_imports(include=list(INSTRUMENTED)):
        one = make_target(name, artifacts)
    atheris.Setup([sys.argv[0], *libfuzzer_args], one)
    atheris.Fuzz()


def replay(name: str, files: list[str]) -> int:
    """Run inputs without libFuzzer (a finding raises here, with its traceback)."""
    artifacts = Path(tempfile.mkdtemp(prefix="fuzz-replay-"))
    one = make_target(name, artifacts)
    for file in files:
        one(Path(file).read_bytes())
        print(f"{file}: no finding")
    native = sorted(artifacts.glob("*-native-*"))
    return 1 if native else 0


@dataclasses.dataclass
class Result:
    target: str
    runs: int
    seconds: float
    findings: list[str]
    log: str


def run_target(name: str, runs: int, seed: int, max_time: float | None, artifacts: Path, rss_limit_mb: int) -> Result:
    target = TARGETS[name]
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-corpus-"))
    for k, data in enumerate(target.seeds()):
        (corpus / f"seed{k:02d}").write_bytes(data)
    if target.tokens:
        dictionary = corpus.parent / f"{corpus.name}.dict"
        dictionary.write_text("".join('"' + "".join(f"\\x{c:02x}" for c in t) + '"\n' for t in target.tokens))
    log = artifacts / f"{name}.log"
    before = set(artifacts.iterdir())
    args = [
        f"-runs={runs}",
        f"-seed={seed}",
        f"-max_len={target.max_len}",
        f"-timeout={target.timeout_s}",
        f"-rss_limit_mb={rss_limit_mb}",
        f"-artifact_prefix={artifacts}/{name}-",
        "-print_final_stats=1",
        *([f"-max_total_time={int(max_time)}"] if max_time else []),
        *([f"-dict={dictionary}"] if target.tokens else []),
        str(corpus),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.call(
            [sys.executable, __file__, "--worker", name, "--artifacts", str(artifacts), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    seconds = time.perf_counter() - start
    shutil.rmtree(corpus, ignore_errors=True)
    if target.tokens:
        dictionary.unlink()
    text = log.read_text(errors="replace")
    executed = re.findall(r"stat::number_of_executed_units: (\d+)", text) or re.findall(r"Done (\d+) runs", text)
    new = sorted(set(artifacts.iterdir()) - before)
    findings = [str(p) for p in new if p.name.startswith(f"{name}-") and ".before" not in p.name and p.is_file()]
    if code != 0 and not any("-native-" not in f for f in findings):
        findings.append(f"exit status {code} (see {log})")
    return Result(name, int(executed[-1]) if executed else 0, seconds, findings, str(log))


def summary(text: str) -> str:
    """The first lines libFuzzer and atheris print about a finding."""
    keep = [
        line
        for line in text.splitlines()
        if re.search(r"Uncaught Python exception|Finding|Error|ERROR|FINDING|ALARM", line)
    ]
    return "\n".join(keep[:6])


def make_tflite_seed() -> None:
    """Write fuzz_seeds/tiny.tflite: an 8x8x3 float input, outputs heatmaps (1,1,1,19) and pafs (1,1,1,38)."""
    import tensorflow as tf

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32, name="image")])
        def serve(self, x):
            m = tf.reduce_mean(x, axis=[1, 2], keepdims=True)[:, :, :, :1]
            return {"heatmaps": tf.tile(m, [1, 1, 1, 19]) * 0.5, "pafs": tf.tile(m, [1, 1, 1, 38]) + 0.25}

    module = Tiny()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    SEEDS_DIR.mkdir(exist_ok=True)
    TINY_TFLITE.write_bytes(converter.convert())
    print(f"wrote {TINY_TFLITE} ({TINY_TFLITE.stat().st_size} bytes)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--tflite-helper"]:
        tflite_helper(argv[1])
        return 0
    if argv[:1] == ["--worker"]:
        artifacts = Path(argv[3])
        worker(argv[1], argv[4:], artifacts)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"targets to fuzz (default: all): {', '.join(TARGETS)}")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="inputs per target (default 10^5)")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed (default 1)")
    parser.add_argument("--max-time", type=float, default=None, help="stop each target after this many seconds")
    parser.add_argument("--artifacts", type=Path, default=None, help="where findings and logs go (default: a temp dir)")
    parser.add_argument("--rss-limit-mb", type=int, default=3072, help="memory of a target's process (finding above)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--replay", nargs="+", default=None, metavar="FILE", help="run these inputs of one target")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--make-tflite-seed", action="store_true", help="write fuzz_seeds/tiny.tflite (TensorFlow)")
    args = parser.parse_args(argv)
    if args.list:
        for t in TARGETS.values():
            print(f"{t.name:14s} {t.doc}")
        return 0
    if args.make_tflite_seed:
        make_tflite_seed()
        return 0
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    if args.replay is not None:
        if len(args.targets) != 1:
            parser.error("--replay needs exactly one target")
        return replay(args.targets[0], args.replay)
    artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix="fuzz-artifacts-"))
    artifacts.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.targets or list(TARGETS):
        result = run_target(name, args.runs, args.seed, args.max_time, artifacts, args.rss_limit_mb)
        results.append(result)
        status = "no finding" if not result.findings else f"{len(result.findings)} FINDING(S)"
        print(f"{name:14s} {result.runs:8d} inputs in {result.seconds:7.1f} s: {status}", flush=True)
        for finding in result.findings:
            print(f"    {finding}")
        if result.findings:
            print("    " + summary(Path(result.log).read_text(errors="replace")).replace("\n", "\n    "))
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1))
    print(f"artifacts and logs: {artifacts}")
    return 1 if any(r.findings for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
