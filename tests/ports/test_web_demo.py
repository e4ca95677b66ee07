"""The web demo (web_demo/): its JavaScript ports against the golden vectors (Node's test runner),
and the page itself in headless Chromium against mln_tf.inference on the same frames.

Skipped, with the reason, where this machine lacks Node, Debian's chromium or the npm packages
(``.ci/run`` installs them; ``make test`` runs ``npm ci`` first) - never passed without running.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web_demo"
SCREENSHOT = ROOT / "runs" / "web_demo" / "screenshot.png"
CAMERA_FRAMES = 4
MIN_OKS = 0.99


from mln_tf.bundled import VAL_DIR  # noqa: E402
from web_demo.tools import make_model, webcheck  # noqa: E402


def test_javascript_ports_match_golden_vectors():
    """node --test: the JS preprocess, resizes, grouping and postprocess reproduce the Python golden vectors."""
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed (apt-get install nodejs npm; .ci/run does it)")
    files = sorted(str(p.relative_to(WEB)) for p in (WEB / "test").glob("*.test.mjs"))
    assert len(files) >= 4, files
    done = subprocess.run(["node", "--test", *files], cwd=WEB, capture_output=True, text=True, timeout=300)
    summary = "\n".join(
        line for line in done.stdout.splitlines() if re.match(r"# (tests|pass|fail|.*parity|.*preprocess:)", line)
    )
    print(summary)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    counts = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", done.stdout, re.M))
    assert int(counts["fail"]) == 0 and int(counts["pass"]) >= 40, counts
    decoded = re.search(r"decoder parity over (\d+) cases", done.stdout)
    assert decoded and int(decoded.group(1)) >= 16, "the decode golden cases did not run"
    assert re.search(r"preprocess: \d+/(\d+) cases", done.stdout), "the preprocess golden cases did not run"
    tracked = re.search(r"tracking parity over (\d+) cases", done.stdout)
    assert tracked and int(tracked.group(1)) >= 7, "the tracking golden sequences did not run"


@pytest.fixture(scope="module")
def browser_run(tmp_path_factory, data_dir):
    """The default model exported, the page run on the bundled images and on fake-camera frames."""
    missing = webcheck.missing_tools()
    if missing:
        pytest.skip(f"browser test not run: {missing}")
    from mln_tf.inference import read_image
    from mln_tf.runners import load_runner

    kind = make_model.default_model()
    hw, stage = make_model.default_setting(kind)  # the camera operating point of the pretrained network
    model = make_model.make_model(kind, hw, stage=stage)
    make_model.write_default(model, kind, hw, stage)
    tmp = tmp_path_factory.mktemp("web")
    images = sorted((VAL_DIR).glob("*.jpg"))
    # Each image shown for two frames at 5 fps: whichever frames the page grabs, they hold people.
    frames = [webcheck.letterbox_frame(read_image(p)) for p in images for _ in range(2)]
    video = webcheck.write_y4m(tmp / "camera.y4m", frames)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with webcheck.serve() as url:
        out = webcheck.run_browser(
            url,
            tmp / "results.json",
            video=video,
            camera_frames=CAMERA_FRAMES,
            screenshot=SCREENSHOT,
            query="backend=wasm",
        )
    return {"kind": kind, "runner": load_runner(model), "out": out}


@pytest.mark.slow
def test_page_runs_the_tflite_like_python(browser_run):
    """Same pixels -> same network input and bit-identical maps (LiteRT.js WASM vs ai_edge_litert)."""
    out, runner = browser_run["out"], browser_run["runner"]
    assert out["crossOriginIsolated"] is True, "COOP/COEP headers missing: no two-thread WASM"
    assert out["state"]["backend"].startswith("WASM"), out["state"]
    assert not [m for m in out["messages"] if m["kind"] == "error"], out["messages"]
    frames = out["images"] + out["camera"]
    assert len(out["images"]) == 4 and len(out["camera"]) == CAMERA_FRAMES
    from mln_tf.inference import preprocess

    worst = 0.0
    for result in frames:
        rgb = webcheck.frame_rgb(result)
        _, t = preprocess(rgb, input_hw=runner.input_hw)
        page_t = result["transform"]
        assert (page_t["contentH"], page_t["contentW"]) == tuple(t.content_hw), result["source"]
        assert (page_t["scaleX"], page_t["scaleY"]) == tuple(t.scale), result["source"]
        check = webcheck.compare_frame(runner, result)
        worst = max(worst, check.map_max_diff)
    print(f"maps: max |LiteRT.js - ai_edge_litert| = {worst:g} over {len(frames)} frames")
    # what the page measured per frame (a report for the log, never a timed assertion: benchmarks/web_speed.py)
    names = ("preprocess", "network", "decode", "draw", "total")
    stages = [k for k in names if all(k in r.get("ms", {}) for r in frames)]
    if stages:
        medians = {k: statistics.median(r["ms"][k] for r in frames[1:]) for k in stages}
        per_stage = ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
        fps = f"; {1000 / medians['total']:.1f} FPS" if "total" in medians else ""
        print(f"page, {out['state']['backend']}, {runner.input_hw[0]}x{runner.input_hw[1]}: median ms {per_stage}{fps}")
    # preprocess is bit-exact for these shrinking resizes, and the WASM CPU kernels match
    # LiteRT's: identical inputs give identical maps.
    assert worst == 0.0


@pytest.mark.slow
def test_page_finds_the_same_people_as_python(browser_run):
    """Bundled images and fake-camera frames: same count, OKS >= 0.99 per person, and somebody found."""
    if browser_run["kind"] != "pretrained":
        pytest.skip(
            "the default model is a random network (no mln_tf.pretrained here): it finds nobody, "
            "so a people check would prove nothing"
        )
    out, runner = browser_run["out"], browser_run["runner"]
    checks = [webcheck.compare_frame(runner, r) for r in out["images"] + out["camera"]]
    print(f"{'frame':<28} {'page':>5} {'python':>6} {'min OKS':>8} {'max px':>8}")
    for c in checks:
        print(f"{c.source:<28} {c.people_page:>5} {c.people_python:>6} {c.min_oks:>8.4f} {c.keypoint_max_px:>8.2g}")
    assert all(c.people_page == c.people_python for c in checks), checks
    assert all(c.min_oks >= MIN_OKS for c in checks), checks
    assert sum(c.people_python for c in checks) >= 6, "too few people found for the check to mean anything"
    assert all(c.people_python > 0 for c in checks[-CAMERA_FRAMES:]), "a camera frame without people"
    # the camera is tracked (src/tracking.js): every person has an ID, and IDs carry over between frames
    camera = browser_run["out"]["camera"]
    assert all(len(r["track_ids"]) == len(r["people"]) for r in camera)
    ids = [set(r["track_ids"]) for r in camera]
    assert all(i >= 0 for s in ids for i in s) and any(a & b for a, b in zip(ids, ids[1:]))
    assert SCREENSHOT.is_file()


@pytest.mark.slow
def test_page_names_bad_input_and_keeps_working(tmp_path):
    """Missing model, a text file, a broken video, no camera, fp16 on an adapter without shader-f16."""
    missing = webcheck.missing_tools()
    if missing:
        pytest.skip(f"browser test not run: {missing}")
    kind = make_model.default_model()
    hw, stage = make_model.default_setting(kind)
    make_model.write_default(make_model.make_model(kind, hw, stage=stage), kind, hw, stage)
    with webcheck.serve() as url:
        out = webcheck.bad_input(url, tmp_path / "bad.json")
    assert out["missing_model_status"] == "no model"
    assert any("models/missing.tflite does not load: HTTP 404" in m for m in out["missing_model"]), out
    assert "no model loaded: cannot find people" in out["missing_model_sample"][-1]
    assert out["text_file"][-1] == "notes.txt is not an image this browser can decode"
    assert out["broken_video"][-1] == "clip.mp4 is not a video this browser can play"
    assert out["no_camera"][-1].startswith("No camera found")
    if kind == "pretrained":
        assert out["after"] == 5  # the page still finds the five skiers afterwards
    if out["fp16_backend"].startswith("WebGPU"):  # headless Chromium's SwiftShader adapter has no shader-f16
        assert any("lacks shader-f16" in m and "refused" in m for m in out["fp16"]), out["fp16"]
        assert out["fp16_backend"].endswith("fp32)")
    else:
        assert any("no WebGPU adapter" in m for m in out["fp16"]), out["fp16"]
