"""Export: SavedModel, TFLite (fp32/fp16/dynamic/int8/qat), GPU check and the on-device check.

A tiny MLN trained briefly on the four bundled val images (cached in pytest's cache, keyed by
the sources it depends on) gives real people, so "same people" is a claim that can fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import TRAIN, VAL, coco
from mln_tf import model as m
from mln_tf.cli import check_gpu, export_savedmodel, export_tflite
from mln_tf.cli import check_tflite as check_cli
from mln_tf.estimator import Estimator
from mln_tf.export import compare, gpu_check, saved_model, tflite
from mln_tf.export.models import float32_model, is_float32
from mln_tf.export.tflite_ops import precision, read_ops, unsupported_ops
from mln_tf.files import write_bytes_atomic, write_dir_atomic, write_file_atomic
from mln_tf.inference import normalize, preprocess, read_image
from mln_tf.runners import keras_runner, load_runner
from qat_batches import val_examples

SMALL_HW = (64, 96)
TRAINED_HW = (128, 192)  # the val images letterboxed: people span ~4-15 map pixels
TRAIN_STEPS, TRAIN_LR = 300, 3e-3
VAL_JSON = VAL / "person_keypoints.json"
ROOT = Path(__file__).resolve().parents[2]


def _pixels(hw, seed=0, batch=1):
    return np.random.default_rng(seed).integers(0, 256, (batch, *hw, 3)).astype(np.uint8)


def _max_diff(a, b):
    return max(float(np.abs(a[0] - b[0]).max()), float(np.abs(a[1] - b[1]).max()))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random-weight tiny MLN (any input size) saved as .keras."""
    keras.utils.set_random_seed(1)
    net = m.build_mln(m.MLNConfig.tiny())
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    net.save(path)
    return net, path


def _train_tiny(path: Path) -> None:
    """Overfit a tiny MLN to the four val images (eq. 3-4 losses on the real targets)."""
    from mln_tf.losses import pose_losses

    x, hm, pf = val_examples(TRAINED_HW)
    keras.utils.set_random_seed(0)
    net = m.build_mln(m.MLNConfig.tiny(), input_hw=TRAINED_HW)
    net.compile(keras.optimizers.Adam(TRAIN_LR), loss=pose_losses(net.output_names))
    y = {name: hm if name.endswith("heatmaps") else pf for name in net.output_names}
    net.fit(x, y, batch_size=4, epochs=TRAIN_STEPS, verbose=0)
    tmp = path.with_name(path.name + ".tmp.weights.h5")
    net.save_weights(tmp)
    os.replace(tmp, path)


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory):
    """(model, .keras path) of the briefly trained tiny MLN; the weights are cached across runs."""
    sources = [
        Path(mod.__file__).read_bytes()
        for mod in (m, __import__("mln_tf.targets").targets, __import__("mln_tf.losses").losses)
    ]
    key = hashlib.sha256(b"".join(sources) + repr((TRAINED_HW, TRAIN_STEPS, TRAIN_LR)).encode()).hexdigest()[:16]
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("mln_export")) if cache is not None else tmp_path_factory.mktemp("cache")
    weights = folder / f"tiny_trained_{key}.weights.h5"
    if not weights.is_file():
        _train_tiny(weights)
    net = m.build_mln(m.MLNConfig.tiny())
    net.load_weights(weights)
    path = tmp_path_factory.mktemp("trained") / "trained.keras"
    net.save(path)
    return net, path


@pytest.fixture(scope="module")
def trained_tflite(trained, tmp_path_factory):
    """The trained model as fp32, fp16 and int8 (calibrated on the bundled train images) .tflite."""
    net, _ = trained
    out = tmp_path_factory.mktemp("tflite")
    calibration = tflite.calibration_inputs(TRAIN, TRAINED_HW, count=36, progress=False)
    paths = {}
    for mode in ("fp32", "fp16", "int8"):
        result = tflite.export_tflite(
            net,
            out / f"trained_{mode}.tflite",
            mode,
            TRAINED_HW,
            calibration if mode == "int8" else None,
            progress=False,
        )
        paths[mode] = result.path
    return paths


# ---- SavedModel -------------------------------------------------------------------------


@pytest.mark.slow
def test_saved_model_serves_uint8_and_loads_with_tensorflow_only(tiny, tmp_path):
    net, _ = tiny
    path = saved_model.export_saved_model(net, tmp_path / "sm")
    pixels = _pixels((72, 104), batch=2)  # not the size traced anywhere: dynamic H, W
    np.save(tmp_path / "pixels.npy", pixels)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"f = tf.saved_model.load({str(path)!r}).signatures['serving_default']\n"
        f"out = f(image=tf.constant(np.load({str(tmp_path / 'pixels.npy')!r})))\n"
        f"np.savez({str(tmp_path / 'maps.npz')!r}, **{{k: v.numpy() for k, v in out.items()}})\n"
        "assert not [m for m in sys.modules if m.startswith(('mln_tf', 'export'))], 'imported our code'\n"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    maps = np.load(tmp_path / "maps.npz")
    expected = keras_runner(net)(normalize(pixels.astype(np.float32)))
    assert set(maps.files) == {"heatmaps", "pafs"} and maps["heatmaps"].shape == (2, 9, 13, 19)
    assert _max_diff((maps["heatmaps"], maps["pafs"]), expected) < 1e-5

    cli = Path(sys.executable).with_name("saved_model_cli")
    shown = subprocess.run(
        [str(cli), "show", "--dir", str(path), "--tag_set", "serve", "--signature_def", "serving_default"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    ).stdout
    assert "inputs['image']" in shown and "DT_UINT8" in shown and "(-1, -1, -1, 3)" in shown
    assert "outputs['heatmaps']" in shown and "outputs['pafs']" in shown


def test_saved_model_rejects_bad_images_clearly(tiny, tmp_path):
    import tensorflow as tf

    path = saved_model.export_saved_model(tiny[0], tmp_path / "sm")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 8"):
        serve(image=tf.constant(_pixels((60, 96))))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not compatible with expected shape \[\?,\?,\?,3\]"):
        serve(image=tf.constant(_pixels((64, 96))[0]))  # rank 3: would abort inside the conv
    with pytest.raises(tf.errors.InvalidArgumentError, match="uint8"):
        serve(image=tf.zeros((1, 64, 96, 3), tf.float32))
    with pytest.raises(ValueError, match="already exists"):
        saved_model.export_saved_model(tiny[0], path)


def test_saved_model_cli_fixed_size_and_summary(tiny, tmp_path, capsys):
    _, keras_path = tiny
    assert export_savedmodel.main([str(keras_path), str(tmp_path / "sm"), "--input", "64x96"]) == 0
    out = capsys.readouterr().out
    assert "(None, 64, 96, 3)" in out and "uint8" in out and "tensorflow/serving" in out
    assert load_runner(tmp_path / "sm").input_hw == SMALL_HW
    with pytest.raises(SystemExit) as exit_info:  # a usage error, found by argparse before anything loads
        export_savedmodel.main([str(keras_path), str(tmp_path / "sm2"), "--input", "64x90"])
    assert exit_info.value.code == 2 and "multiples of 8" in capsys.readouterr().err
    assert export_savedmodel.main([str(keras_path), str(tmp_path / "sm")]) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err


# ---- TFLite -----------------------------------------------------------------------------


def test_round_trip_keras_savedmodel_tflite_fp32_same_maps(tiny, tmp_path):
    net, _ = tiny
    x = normalize(_pixels(SMALL_HW, seed=3).astype(np.float32))
    keras_maps = keras_runner(net)(x)
    sm = load_runner(saved_model.export_saved_model(net, tmp_path / "sm"))
    result = tflite.export_tflite(net, tmp_path / "m.tflite", "fp32", SMALL_HW)
    lite = load_runner(result.path)
    assert lite.input_hw == SMALL_HW and precision(result.ops) == "fp32" and not unsupported_ops(result.ops)
    assert _max_diff(sm(x), keras_maps) < 1e-6
    assert _max_diff(lite(x), keras_maps) < 1e-5


def test_fixed_size_model_exports_at_other_sizes(tmp_path):
    fixed = m.build_mln(m.MLNConfig.tiny(), input_hw=(64, 64))
    x = normalize(_pixels(SMALL_HW).astype(np.float32))
    expected_net = m.build_mln(m.MLNConfig.tiny())
    expected_net.set_weights(fixed.get_weights())
    expected = keras_runner(expected_net)(x)
    sm = load_runner(saved_model.export_saved_model(fixed, tmp_path / "sm"))
    assert sm.input_hw is None and _max_diff(sm(x), expected) < 1e-6
    lite = tflite.export_tflite(fixed, tmp_path / "m.tflite", "fp32", SMALL_HW)
    assert _max_diff(load_runner(lite.path)(x), expected) < 1e-5


def test_mixed_float16_model_is_rebuilt_in_float32(tmp_path):
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = m.build_mln(m.MLNConfig.tiny())
    finally:
        keras.config.set_dtype_policy(policy)
    f32 = float32_model(mixed)
    assert not is_float32(mixed) and is_float32(f32) and float32_model(f32) is f32
    assert [layer.name for layer in f32.layers] == [layer.name for layer in mixed.layers]
    reference = m.build_mln(m.MLNConfig.tiny())
    reference.set_weights(mixed.get_weights())
    x = normalize(_pixels(SMALL_HW).astype(np.float32))
    assert _max_diff(keras_runner(f32)(x), keras_runner(reference)(x)) < 1e-6
    result = tflite.export_tflite(mixed, tmp_path / "mixed.tflite", "fp32", SMALL_HW)
    assert unsupported_ops(result.ops) == [] and precision(result.ops) == "fp32"  # no f16 Flex ops
    assert _max_diff(load_runner(result.path)(x), keras_runner(reference)(x)) < 1e-5


@pytest.mark.slow
def test_fp16_and_int8_maps_within_tolerance(trained, trained_tflite):
    """fp16: max |diff| <= 0.01. int8 (a tiny 8-16 channel net quantizes worse than the paper's):
    mean |diff| <= 0.02 and 99th percentile <= 0.2."""
    net, _ = trained
    gt = coco(VAL)
    reference = keras_runner(net)
    runners = {mode: load_runner(p) for mode, p in trained_tflite.items()}
    assert precision(read_ops(trained_tflite["fp16"])) == "fp16"
    assert precision(read_ops(trained_tflite["int8"])) == "int8"
    sizes = {mode: p.stat().st_size for mode, p in trained_tflite.items()}
    # int8 weights take a quarter of float32's bytes (names and int32 biases weigh more in a tiny net);
    # the layers the recipe keeps in float (how many depends on the measured errors) keep theirs:
    # the bound holds whichever layers those are
    float_weights = sum(
        4 * int(np.prod(t.shape))
        for op in read_ops(trained_tflite["int8"])
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D")
        for t in op.inputs
        if t.const and t.dtype == "float32"
    )
    assert sizes["fp16"] < 0.7 * sizes["fp32"]
    assert sizes["int8"] < 0.45 * sizes["fp32"] + float_weights, (sizes, float_weights)  # tiny: 0.375 with none
    diffs = {"fp16": [], "int8": []}
    for image_id in gt.getImgIds():
        x, _ = preprocess(read_image(VAL / gt.imgs[image_id]["file_name"]), input_hw=TRAINED_HW)
        ref = reference(x[None])
        for mode in diffs:
            out = runners[mode](x[None])
            diffs[mode].append(np.concatenate([np.abs(out[0] - ref[0]).ravel(), np.abs(out[1] - ref[1]).ravel()]))
    fp16, int8 = np.concatenate(diffs["fp16"]), np.concatenate(diffs["int8"])
    assert fp16.max() <= 0.01
    assert int8.mean() <= 0.02 and np.percentile(int8, 99) <= 0.2


@pytest.mark.slow
def test_same_people_after_grouping_fp32_fp16_and_int8_oks_floor(trained, trained_tflite):
    net, _ = trained
    reference = keras_runner(net)
    images = sorted(VAL.glob("*.jpg"))
    reports = {
        mode: compare.compare(Estimator(load_runner(p)), reference, images, VAL_JSON, progress=False)
        for mode, p in trained_tflite.items()
    }
    people = sum(r.people_reference for r in reports["fp32"].images)
    assert people >= 6, f"the trained tiny model finds only {people} people: the test would prove nothing"
    for mode in ("fp32", "fp16"):
        report = reports[mode]
        assert all(r.people_tflite == r.people_reference == r.matched for r in report.images), mode
        assert report.agreement == 1.0 and report.mean_oks >= 0.99, mode
        assert report.ap_tflite["AP"] == pytest.approx(report.ap_reference["AP"], abs=0.005), mode
    int8 = reports["int8"]
    assert int8.matched >= 0.6 * people and int8.mean_oks >= 0.8
    assert int8.ap_reference == reports["fp32"].ap_reference


@pytest.mark.slow
def test_dynamic_range_mode(trained, tmp_path):
    net, _ = trained
    result = tflite.export_tflite(net, tmp_path / "dyn.tflite", "dynamic", TRAINED_HW)
    assert precision(result.ops) == "dynamic"
    x, _ = preprocess(read_image(VAL / "000000000785.jpg"), input_hw=TRAINED_HW)
    assert _max_diff(load_runner(result.path)(x[None]), keras_runner(net)(x[None])) < 0.1


def test_tflite_cli_summary_and_clear_errors(tiny, tmp_path, capsys):
    _, keras_path = tiny
    out = tmp_path / "m.tflite"
    int8_args = [
        str(keras_path),
        str(out),
        "--mode",
        "int8",
        "--input",
        "64x96",
        "--calibration",
        str(TRAIN),
        "--calibration-images",
        "4",
        "--quiet",
    ]
    # A random-weight model finds nobody: agreement with it proves nothing, so the export refuses...
    assert export_tflite.main(int8_args) == 1
    assert "finds nobody on the calibration images" in capsys.readouterr().err and not out.exists()
    assert export_tflite.main(int8_args + ["--force"]) == 0  # ...unless forced, and then it says so
    captured = capsys.readouterr()
    text = captured.out
    assert "written with --force although" in captured.err
    assert (
        "CONV_2D" in text
        and re.search(r"precision +int8 weights and activations", text)
        and "MB" in text
        and "vs Keras" in text
    )
    assert "vs float (calibration)" in text and "float layers" in text
    assert load_runner(out).input_hw == SMALL_HW

    def fails(args, message, code=2):
        try:
            got = export_tflite.main([str(keras_path), str(tmp_path / "x.tflite"), *args])
        except SystemExit as exc:  # argparse's usage errors
            got = exc.code
        assert got == code
        assert message in capsys.readouterr().err
        assert not (tmp_path / "x.tflite").exists()

    fails(["--input", "100x100"], "multiples of 8")
    fails(["--input", "368"], "HEIGHTxWIDTH")
    fails(["--mode", "int8", "--input", "64x96"], "needs --calibration")
    fails(["--mode", "int8", "--input", "64x96", "--calibration", str(tmp_path / "none")], "not found")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.jpg").write_bytes(b"not a jpeg")
    fails(["--mode", "int8", "--input", "64x96", "--calibration", str(tmp_path / "bad")], "could be read")
    (tmp_path / "few").mkdir()
    for path in sorted(TRAIN.glob("*.jpg"))[:3]:
        (tmp_path / "few" / path.name).write_bytes(path.read_bytes())
    fails(["--mode", "int8", "--input", "64x96", "--calibration", str(tmp_path / "few")], "needs at least 4")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if not os.access(locked, os.W_OK):  # root writes anywhere: the check is then moot
            got = export_tflite.main([str(keras_path), str(locked / "x.tflite")])
            assert got == 2 and "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o755)
    assert export_tflite.main([str(keras_path), str(tmp_path / "missing" / "x.tflite")]) == 2
    assert "output folder does not exist" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello")
    assert export_tflite.main([str(tmp_path / "notes.txt"), str(tmp_path / "x.tflite")]) == 2
    assert "unsupported model file" in capsys.readouterr().err
    assert export_tflite.main([str(keras_path), str(tmp_path / "x.onnx")]) == 2
    assert "must be a .tflite" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"fixed 64x96 input"):
        load_runner(out)(normalize(_pixels((72, 96)).astype(np.float32)))


def test_non_pose_model_is_a_clear_error(tmp_path):
    inp = keras.Input((None, None, 3))
    plain = keras.Model(inp, keras.layers.Conv2D(4, 3)(inp))
    with pytest.raises(ValueError, match="not a pose model"):
        tflite.convert(plain, "fp32", SMALL_HW)
    with pytest.raises(ValueError, match="not a pose model"):
        saved_model.export_saved_model(plain, tmp_path / "sm")


def _model_with_cumprod():
    """A pose-shaped model with an op only TF Select (Flex) provides."""
    import tensorflow as tf

    class Cumprod(keras.layers.Layer):
        def call(self, x):
            return tf.math.cumprod(x, axis=-1)

    inp = keras.Input((None, None, 3), name="image")
    y = keras.layers.Conv2D(19, 3, padding="same")(inp)
    heatmaps = keras.layers.Activation("linear", name="heatmaps")(Cumprod()(y))
    pafs = keras.layers.Conv2D(38, 1, name="pafs")(y)
    return keras.Model(inp, {"heatmaps": heatmaps, "pafs": pafs})


def test_flex_ops_are_refused_unless_asked_and_fail_the_gpu_check(tmp_path, capsys):
    model = _model_with_cumprod()
    with pytest.raises(ValueError, match="Cumprod.*--allow-flex-ops"):
        tflite.export_tflite(model, tmp_path / "flex.tflite", "fp32", (16, 16))
    assert not (tmp_path / "flex.tflite").exists()
    result = tflite.export_tflite(model, tmp_path / "flex.tflite", "fp32", (16, 16), allow_flex_ops=True)
    assert unsupported_ops(result.ops) == ["FlexCumprod"]
    with pytest.raises(ValueError, match="FlexCumprod"):
        tflite.check_ops(result.path.read_bytes())
    with pytest.raises(ValueError, match="Flex delegate"):  # at load, not mid-run
        load_runner(result.path)
    assert check_gpu.main([str(result.path), "--no-run"]) == 1
    out = capsys.readouterr().out
    assert "NOT GPU-compatible" in out and "FlexCumprod" in out and "Flex (TF Select)" in out


def test_calibration_and_distillation_read_through_the_one_image_loop(tmp_path, caplog):
    """int8 calibration and QAT's self-distillation read images with mln_tf.images.iter_images: an
    unreadable file is skipped with the usual "skipping NAME: reason" warning, none readable is an error."""
    import logging

    from mln_tf.export.qat import QATConfig, distill_images

    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted(TRAIN.glob("*.jpg"))[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "zz_broken.jpg").write_bytes(b"not a jpeg")  # sorted last: among the first 3 files
    with caplog.at_level(logging.WARNING, logger="mln_tf.images"):
        inputs = tflite.calibration_inputs(folder, SMALL_HW, count=3, progress=False)
        assert len(inputs) == 2 and all(x.shape == (1, *SMALL_HW, 3) for x in inputs)
        assert len(tflite.calibration_inputs(folder, SMALL_HW, count=1, progress=False)) == 1  # the first files
        x = distill_images(QATConfig(images=str(folder), width="tiny"), SMALL_HW)
        assert x.shape == (4, *SMALL_HW, 3)  # two photos and their mirror images
    skipped = [r.getMessage() for r in caplog.records if "zz_broken.jpg" in r.getMessage()]
    assert len(skipped) == 2 and all(m.startswith("skipping ") and "corrupt" in m for m in skipped), skipped
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="none of the 1 calibration images .* could be read"):
        tflite.calibration_inputs(bad, SMALL_HW, progress=False)
    with pytest.raises(ValueError, match="no readable images"):
        distill_images(QATConfig(images=str(bad), width="tiny"), SMALL_HW)


def test_int8_prepares_the_float_side_once(tiny, monkeypatch):
    """The float64 reference network is built once per int8 export (mln_tf.export.int8.prepare) and
    serves both attempts (ranges, bias-correction means) and the final comparison; only the
    bias-corrected model, whose weights differ, gets a float64 copy of its own."""
    from mln_tf.export import int8, models

    net, _ = tiny
    calibration = tflite.calibration_inputs(VAL, SMALL_HW, count=4, progress=False)
    built = []
    real = models.float64_model
    monkeypatch.setattr(models, "float64_model", lambda model: built.append(model) or real(model))

    conversion = tflite.convert_int8(net, SMALL_HW, calibration, progress=False)  # the defaults: equalised
    assert sum(model is conversion.start for model in built) == 1 and conversion.start is not net
    monkeypatch.setattr(models, "float64_model", real)
    fresh = int8.float64_maps(conversion.start, conversion.samples)
    assert all(np.array_equal(a, b) for r, f in zip(conversion.reference, fresh) for a, b in zip(r, f))

    monkeypatch.setattr(models, "float64_model", lambda model: built.append(model) or real(model))
    built.clear()
    check = calibration[:2]
    options = int8.Int8Options(equalize=False, float_layers=())
    quantized = int8.quantized_export(net, "int8", SMALL_HW, calibration, progress=False, int8=options, check=check)
    assert len(built) == 2, built  # the prepared float model and the bias-corrected one: not one per use
    monkeypatch.setattr(models, "float64_model", real)
    again = compare.float_agreement(net, quantized.data, check, SMALL_HW)  # the float reference rebuilt
    assert quantized.agreement.heatmap_error == again.heatmap_error and quantized.agreement.people == again.people
    assert [r.oks for r in quantized.agreement.images] == [r.oks for r in again.images]


@pytest.mark.slow
def test_gpu_check_passes_our_models_and_compares_an_accelerator_run(trained_tflite, capsys):
    for mode, path in trained_tflite.items():
        assert gpu_check.check_ops(read_ops(path)) == [], mode  # fp16: DEQUANTIZE'd weights fold
    # The run check's machinery (child process, CompiledModel, comparison) on LiteRT's CPU
    # accelerator; whether a GPU adapter exists depends on the machine and is only reported.
    run = gpu_check.try_gpu(trained_tflite["fp32"], accelerator="cpu")
    assert run.ran and run.max_error < 1e-4
    assert check_gpu.main([str(trained_tflite["fp32"]), "--accelerator", "cpu"]) == 0
    assert "(within" in capsys.readouterr().out
    gpu = gpu_check.try_gpu(trained_tflite["fp32"])
    assert gpu.ran or gpu.detail  # either a GPU ran it or we were told why not


def test_gpu_check_constraints():
    from mln_tf.export.tflite_ops import OpInfo, TensorInfo

    def t(shape, dtype="float32", const=False, dynamic=False):
        return TensorInfo("t", dtype, shape, dynamic, const)

    x, w = t((1, 8, 8, 4)), t((4, 3, 3, 4), const=True)
    ok = OpInfo(0, 0, "CONV_2D", False, 1, (x, w), (x,))
    assert gpu_check.check_ops([ok]) == []
    bad = [
        OpInfo(1, 0, "CONV_2D", False, 1, (x, x, x), (x,)),
        OpInfo(2, 0, "GATHER_ND", False, 1, (x,), (x,)),
        OpInfo(3, 0, "RELU", False, 1, (t((1, 2, 8, 8, 4)),), (t((1, 2, 8, 8, 4)),)),
        OpInfo(4, 0, "RELU", False, 1, (t((1, 8, 8, 4), dynamic=True),), (x,)),
        OpInfo(5, 0, "ADD", False, 1, (x, t((8, 8, 4), "int32")), (x,)),
        OpInfo(6, 0, "ADD", False, 1, (x, t((2, 4))), (x,)),
        OpInfo(7, 0, "MyOp", True, 1, (x,), (x,)),
    ]
    reasons = {p.op_index: p.reason for p in gpu_check.check_ops(bad)}
    assert set(reasons) == {1, 2, 3, 4, 5, 6, 7}
    assert "runtime inputs" in reasons[1] and "documented" in reasons[2] and "4 dimensions" in reasons[3]
    assert "dynamic" in reasons[4] and "int32" in reasons[5] and "broadcast" in reasons[6] and "custom" in reasons[7]


# ---- the on-device check ----------------------------------------------------------------


@pytest.mark.slow
def test_check_tflite_cli_passes_and_fails_with_exit_status(trained, trained_tflite, tmp_path, capsys):
    _, keras_path = trained
    report_json = tmp_path / "report.json"
    args = ["--reference", str(keras_path), "--images", str(VAL), "--annotations", str(VAL_JSON), "--quiet"]
    assert check_cli.main([str(trained_tflite["fp16"]), *args, "--out", str(report_json)]) == 0
    out = capsys.readouterr().out
    assert "RESULT: PASS" in out and "COCO AP reference / tflite" in out and "median latency" in out
    report = json.loads(report_json.read_text())
    assert report["precision"] == "fp16" and report["failed"] == [] and len(report["images"]) == 4
    assert check_cli.main([str(trained_tflite["int8"]), *args, "--max-map-error", "1e-6"]) == 1
    assert "RESULT: FAIL: max map error" in capsys.readouterr().out


@pytest.mark.slow
def test_check_tflite_against_savedmodel_and_bad_images(trained, trained_tflite, tmp_path, capsys):
    net, _ = trained
    sm = saved_model.export_saved_model(net, tmp_path / "sm")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("000000000785.jpg", "000000040083.jpg"):
        (folder / name).write_bytes((VAL / name).read_bytes())
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8 truncated")
    code = check_cli.main([str(trained_tflite["fp32"]), "--reference", str(sm), "--images", str(folder)])
    captured = capsys.readouterr()
    assert code == 1 and "corrupt.jpg" in captured.out and "2 / 1" in captured.out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_cli.main([str(trained_tflite["fp32"]), "--reference", str(sm), "--images", str(empty)]) == 2
    assert "no images" in capsys.readouterr().err
    assert check_cli.main([str(sm), "--reference", str(sm), "--images", str(folder)]) == 2
    assert "not a .tflite" in capsys.readouterr().err
    # --images before the model path no longer swallows it (one path per --images)
    assert (
        check_cli.main(
            ["--images", str(folder), str(trained_tflite["fp32"]), "--reference", str(sm), "--limit", "1", "--quiet"]
        )
        == 0
    )


# ---- atomic writes ----------------------------------------------------------------------


def test_writes_are_atomic(tmp_path):
    target = write_bytes_atomic(tmp_path / "a.bin", b"old")
    folder = write_dir_atomic(tmp_path / "d", lambda p: (p / "f").write_text("old"))

    def broken(p):
        (p / "f").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_dir_atomic(folder, broken, overwrite=True)
    assert (folder / "f").read_text() == "old" and target.read_bytes() == b"old"
    write_dir_atomic(folder, lambda p: (p / "g").write_text("new"), overwrite=True)
    assert sorted(q.name for q in folder.iterdir()) == ["g"]
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a.bin", "d"]  # no temp files left


def test_atomic_writes_get_the_usual_modes_and_keep_suffixes(tmp_path):
    """Not mkstemp's private 0600: what open()/mkdir() would give; writers see the real suffix."""
    umask = os.umask(0o022)
    try:
        seen = []
        path = write_file_atomic(tmp_path / "m.weights.h5", lambda tmp: (seen.append(tmp.name), tmp.write_bytes(b"x")))
        folder = write_dir_atomic(tmp_path / "saved", lambda p: (p / "f").write_text("x"))
    finally:
        os.umask(umask)
    assert seen[0].endswith(".m.weights.h5") and seen[0] != "m.weights.h5"
    assert path.stat().st_mode & 0o777 == 0o644
    assert folder.stat().st_mode & 0o777 == 0o755


# ---- QAT ----------------------------------------------------------------------------------


def _check_qat_model(path: Path) -> None:
    ops = read_ops(path)
    assert precision(ops) == "int8" and not unsupported_ops(ops)
    heatmaps, pafs = load_runner(path)(normalize(_pixels(SMALL_HW).astype(np.float32)))
    assert heatmaps.shape == (1, 8, 12, 19) and pafs.shape == (1, 8, 12, 38) and np.isfinite(heatmaps).all()


@pytest.mark.slow
def test_qat_fine_tunes_and_converts(tiny, tmp_path, monkeypatch):
    """QAT in its tf_keras process on batches given through the --qat-data interface."""
    from mln_tf.export.qat import QATConfig

    net, _ = tiny
    here = Path(__file__).resolve().parent  # tests/export/qat_batches.py and the tests/helpers.py it imports
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(here), str(here.parent)]))
    qat = QATConfig(arch="mln", width="tiny", steps=2, batch_size=2, verbose=0, dataset="qat_batches:qat_batches")
    result = tflite.export_tflite(net, tmp_path / "qat.tflite", "qat", SMALL_HW, qat=qat)
    _check_qat_model(result.path)
    with pytest.raises(ValueError, match="not the mln architecture at width 'paper'"):
        tflite.export_tflite(
            net, tmp_path / "x.tflite", "qat", SMALL_HW, qat=QATConfig(arch="mln", width="paper", dataset=qat.dataset)
        )
    with pytest.raises(ValueError, match="'nowhere' not found"):
        tflite.export_tflite(
            net, tmp_path / "x.tflite", "qat", SMALL_HW, qat=QATConfig(width="tiny", dataset="nowhere:batches")
        )
    with pytest.raises(ValueError, match="--train-json"):
        QATConfig(width="tiny")


@pytest.mark.slow
def test_qat_on_the_coco_training_pipeline(tiny, tmp_path):
    """The default QAT data: mln_tf.data's training pipeline on the bundled COCO train images."""
    from mln_tf.export.qat import QATConfig

    net, _ = tiny
    qat = QATConfig(
        train_json=str(TRAIN / "person_keypoints.json"),
        train_images=str(TRAIN),
        arch="mln",
        width="tiny",
        steps=2,
        batch_size=2,
        verbose=0,
    )
    _check_qat_model(tflite.export_tflite(net, tmp_path / "qat.tflite", "qat", SMALL_HW, qat=qat).path)


@pytest.mark.slow
def test_qat_self_distillation_needs_only_images_and_is_compared_with_float(tiny, tmp_path):
    """--mode qat without labels: the float model's maps on photos are the targets; the result is
    compared with float on the photos, and a float model that finds nobody fails that check."""
    from mln_tf.export.qat import QATConfig

    net, _ = tiny
    calibration = tflite.calibration_inputs(VAL, SMALL_HW, count=4, progress=False)
    qat = QATConfig(images=str(VAL), arch="mln", width="tiny", steps=2, batch_size=2, verbose=0)
    out = tmp_path / "qat.tflite"
    with pytest.raises(ValueError, match="finds nobody on the calibration images"):
        tflite.export_tflite(net, out, "qat", SMALL_HW, calibration, qat=qat, min_agreement=0.8)
    assert not out.exists()
    with pytest.raises(ValueError, match="QAT image folder not found"):
        QATConfig(images=str(tmp_path / "none"), width="tiny")


def test_a_network_stopped_at_an_earlier_stage_gives_that_stages_maps(pretrained):
    """The operating points' graphs (benchmarks/operating_points.py): stage k's maps, less work, no retraining."""
    from mln_tf.export.models import at_stage, stages
    from mln_tf.inference import probe_input

    assert stages(pretrained) == [1, 2, 3, 4, 5, 6]
    x = probe_input((64, 80))
    full = pretrained(x, training=False)
    early = at_stage(pretrained, 2)
    maps = early(x, training=False)
    assert set(maps) == {"heatmaps", "pafs"} and len(early.layers) < len(pretrained.layers) / 2
    np.testing.assert_allclose(maps["heatmaps"], full["stage2_heatmaps"], atol=1e-6)
    np.testing.assert_allclose(maps["pafs"], full["stage2_pafs"], atol=1e-6)
    assert at_stage(pretrained, 6) is pretrained
    with pytest.raises(ValueError, match="has refinement stages 1..6, not stage 7"):
        at_stage(pretrained, 7)
