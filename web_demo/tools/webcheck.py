"""The web demo checked against Python: serve the page, drive it in headless Chromium, compare.

Used by ``tests/test_web_demo.py`` and ``benchmarks/web_speed.py``:

* :func:`missing_tools` says what is missing to run the page here (Node, Debian's chromium,
  the npm packages), so callers skip with that reason instead of passing;
* :func:`write_y4m` makes the fake-camera video from images;
* :func:`serve` runs ``web_demo/serve.mjs`` (COOP/COEP headers) on 127.0.0.1;
* :func:`run_browser` runs ``web_demo/tools/browser_run.mjs`` and returns the page's results;
* :func:`compare_frame` runs ``mln_tf.inference`` on the very pixels the page used and compares
  the network input (via the maps), the maps and the people (count, OKS).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web_demo"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
sys.path.insert(0, str(ROOT))


def chromium_path() -> str:
    """The browser binary: $CHROMIUM or Debian's /usr/bin/chromium."""
    return os.environ.get("CHROMIUM", DEFAULT_CHROMIUM)


def missing_tools() -> str | None:
    """Why the page cannot be run here (a sentence), or None when Node, Chromium and the packages are there."""
    if shutil.which("node") is None:
        return "Node.js is not installed (apt-get install nodejs npm; .ci/run does it)"
    if not Path(chromium_path()).is_file():
        return f"no Chromium at {chromium_path()} (apt-get install chromium; .ci/run does it)"
    for package in ("playwright-core", "@litertjs/core"):
        if not (WEB / "node_modules" / package / "package.json").is_file():
            return f"web_demo/node_modules/{package} is missing (run `make web-deps`, i.e. npm ci in web_demo)"
    return None


def write_y4m(path: Path, frames: Sequence[np.ndarray], fps: int = 5) -> Path:
    """RGB uint8 frames (same even size) -> a YUV 4:2:0 .y4m (cv2's RGB->I420), for Chromium's fake camera."""
    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"y4m frames need an even size, got {h}x{w}")
    import cv2

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode())
        for rgb in frames:
            if rgb.shape != (h, w, 3):
                raise ValueError(f"all frames must be {h}x{w}x3, got {rgb.shape}")
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    os.replace(tmp, path)
    return path


def letterbox_frame(rgb: np.ndarray, hw: tuple[int, int] = (480, 640)) -> np.ndarray:
    """An image fitted into a camera-sized frame (grey borders), for the fake camera."""
    import cv2

    h, w = rgb.shape[:2]
    s = min(hw[0] / h, hw[1] / w)
    ch, cw = min(hw[0], round(h * s)), min(hw[1], round(w * s))
    out = np.full(hw + (3,), 128, np.uint8)
    y, x = (hw[0] - ch) // 2, (hw[1] - cw) // 2
    out[y : y + ch, x : x + cw] = cv2.resize(rgb, (cw, ch), interpolation=cv2.INTER_AREA)
    return out


@contextlib.contextmanager
def serve(timeout: float = 20.0) -> Iterator[str]:
    """Run web_demo/serve.mjs on a free 127.0.0.1 port; yields its URL; stops it afterwards."""
    proc = subprocess.Popen(
        ["node", str(WEB / "serve.mjs"), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("serving "):
            proc.kill()
            raise RuntimeError(f"serve.mjs did not start: {line} {proc.stderr.read()}")
        yield line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_browser(
    url: str,
    out: Path,
    *,
    video: Path | None = None,
    camera_frames: int = 0,
    screenshot: Path | None = None,
    query: str = "",
    images: Sequence[str] | None = None,
    repeat: int = 1,
    pixels: bool = True,
    webgpu: bool = False,
    timeout: float = 300.0,
) -> dict:
    """Drive the page with web_demo/tools/browser_run.mjs; returns its JSON (state, images, camera, messages)."""
    cmd = ["--camera-frames", str(camera_frames), "--repeat", str(repeat)]
    if video is not None:
        cmd += ["--video", str(video)]
    if screenshot is not None:
        cmd += ["--screenshot", str(screenshot)]
    if query:
        cmd += ["--query", query]
    if images:
        cmd += ["--images", ",".join(images)]
    if not pixels:
        cmd.append("--no-pixels")
    if webgpu:
        cmd.append("--webgpu")
    return _browser_run(url, out, cmd, timeout)


def bad_input(url: str, out: Path, timeout: float = 180.0) -> dict:
    """The page's messages for a missing model, a text file, a broken video, no camera, fp16 without shader-f16."""
    return _browser_run(url, out, ["--bad-input", "--webgpu"], timeout)


def _browser_run(url: str, out: Path, args: list[str], timeout: float) -> dict:
    """Run web_demo/tools/browser_run.mjs on ``url`` with ``args`` in headless Chromium; its JSON from ``out``."""
    cmd = ["node", str(WEB / "tools" / "browser_run.mjs"), "--url", url, "--out", str(out)]
    cmd += args + ["--chromium", chromium_path()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"browser run failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return json.loads(out.read_text())


def frame_rgb(result: dict) -> np.ndarray:
    """The RGB pixels (H, W, 3) the page ran on."""
    data = np.frombuffer(base64.b64decode(result["rgb"]), np.uint8)
    return data.reshape(result["height"], result["width"], 3)


def frame_maps(result: dict) -> tuple[np.ndarray, np.ndarray]:
    """The raw network maps the page got: heatmaps (h, w, C), pafs (h, w, 38)."""
    h, w = result["maps"]["hw"]
    hm = np.frombuffer(base64.b64decode(result["maps"]["heatmaps"]), "<f4").reshape(h, w, -1)
    pf = np.frombuffer(base64.b64decode(result["maps"]["pafs"]), "<f4").reshape(h, w, -1)
    return hm, pf


def page_poses(result: dict):
    """The page's people as an mln_tf Poses."""
    from mln_tf.grouping import Poses

    people = result["people"]
    if not people:
        return Poses.empty()
    kp = np.array([p["keypoints"] for p in people], np.float32)
    return Poses(kp, np.array([p["score"] for p in people], np.float32))


@dataclass(frozen=True)
class FrameCheck:
    """One frame: the browser against Python on the same pixels."""

    source: str
    people_page: int
    people_python: int
    min_oks: float  # over Python's people (1.0 when both found nobody)
    map_max_diff: float  # |browser maps - LiteRT Python maps|, same input
    keypoint_max_px: float  # over matched people's common keypoints


def compare_frame(runner, result: dict) -> FrameCheck:
    """Run mln_tf.inference on the page's pixels and compare maps and people with the page's."""
    from mln_tf.estimator import Estimator
    from mln_tf.export.compare import match_people
    from mln_tf.inference import predict_maps

    rgb = frame_rgb(result)
    hm, pf, _ = predict_maps(runner, rgb)
    map_diff = float("nan")
    if "maps" in result:
        # predict_maps zeroes the maps beyond the image content (the padding); compare the content.
        t = result["transform"]
        rows, cols = -(-t["contentH"] // 8), -(-t["contentW"] // 8)
        bhm, bpf = frame_maps(result)
        map_diff = float(max(np.abs(bhm - hm)[:rows, :cols].max(), np.abs(bpf - pf)[:rows, :cols].max()))
    ours = Estimator(runner).estimate(rgb)
    theirs = page_poses(result)
    pairs = match_people(ours, theirs)
    oks = {r: o for r, _, o in pairs}
    min_oks = min((oks.get(i, 0.0) for i in range(len(ours))), default=1.0)
    if len(theirs) != len(ours):
        min_oks = min(min_oks, 0.0)
    px = 0.0
    for r, c, _ in pairs:
        a, b = ours.keypoints[r], theirs.keypoints[c]
        both = (a[:, 2] > 0) & (b[:, 2] > 0)
        if both.any():
            px = max(px, float(np.abs(a[both, :2] - b[both, :2]).max()))
    return FrameCheck(result["source"], len(theirs), len(ours), float(min_oks), map_diff, px)
