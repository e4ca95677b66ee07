import keras
import numpy as np
import pytest

from mln_tf import model as m
from mln_tf import pretrained


@pytest.fixture(scope="module")
def tiny_mln():
    return m.build_mln(m.MLNConfig.tiny())


def test_mln_exact_paper_counts():
    net = m.build_mln()
    assert m.count_kernel_weights(net) == 21_278_912
    assert m.count_macs(net, (368, 432)) == pytest.approx(82.5e9, rel=1e-3)
    assert m.model_size_mb(net) == pytest.approx(85.2, abs=0.05)


def test_openpose_baseline_exact_paper_counts():
    net = m.build_openpose()
    assert m.count_kernel_weights(net) == 52_298_816
    assert m.count_macs(net, (368, 432)) == pytest.approx(159.6e9, rel=1e-3)
    assert m.model_size_mb(net) == pytest.approx(209.3, abs=0.1)


@pytest.mark.parametrize(
    "builder, config", [(m.build_mln, m.MLNConfig.tiny()), (m.build_openpose, m.OpenPoseConfig.tiny())]
)
def test_output_names_and_shapes_for_odd_valid_size(builder, config):
    net = builder(config)
    out = net(np.zeros((2, 200, 312, 3), np.float32))
    assert out["heatmaps"].shape == (2, 25, 39, 19) and out["pafs"].shape == (2, 25, 39, 38)
    expected = {"det_heatmaps", "det_pafs"} if builder is m.build_mln else {"stage1_heatmaps", "stage1_pafs"}
    assert set(out) == expected | {"heatmaps", "pafs"}
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in out.values())


def test_fixed_input_size_builds_and_counts_match_dynamic(tiny_mln):
    fixed = m.build_mln(m.MLNConfig.tiny(), input_hw=(64, 96))
    assert fixed.input.shape == (None, 64, 96, 3)
    assert m.count_kernel_weights(fixed) == m.count_kernel_weights(tiny_mln)
    assert m.count_macs(fixed, (64, 96)) == m.count_macs(tiny_mln, (64, 96))


def test_input_size_not_multiple_of_8_is_a_clear_error(tiny_mln):
    with pytest.raises(ValueError, match="multiples of 8"):
        tiny_mln(np.zeros((1, 201, 312, 3), np.float32))
    with pytest.raises(ValueError, match="multiples of 8"):
        m.build_mln(m.MLNConfig.tiny(), input_hw=(368, 430))
    with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
        m.parse_hw("368")


@pytest.mark.parametrize("channels", [1, 4])
def test_wrong_channel_count_is_a_clear_error(tiny_mln, channels):
    with pytest.raises(ValueError, match="3"):
        tiny_mln(np.zeros((1, 64, 64, channels), np.float32))


def test_mixed_precision_outputs_float32():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        net = m.build_mln(m.MLNConfig.tiny())
    finally:
        keras.config.set_dtype_policy(policy)
    assert net.get_layer("conv1_1").compute_dtype == "float16"
    out = net(np.zeros((1, 64, 64, 3), np.float32))
    assert {k: keras.backend.standardize_dtype(v.dtype) for k, v in out.items()} == dict.fromkeys(out, "float32")


def test_layer_names_are_shared_between_variants(tiny_mln):
    big = m.build_mln(m.MLNConfig.tiny(block_width=16))
    assert [layer.name for layer in big.layers] == [layer.name for layer in tiny_mln.layers]
    trunk = [layer.name for layer in m.build_openpose(m.OpenPoseConfig.tiny()).layers if layer.name.startswith("conv")]
    assert trunk[:3] == ["conv1_1", "conv2_1", "conv3_1"] and "conv4_4_CPM" in trunk


def test_saved_and_reloaded_model_is_identical(tmp_path, tiny_mln):
    path = tmp_path / "tiny.keras"
    tiny_mln.save(path)
    again = keras.models.load_model(path)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 32, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(again(x)["pafs"], tiny_mln(x)["pafs"], atol=1e-6)


def _vgg_file_for(net, tmp_path, fmt: str):
    """A VGG-19-style weights file with the trunk shapes of ``net``, in Keras naming."""
    rng = np.random.default_rng(0)
    arrays = {}
    for layer in net.layers:
        if layer.name.startswith("conv") and layer.name[4:5].isdigit() and "CPM" not in layer.name:
            g, i = layer.name[4:].split("_")
            arrays[f"block{g}_conv{i}"] = (
                rng.standard_normal(layer.kernel.shape).astype(np.float32),
                rng.standard_normal(layer.kernel.shape[-1]).astype(np.float32),
            )
    if fmt == "npz":
        path = tmp_path / "vgg.npz"
        np.savez(
            path, **{f"{k}/kernel": v[0] for k, v in arrays.items()}, **{f"{k}/bias": v[1] for k, v in arrays.items()}
        )
    else:  # the legacy Keras applications layout: one group per layer
        import h5py

        path = tmp_path / "vgg19_notop.h5"
        with h5py.File(path, "w") as f:
            for k, (kern, bias) in arrays.items():
                f.create_dataset(f"{k}/{k}_W_1:0", data=kern)
                f.create_dataset(f"{k}/{k}_b_1:0", data=bias)
    return path, arrays


@pytest.mark.parametrize("fmt", ["npz", "h5"])
def test_vgg19_init_from_local_file(tmp_path, fmt):
    net = m.build_mln(m.MLNConfig.tiny())
    path, arrays = _vgg_file_for(net, tmp_path, fmt)
    loaded = pretrained.load_vgg19_trunk(net, path, input_convention="mln")
    assert loaded == ["conv1_1", "conv2_1", "conv3_1", "conv3_2", "conv4_1"]
    np.testing.assert_array_equal(net.get_layer("conv3_2").kernel.numpy(), arrays["block3_conv2"][0])


def test_vgg19_caffe_preprocessing_is_folded_exactly(tmp_path):
    net = m.build_mln(m.MLNConfig.tiny())
    path, arrays = _vgg_file_for(net, tmp_path, "npz")
    pretrained.load_vgg19_trunk(net, path)  # default: Keras/Caffe ImageNet convention
    rgb = np.random.default_rng(1).integers(0, 256, (1, 8, 8, 3)).astype(np.float32)
    ours = keras.ops.conv(rgb / 256 - 0.5, net.get_layer("conv1_1").kernel, padding="valid")
    ours = ours + net.get_layer("conv1_1").bias
    kern, bias = arrays["block1_conv1"]
    caffe = keras.ops.conv(rgb[..., ::-1] - pretrained.IMAGENET_MEAN_BGR, kern, padding="valid") + bias
    np.testing.assert_allclose(np.asarray(ours), np.asarray(caffe), rtol=1e-4, atol=1e-3)


def test_vgg19_init_errors_name_the_problem(tmp_path):
    net = m.build_mln(m.MLNConfig.tiny())
    with pytest.raises(FileNotFoundError, match="not found"):
        pretrained.load_vgg19_trunk(net, tmp_path / "nope.h5")
    path, arrays = _vgg_file_for(
        m.build_mln(m.MLNConfig.tiny(trunk_widths=((8,), (16,), (16, 24), (32,)))), tmp_path, "npz"
    )
    with pytest.raises(ValueError, match="conv3_2"):
        pretrained.load_vgg19_trunk(net, path)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="cannot read"):
        pretrained.load_vgg19_trunk(net, bad)


def test_named_widths_are_the_one_definition():
    """'paper' is the paper's network, 'small'/'tiny' shrink it; unknown names are clear errors."""
    assert m.named_config("mln") == m.MLNConfig()
    assert m.named_config("openpose", "paper") == m.OpenPoseConfig()
    assert m.named_config("mln", "small") == m.MLNConfig.small()
    assert m.named_config("openpose", "tiny") == m.OpenPoseConfig.tiny()
    small = m.build_mln(m.named_config("mln", "small"))
    assert m.count_kernel_weights(small) < m.count_kernel_weights(m.build_mln()) / 10
    with pytest.raises(ValueError, match="'small' exists for arch 'mln' only"):
        m.named_config("openpose", "small")
    with pytest.raises(ValueError, match="unknown width 'huge'"):
        m.named_config("mln", "huge")
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        m.named_config("resnet")
