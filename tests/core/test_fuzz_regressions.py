"""What the fuzzer (benchmarks/fuzz.py) found, one test each: the input, reduced by hand, and the
documented answer (a valid result or a one-line ValueError naming the file or variable)."""

from __future__ import annotations

import json
import logging
import math
import struct
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mln_tf import skeleton
from mln_tf.evaluate import evaluate_coco, load_coco
from mln_tf.grouping import GroupingConfig
from mln_tf.inference import Transform, decode_image, postprocess
from mln_tf.poses import Poses
from mln_tf.runners import load_runner
from mln_tf.tflite_file import check_tflite
from mln_tf.tracking import PoseTracker
from mln_tf.train.setup import _port, tf_config_cluster

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "benchmarks" / "fuzz_seeds" / "tiny.tflite"  # 8x8 input, outputs heatmaps and pafs


# ------------------------------------------------------------ decode_image


def test_an_array_that_is_not_bytes_is_a_value_error_not_an_opencv_assertion():
    for array in (np.arange(64, dtype=np.float32), np.zeros((4, 4), np.int16), np.array(3.0)):
        with pytest.raises(ValueError, match=r"cannot decode image file a\.png: expected its bytes \(uint8\)"):
            decode_image(array, "a.png")
    ok, png = cv2.imencode(".png", np.zeros((3, 5, 3), np.uint8))
    assert decode_image(png.reshape(-1, 1), "2-D bytes").shape == (3, 5, 3)  # uint8 in any shape is bytes


def test_a_png_chunk_claiming_gigabytes_is_refused_before_opencv_allocates_them():
    ok, png = cv2.imencode(".png", np.zeros((6, 8, 3), np.uint8))
    data = bytearray(png.tobytes())
    idat = data.index(b"IDAT") - 4
    data[idat : idat + 4] = struct.pack(">I", 3_556_770_097)  # the fuzzer's: OpenCV 5 took 3.5 GB for 247 bytes
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"cannot decode image file x\.png: a PNG chunk runs past the end"):
        decode_image(bytes(data), "x.png")
    assert time.perf_counter() - start < 1.0
    assert decode_image(png.tobytes(), "x.png").shape == (6, 8, 3)  # a whole PNG still decodes


# ------------------------------------------------------------ COCO annotations

IMAGE = {"id": 1, "width": 64, "height": 48, "file_name": "a.jpg"}
ANN = {"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 300.0, "bbox": [1, 2, 20, 15],
       "num_keypoints": 17, "keypoints": [10, 10, 2] * 17}  # fmt: skip


def test_an_annotation_file_that_is_not_utf8_or_nested_too_deep_is_named(tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"images": [{"id": 1, "file_name": "caf\xe9.jpg"}], "annotations": []}')
    with pytest.raises(ValueError, match=r"latin1\.json is not valid JSON"):  # was a bare UnicodeDecodeError
        load_coco(bad)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    with pytest.raises(ValueError, match=r"deep\.json is not valid JSON"):  # was RecursionError
        load_coco(deep)
    utf16 = tmp_path / "utf16.json"
    utf16.write_bytes(json.dumps({"images": [IMAGE], "annotations": [ANN]}).encode("utf-16"))
    assert load_coco(utf16).getImgIds() == [1]  # JSON's other encodings are read


@pytest.mark.parametrize(
    "images, anns, message",
    [
        ({"id": 1}, [], r"'images' and 'annotations' must be lists"),
        ([{"id": [1]}], [], r"images\[0\] must be an object with an integer 'id'"),  # was TypeError: unhashable
        ([{"id": 1, "height": "tall"}], [], r"image 1 has a bad height 'tall'"),
        ([IMAGE], [{"id": 5}], r"annotations\[0\] must be an object with integer 'id' and 'image_id'"),  # KeyError
        ([IMAGE], [{**ANN, "image_id": 2}], r"annotations\[0\] \(id 5\) is on image 2, which 'images' does not list"),
        ([IMAGE], [{**ANN, "keypoints": ["x"] * 51}], r"\(id 5\): 'keypoints' must be 51 numbers"),  # COCOeval
        ([IMAGE], [{**ANN, "keypoints": [math.nan] * 51}], r"'keypoints' must be 51 numbers"),
        ([IMAGE], [{**ANN, "keypoints": [1, 2, 2]}], r"'keypoints' must be 51 numbers"),  # was ValueError: reshape
        ([IMAGE], [{**ANN, "area": 10**400}], r"'area' must be a number >= 0"),
        ([IMAGE], [{k: v for k, v in ANN.items() if k != "num_keypoints"}], r"'num_keypoints' must be an integer"),
        ([IMAGE], [{**ANN, "bbox": None}], r"'bbox' must be 4 numbers"),  # was TypeError in COCOeval
        ([IMAGE], [{**ANN, "iscrowd": "no"}], r"'iscrowd' must be 0 or 1"),
    ],
)
def test_annotations_that_pycocotools_or_cocoeval_would_trip_on_are_one_clear_error(tmp_path, images, anns, message):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    with pytest.raises(ValueError, match=r"ann\.json.*" + message):
        load_coco(path)
    with pytest.raises(ValueError, match=message):
        load_coco({"images": images, "annotations": anns})


def test_an_integer_past_int64_in_keypoints_is_evaluated_as_a_number():
    keypoints = list(ANN["keypoints"])
    keypoints[20] = 28888888888888888888888888888888888888888888  # NumPy made an object array: TypeError in exp
    gt = load_coco({"images": [IMAGE], "annotations": [{**ANN, "keypoints": keypoints}]})
    results = [{"image_id": 1, "category_id": 1, "keypoints": ANN["keypoints"], "score": 1.0}]
    assert 0.0 <= evaluate_coco(results, gt, verbose=False)["AP"] <= 1.0


def test_category_and_crowd_flags_are_optional_as_in_coco():
    ann = {k: v for k, v in ANN.items() if k not in ("category_id", "iscrowd")}  # was KeyError: 'category_id'
    gt = load_coco({"images": [IMAGE], "annotations": [ann]})
    results = [{"image_id": 1, "category_id": 1, "keypoints": ANN["keypoints"], "score": 1.0}]
    assert evaluate_coco(results, gt, verbose=False)["AP"] == pytest.approx(1.0)


# ------------------------------------------------------------ TF_CONFIG


@pytest.mark.parametrize(
    "tf_config",
    [
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": Infinity}}',  # was OverflowError
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0.5}}',  # was taken as 0
        '{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}',  # was the address 'a'
        '{"cluster": {"worker": [7]}, "task": {"type": "worker", "index": 0}}',  # was AttributeError in _port
        '{"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker", "index": 0}}',  # was OverflowError in bind
        '{"cluster": {"worker": ["a:\u00b2"]}, "task": {"type": "worker", "index": 0}}',  # '²'.isdigit()
        "[" * 100_000,  # was RecursionError
    ],
)
def test_a_malformed_tf_config_is_one_value_error_naming_it(monkeypatch, tf_config):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match="TF_CONFIG") as info:
        tf_config_cluster()
    assert "\n" not in str(info.value)


def test_a_good_tf_config_gives_every_address_a_port(monkeypatch):
    cluster = {"chief": ["h0:2222"], "worker": ["h1:2223", "[::1]:2224"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    addresses, me = tf_config_cluster()
    assert me == "worker 1" and [_port(a) for a in addresses.values()] == [2222, 2223, 2224]


# ------------------------------------------------------------ .tflite files

# Each a byte patch of the tiny seed model that crashed LiteRT (SIGSEGV in its XNNPACK delegate,
# which reads a node's inputs before counting them), took 12 GB, or gave no message; found by the
# fuzzer (tflite target), now refused by mln_tf.tflite_file before LiteRT sees the file.
TFLITE_PATCHES = {
    "an operator's input -1 (optional) where the op needs one": (
        {1088: b"\xff\xff\xff\xff"},
        r"STRIDED_SLICE \(45\): its inputs\[1\] is tensor -1",
    ),
    "STRIDED_SLICE without inputs": ({1080: b"\x00"}, r"operator 1, STRIDED_SLICE \(45\), has 0 inputs"),
    "STRIDED_SLICE with 2 inputs": ({988: b"\x01"}, r"operator 2, STRIDED_SLICE \(45\), has 2 inputs"),
    "an operator without outputs": ({1072: b"\x00"}, r"has 4 inputs and 0 outputs"),
    "a tensor of 2^31 x 3 floats": (
        {1639: b"\x7d"},
        r"tensor 9 of shape \[1, 2097152001, 1, 3\] needs more than 1 GiB",
    ),
    "no subgraph": ({16: b"\x00", 18: b"\x00"}, r"no subgraph"),
    "an input of [1140850689, 67108870, 0, 3]: MEAN made 13 GB": (
        {2239: b"\x44", 2240: b"\x06", 2243: b"\x04", 2244: b"\x00"},
        r"tensor 0 of shape \[1140850689, 67108870, 0, 3\] needs more than 1 GiB",
    ),
    "TILE turned SPLIT without SplitOptions": ({2303: b"\xb0\xbc\x2a\xb0\x31"}, r"SPLIT \(49\), has options of type 0"),
    "an offset past the end": ({0: b"\x00\x00\xff\x00"}, r"model lies outside the file"),
}


def _patched(patch: dict[int, bytes]) -> bytes:
    data = bytearray(TINY.read_bytes())
    for offset, value in patch.items():
        data[offset : offset + len(value)] = value
    return bytes(data)


@pytest.mark.parametrize("case", list(TFLITE_PATCHES))
def test_a_damaged_tflite_is_refused_before_litert_reads_it(case):
    patch, message = TFLITE_PATCHES[case]
    with pytest.raises(ValueError, match=r"^m\.tflite is not a valid TFLite model: .*" + message):
        check_tflite(_patched(patch), "m.tflite")


def test_load_runner_on_the_crashing_files_raises_in_a_process_that_survives(tmp_path):
    """In a child process: before the check, these crashed the interpreter (signal 11)."""
    paths = []
    for k, (patch, _) in enumerate(TFLITE_PATCHES.values()):
        paths.append(tmp_path / f"crash{k}.tflite")
        paths[-1].write_bytes(_patched(patch))
    code = (
        "import sys\nfrom mln_tf.runners import load_runner\nfor p in sys.argv[1:]:\n"
        "    try:\n        load_runner(p)\n    except ValueError as e:\n        print('refused', p)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("refused") == len(paths)


def test_the_seed_and_shipped_models_pass_the_check_and_load(tmp_path):
    runner = load_runner(TINY)
    assert runner.input_hw == (8, 8)
    heatmaps, pafs = runner(np.zeros((1, 8, 8, 3), np.float32))
    assert heatmaps.shape == (1, 1, 1, 19) and pafs.shape == (1, 1, 1, 38)


def test_litert_messages_become_one_line_and_an_empty_one_says_so(tmp_path):
    # a constant (TILE's multiples) of 0x7fffffff: LiteRT fails to allocate with an empty message (was IndexError)
    path = tmp_path / "big.tflite"
    path.write_bytes(_patched({580: b"\xff\xff\xff\x7f"}))
    with pytest.raises(ValueError, match=r"big\.tflite with LiteRT: RuntimeError \(LiteRT gave no reason\)$"):
        load_runner(path)
    # an unknown builtin operator: LiteRT's message ends with a newline
    names = tmp_path / "names.tflite"
    data = bytearray(TINY.read_bytes())
    data[data.index(b"heatmaps")] = 0xFF  # a signature output name that is not UTF-8 (was UnicodeDecodeError)
    names.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"names\.tflite is not a valid TFLite model: .* is not UTF-8"):
        load_runner(names)


# ------------------------------------------------------------ tracker


def _person(x: float, y: float) -> np.ndarray:
    kp = np.zeros((skeleton.NUM_PARTS, 3))
    kp[:, 0] = x + np.arange(skeleton.NUM_PARTS) * 3.0
    kp[:, 1] = y + np.arange(skeleton.NUM_PARTS) * 5.0
    kp[:, 2] = 0.9
    return kp


def test_time_stamps_where_one_ms_more_is_the_same_number_keep_the_tracker_finite(caplog):
    tracker = PoseTracker()
    frame = np.stack([_person(100, 50), _person(300, 60)])
    rng = np.random.default_rng(0)
    with caplog.at_level(logging.WARNING, logger="mln_tf.tracking"):
        for t in (787075.96, 1.7e308, 1.7e308, 1.7e308, math.inf, -1e300, 40.0):  # NaN keypoints came out
            out = tracker.update(frame + rng.normal(0, 0.1, frame.shape), t)
            assert np.isfinite(out.keypoints).all() and list(out.ids) == [0, 1]
    assert tracker.time_ms == 787075.96 + 6  # each absurd or repeated stamp taken as 1 ms later


def test_parts_beyond_float32_or_a_billion_pixels_are_missing_not_infinite():
    tracker = PoseTracker()
    frame = np.stack([_person(100, 50)])
    tracker.update(frame, 0.0)
    bad = frame.copy()
    bad[0, 3, 0] = 1e300  # float64: inf as float32 (was inf out, then NaN in the track's state)
    bad[0, 4, 1] = -2e9
    bad[0, 5, 2] = 1e39  # a score past float32
    for t in (33.0, 66.0, 100.0):
        out = tracker.update(bad, t)
        assert np.isfinite(out.keypoints).all() and out.ids[0] == 0
        assert (out.keypoints[0, 3:6] == 0).all() and (out.keypoints[0, 6:, 2] > 0).all()
    assert np.isfinite(tracker.update(frame, 133.0).keypoints).all()


def test_a_sub_millisecond_step_does_not_send_the_velocity_to_infinity():
    tracker = PoseTracker()
    tracker.update(np.stack([_person(100, 50)]), 0.0)
    out = tracker.update(np.stack([_person(101, 50)]), 5e-324)  # 1 px in a denormal ms: the velocity was inf
    assert np.isfinite(tracker.velocity).all() and np.isfinite(out.keypoints).all()
    assert np.isfinite(tracker.update(np.stack([_person(100, 50)]), 40.0).keypoints).all()


def test_a_time_stamp_that_is_not_a_number_is_a_value_error():
    with pytest.raises(ValueError, match=r"t_ms must be a time stamp in ms, got None"):
        PoseTracker().update(Poses.empty(), None)


# ------------------------------------------------------------ postprocess


@pytest.mark.parametrize(
    "args, message",
    [
        (((10, 10), (8, 8), (0.0, 0.0), (8, 8)), r"scales must be positive"),  # put people at infinity
        (((10, 10), (8, 8), (math.nan, 1.0), (8, 8)), r"scales must be positive"),
        (((10, 10), (8, 8), (1.0, 1.0), (-3, 8)), r"sizes must be positive integers"),  # cropped maps to nothing
        (((10, 10), (8,), (1.0, 1.0), (8, 8)), r"sizes must be positive integers"),
    ],
)
def test_a_transform_the_ports_refuse_is_refused_here_too(args, message):
    with pytest.raises(ValueError, match=r"^Transform: .*" + message):
        Transform(*args)


def test_a_negative_peak_threshold_is_refused_since_a_part_scored_0_would_be_missing():
    # with -0.06 a zero-valued pixel was a peak: a person of 3 parts came out with 2 (score 0 = missing)
    with pytest.raises(ValueError, match="peak_threshold must be >= 0"):
        GroupingConfig(peak_threshold=-0.06)
    with pytest.raises(ValueError, match="peak_threshold must be >= 0"):
        GroupingConfig(peak_threshold=math.nan)


def test_postprocess_of_finite_but_absurd_maps_gives_finite_people():
    rng = np.random.default_rng(0)
    hm = rng.uniform(-1e6, 1e6, (3, 4, 19)).astype(np.float32)
    pf = rng.uniform(-1e6, 1e6, (3, 4, 38)).astype(np.float32)
    poses = postprocess(hm, pf, Transform((20, 30), (24, 32), (1.0, 1.0), (20, 30)))
    assert np.isfinite(poses.keypoints).all() and np.isfinite(poses.scores).all()
