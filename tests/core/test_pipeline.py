"""The pipelined frame loop: the serial loop's results in its order, errors in place, no backlog, no hang."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mln_tf.bundled import VAL_DIR
from mln_tf.cli.demo_steps import moving_clip, write_video
from mln_tf.estimator import Estimator, EstimatorConfig
from mln_tf.inference import read_image
from mln_tf.pipeline import Pipeline
from mln_tf.stream import Failure, Frame, PoseStream, frames_from


def _slow_square(x: int) -> int:
    time.sleep(0.002 * (x % 3))  # uneven stage times
    return x * x


def _threads_left() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("mln-read", "mln-network")]


def test_results_come_in_order_and_passthrough_items_keep_their_place():
    pipe = Pipeline(_slow_square, passthrough=lambda x: x < 0)
    got = list(pipe.run([3, -1, 4, 5, -9, 6]))
    assert got == [(3, 9), (-1, None), (4, 16), (5, 25), (-9, None), (6, 36)]
    assert pipe.dropped == 0 and not _threads_left()


def test_errors_reach_the_caller_at_their_item():
    def stage(x):
        if x == 2:
            raise ValueError("bad item 2")
        return x

    got = []
    with pytest.raises(ValueError, match="bad item 2"):
        for item, _ in Pipeline(stage).run(range(5)):
            got.append(item)
    assert got == [0, 1]

    def source():
        yield 1
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="disk went away"):
        list(Pipeline(lambda x: x).run(source()))
    time.sleep(0.3)
    assert not _threads_left()


def test_closing_early_stops_the_threads():
    def endless():
        n = 0
        while True:
            yield n
            n += 1

    for item, _ in Pipeline(lambda x: x).run(endless()):
        if item == 10:
            break
    time.sleep(0.5)
    assert not _threads_left()


def test_a_live_source_faster_than_the_network_drops_old_frames_not_grows_a_queue():
    def stage(x):
        time.sleep(0.01)
        return x

    pipe = Pipeline(stage, live=lambda x: True, depth=2)
    got = [item for item, _ in pipe.run(range(200))]  # a source with no pause at all
    assert pipe.dropped > 100 and len(got) + pipe.dropped == 200
    assert got == sorted(got) and got[-1] == 199  # in order, and the latest frame is shown
    files = Pipeline(stage, depth=2)  # a file: nothing dropped, the reader waits
    assert [i for i, _ in files.run(range(30))] == list(range(30)) and files.dropped == 0
    with pytest.raises(ValueError, match="depth"):
        Pipeline(stage, depth=0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A short clip of a camera moving over five real people."""
    return write_video(
        tmp_path_factory.mktemp("clip") / "clip.mp4",
        moving_clip(read_image(VAL_DIR / "000000197388.jpg"), frames=8, hw=(240, 320)),
        12.0,
    )


def test_pipelined_stream_gives_the_serial_results_ids_and_order(clip, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    inputs = [clip, tmp_path / "broken.jpg", VAL_DIR / "000000000785.jpg"]
    estimator = Estimator.pretrained(config=EstimatorConfig(input_height=128))
    runs = {}
    for pipelined in (False, True):
        stream = PoseStream(estimator)
        runs[pipelined] = (
            [(f.source, f.index, p.keypoints, p.ids) for f, p in stream.run(frames_from(inputs), pipelined)],
            stream.failures.lines(),
        )
        assert len(stream.frame_ms) == 8  # timed as the serial loop: the first call apart
    (serial, serial_failed), (piped, piped_failed) = runs[False], runs[True]
    assert [s[:2] for s in serial] == [p[:2] for p in piped] and len(serial) == 9
    for s, p in zip(serial, piped):
        np.testing.assert_array_equal(s[2], p[2])
        np.testing.assert_array_equal(s[3], p[3])
    assert sum(len(s[2]) for s in serial[:8]) >= 16  # people found and tracked: the comparison says something
    assert serial_failed == piped_failed and "broken.jpg" in piped_failed[0]


def test_camera_frames_are_dropped_when_the_network_is_behind():
    rgb = np.zeros((64, 64, 3), np.uint8)

    class SlowEstimator:
        def maps(self, image):
            time.sleep(0.02)
            return ("maps",)

        def decode(self, maps):
            from mln_tf.poses import Poses

            return Poses.empty()

    frames = [Frame("camera0", "camera", k, rgb, k * 1.0) for k in range(100)]
    stream = PoseStream(SlowEstimator(), tracking=None)
    shown = [f.index for f, _ in stream.run(frames + [Failure("x.jpg", "unreadable")], pipelined=True)]
    assert stream.dropped > 50 and len(shown) + stream.dropped == 100 and shown[-1] == 99
    assert stream.failures.lines() == ["x.jpg: unreadable"]
