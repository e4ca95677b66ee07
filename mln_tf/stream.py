"""Frames in, poses out: images, folders, videos and cameras through one loop, usable from Python.

    from mln_tf.estimator import Estimator
    from mln_tf.stream import PoseStream, frames_from

    stream = PoseStream(Estimator.load("model.tflite"))
    for frame, poses in stream.run(frames_from(["photos/", "clip.mp4"])):
        print(frame.source, frame.index, len(poses), poses.ids)  # ids: video/camera track IDs

:func:`frames_from` reads image files, folders of images/videos and video files;
:func:`camera_frames` reads an OpenCV capture device (``0``) or stream URL. Inputs that cannot
be read are reported in :attr:`PoseStream.failures` (``mln_tf.images.BadFiles``) and skipped.
:class:`ResultWriter` writes what ``mln-pose infer`` writes (OpenPose JSON per image or frame,
overlays, an overlay video per video), atomically; :class:`LiveWindow` shows frames on a
display. Video and camera frames are tracked and smoothed (``mln_tf.tracking``) unless
``PoseStream(tracking=None)``. Timing is per frame, with the first call (which traces the
graph) kept apart. No TensorFlow is imported here.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

import numpy as np

from mln_tf.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, collect_files
from mln_tf.grouping import Poses
from mln_tf.images import BadFiles
from mln_tf.pipeline import Pipeline
from mln_tf.tracking import PoseTracker, TrackerConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """One RGB frame: ``source`` is the file or camera, ``index`` the frame number in it."""

    source: str
    kind: str  # "image", "video" or "camera"
    index: int
    rgb: np.ndarray = field(repr=False)
    time_ms: float = 0.0  # videos: index / fps; cameras: capture time since the first frame


@dataclass(frozen=True)
class Failure:
    """An input that gave no frame, and why."""

    source: str
    reason: str


def image_frame(path: str | Path) -> Frame | Failure:
    """The one frame of an image file, or the reason it cannot be read."""
    from mln_tf.inference import read_image

    try:
        return Frame(str(path), "image", 0, read_image(path))
    except ValueError as exc:
        return Failure(str(path), str(exc))


def open_capture(source: int | str | Path, kind: str = "video"):
    """An opened ``cv2.VideoCapture`` of a video file, camera index or stream URL; ValueError if none."""
    import cv2

    # OpenCV logs each backend it tries ([ WARN ] can't open camera by index ...); our error says it once.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not capture.isOpened():
        capture.release()
        if kind == "camera" and "://" in str(source):
            raise ValueError(f"cannot open stream {source}: unreachable, or a protocol this OpenCV cannot read")
        if kind == "camera":
            raise ValueError(
                f"cannot open camera {source!r}: no such device, or it is busy "
                "(try another index, e.g. --camera 1, or a stream URL)"
            )
        raise ValueError(f"cannot open video {source}")
    return capture


def capture_frames(capture, source: str, kind: str, limit: int | None = None) -> Iterator[Frame]:
    """Frames of an opened capture until it ends (or ``limit`` frames); releases it at the end.

    Time stamps: a video file's frame index over its frame rate (never the wall clock, so an
    offline run gives the same result however fast it runs); a camera's capture time.
    """
    import cv2

    fps = (capture.get(cv2.CAP_PROP_FPS) or 25.0) if kind == "video" else None
    try:
        index = 0
        start = time.monotonic()
        while limit is None or index < limit:
            ok, bgr = capture.read()
            if not ok:
                break
            t_ms = index * 1000.0 / fps if fps else (time.monotonic() - start) * 1000.0
            yield Frame(source, kind, index, np.ascontiguousarray(bgr[:, :, ::-1]), t_ms)
            index += 1
    finally:
        capture.release()


def camera_source(device: int | str) -> str:
    """The name a camera's frames carry: ``camera0`` for an index, else the device path or URL."""
    return f"camera{device}" if str(device).isdigit() else str(device)


def camera_frames(device: int | str, limit: int | None = None) -> Iterator[Frame]:
    """Frames of a camera (index such as 0, device path or stream URL); ValueError if it does not open."""
    source = int(device) if str(device).isdigit() else str(device)
    capture = open_capture(source, "camera")  # opened now, so a missing camera fails before any work
    return capture_frames(capture, camera_source(device), "camera", limit)


def video_info(path: str | Path) -> tuple[int | None, float]:
    """(frame count or None, frames per second) of a video file."""
    import cv2

    capture = open_capture(path)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        return count, capture.get(cv2.CAP_PROP_FPS) or 25.0
    finally:
        capture.release()


def frames_from(inputs: Iterable[str | Path], limit: int | None = None) -> Iterator[Frame | Failure]:
    """Frames of image files, video files and folders of them (folders: sorted, not recursive).

    A missing input or a folder without images/videos is a ValueError before any frame;
    a file that cannot be decoded yields a :class:`Failure`. ``limit``: at most that many
    frames in all.
    """
    files = collect_files(inputs, IMAGE_SUFFIXES | VIDEO_SUFFIXES, what="images or videos")
    return _frames(files, limit)


def _frames(files: list[Path], limit: int | None) -> Iterator[Frame | Failure]:
    left = limit
    for path in files:
        if left is not None and left <= 0:
            return
        if path.suffix.lower() in VIDEO_SUFFIXES:
            try:
                capture = open_capture(path)
            except ValueError as exc:
                yield Failure(str(path), str(exc))
                continue
            import cv2

            expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
            count = 0
            for frame in capture_frames(capture, str(path), "video", left):
                count += 1
                yield frame
            if count == 0:
                yield Failure(str(path), f"no decodable frames in video {path}")
            elif expected and count < expected and (left is None or count < left):
                yield Failure(
                    str(path),
                    f"video {path.name} ends after {count} of its {expected} frames (truncated or damaged); "
                    f"the {count} frames read are written",
                )
            if left is not None:
                left -= count
        else:
            yield image_frame(path)
            if left is not None:
                left -= 1


@dataclass
class PoseStream:
    """Runs an ``Estimator`` (a model and how it runs) over frames: ``run(frames)`` yields (frame, poses).

    Video and camera frames are tracked (``mln_tf.tracking``: IDs in ``poses.ids``, smoothed
    keypoints) with ``tracking`` (None: each frame alone), one tracker per source; images
    are not. ``failures`` collects unreadable inputs; ``first_ms`` is the first call (graph
    tracing and warm-up), ``frame_ms`` every later call, so that latency excludes the warm-up.
    """

    estimator: object  # mln_tf.estimator.Estimator (imported lazily: it may load TensorFlow's runners)
    tracking: TrackerConfig | None = field(default_factory=TrackerConfig)
    failures: BadFiles = field(default_factory=BadFiles)
    first_ms: float | None = None
    frame_ms: list[tuple[str, float]] = field(default_factory=list)  # (source, ms) after the first call
    tracks: dict[str, int] = field(default_factory=dict)  # source -> track IDs started
    dropped: int = 0  # camera frames dropped by a pipelined run while the network was behind
    _tracker: tuple[str, PoseTracker] | None = field(default=None, repr=False)

    def estimate(self, rgb: np.ndarray, source: str = "") -> Poses:
        """People in one RGB frame (timed)."""
        start = time.perf_counter()
        poses = self.estimator.estimate(rgb)
        self._timed(source, (time.perf_counter() - start) * 1e3)
        return poses

    def _timed(self, source: str, ms: float) -> None:
        if self.first_ms is None:
            self.first_ms = ms
        else:
            self.frame_ms.append((source, ms))

    def run(self, frames: Iterable[Frame | Failure], pipelined: bool = False) -> Iterator[tuple[Frame, Poses]]:
        """(frame, poses) for every readable frame; failures are logged and kept in ``failures``.

        ``pipelined``: read the next frame and decode, track (and whatever the caller does with
        the result) the previous one while the network runs (``mln_tf.pipeline``): the same
        results, in the same order, sooner. A camera's frames are dropped, and counted in
        ``dropped``, when the network falls behind.
        """
        if not pipelined:
            for item in frames:
                if isinstance(item, Failure):
                    self.failures.add(item.source, item.reason)
                    continue
                poses = self.estimate(item.rgb, item.source)
                yield item, self.track(item, poses)
            return
        pipe = Pipeline(
            self._network,
            passthrough=lambda item: isinstance(item, Failure),
            live=lambda item: isinstance(item, Frame) and item.kind == "camera",
        )
        try:
            for item, result in pipe.run(frames):
                if isinstance(item, Failure):  # passed through the network stage, result None
                    self.failures.add(item.source, item.reason)
                    continue
                maps, network_ms = result
                start = time.perf_counter()
                poses = self.estimator.decode(maps)
                self._timed(item.source, network_ms + (time.perf_counter() - start) * 1e3)
                yield item, self.track(item, poses)
        finally:
            self.dropped += pipe.dropped

    def _network(self, frame: Frame) -> tuple[tuple, float]:
        """The network's maps of one frame and their ms (run in the pipeline's network thread)."""
        start = time.perf_counter()
        maps = self.estimator.maps(frame.rgb)
        return maps, (time.perf_counter() - start) * 1e3

    def track(self, frame: Frame, poses: Poses) -> Poses:
        """``poses`` with track IDs and smoothed keypoints for video/camera frames (a new tracker per source)."""
        if self.tracking is None or frame.kind == "image":
            return poses
        if self._tracker is None or self._tracker[0] != frame.source:
            self._tracker = (frame.source, PoseTracker(self.tracking))
        tracker = self._tracker[1]
        tracked = tracker.update(poses, frame.time_ms)
        self.tracks[frame.source] = tracker.next_id
        return tracked

    def median_ms(self, source: str | None = None) -> float:
        """Median per-frame latency after the first call, of one source or all (NaN if none)."""
        ms = [v for s, v in self.frame_ms if source is None or s == source]
        return float(np.median(ms)) if ms else float("nan")


@dataclass
class SourceStats:
    """What one input gave: frames, people, and the files written for it."""

    source: str
    kind: str
    frames: int = 0
    people: int = 0
    written: list[str] = field(default_factory=list)


def unique_name(source: str, used: set[str]) -> str:
    """The output name of ``source`` (its stem; ``_2``, ``_3`` when taken), added to ``used``.

    Every writer of per-image results (``ResultWriter``, the Beam pipeline) names them so:
    two ``x.jpg`` in different folders never overwrite each other, and both paths agree.
    """
    stem = PurePosixPath(source).stem if not source.startswith("camera") else source
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}_{n}"
    used.add(name)
    return name


class ResultWriter:
    """Writes OpenPose JSON (and overlays) per image and per video/camera frame, atomically.

    Images: ``OUT/<stem>_keypoints.json`` and ``OUT/<stem>_pose.jpg``. Videos and cameras:
    ``OUT/<stem>/<stem>_<frame>_keypoints.json`` (``person_id`` = track ID) and
    ``OUT/<stem>_pose.mp4`` (coloured by track ID). Names that
    repeat (two ``a.jpg`` in different folders) get ``_2``, ``_3``.
    """

    def __init__(self, out: str | Path, overlay: bool = True, label_ids: bool = True) -> None:
        self.out = Path(out)
        self.overlay = overlay
        self.label_ids = label_ids  # draw track IDs above tracked people
        self.stats: dict[str, SourceStats] = {}
        self._names: dict[str, str] = {}
        self._used: set[str] = set()
        self._video = None  # (source, cv2.VideoWriter, temporary path, final path)

    def _name(self, source: str) -> str:
        if source not in self._names:
            self._names[source] = unique_name(source, self._used)
        return self._names[source]

    def _paths(self, name: str, image: bool) -> tuple[Path, Path]:
        """(the JSON file of an image or the JSON folder of a video/camera, its overlay)."""
        if image:
            return self.out / f"{name}_keypoints.json", self.out / f"{name}_pose.jpg"
        return self.out / name, self.out / f"{name}_pose.mp4"

    def planned(self, sources: Iterable[str]) -> list[Path]:
        """The files and folders a run over ``sources`` writes (to find results already there)."""
        names = ResultWriter(self.out, self.overlay)
        paths = []
        for source in sources:
            results, overlay = self._paths(names._name(source), Path(source).suffix.lower() in IMAGE_SUFFIXES)
            paths += [results, overlay] if self.overlay else [results]
        return paths

    def write(self, frame: Frame, poses: Poses) -> None:
        """Write the results of one frame."""
        from mln_tf.draw import draw_poses, write_image
        from mln_tf.files import write_json_atomic
        from mln_tf.outputs import openpose_json

        name = self._name(frame.source)
        stats = self.stats.setdefault(frame.source, SourceStats(frame.source, frame.kind))
        stats.frames += 1
        stats.people += len(poses)
        self.out.mkdir(parents=True, exist_ok=True)
        results, overlay = self._paths(name, frame.kind == "image")
        if frame.kind == "image":
            stats.written.append(str(write_json_atomic(results, openpose_json(poses))))
            if self.overlay:
                write_image(overlay, draw_poses(frame.rgb, poses, label_ids=self.label_ids))
                stats.written.append(str(overlay))
            return
        json_path = results / f"{name}_{frame.index:06d}_keypoints.json"
        write_json_atomic(json_path, openpose_json(poses))
        stats.written.append(str(json_path))
        if self.overlay:
            self._video_frame(frame, name).write(
                draw_poses(frame.rgb, poses, label_ids=self.label_ids)[:, :, ::-1].copy()
            )

    def _video_frame(self, frame: Frame, name: str):
        import cv2

        if self._video is not None and self._video[0] != frame.source:
            self._finish_video()
        if self._video is None:
            fps = video_info(frame.source)[1] if frame.kind == "video" else 15.0
            final = self._paths(name, image=False)[1]
            tmp = final.with_name(f".{name}_pose.tmp.mp4")
            writer = cv2.VideoWriter(
                str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.rgb.shape[1], frame.rgb.shape[0])
            )
            self._video = (frame.source, writer, tmp, final)
        return self._video[1]

    def _finish_video(self) -> None:
        source, writer, tmp, final = self._video
        self._video = None
        writer.release()
        if tmp.is_file() and tmp.stat().st_size > 0:
            os.replace(tmp, final)
            self.stats[source].written.append(str(final))
        else:
            tmp.unlink(missing_ok=True)

    def close(self) -> None:
        """Finish an overlay video in progress (renamed into place only now)."""
        if self._video is not None:
            self._finish_video()

    def files_written(self) -> int:
        """How many files were written in all."""
        return sum(len(s.written) for s in self.stats.values())


def display_available() -> bool:
    """True when a window can be shown: a display is set and this OpenCV build has a GUI."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2

    try:
        cv2.namedWindow("mln-pose")
        cv2.destroyWindow("mln-pose")
    except cv2.error:  # opencv-python-headless: no highgui
        return False
    return True


class LiveWindow:
    """A window showing each frame with its people; ``show`` returns False when q or Esc was pressed."""

    def __init__(self, title: str = "mln-pose") -> None:
        self.title = title

    def show(self, frame: Frame, poses: Poses) -> bool:
        """Draw and show one frame."""
        import cv2

        from mln_tf.draw import draw_poses

        cv2.imshow(self.title, draw_poses(frame.rgb, poses)[:, :, ::-1])
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def close(self) -> None:
        """Close the window."""
        import cv2

        cv2.destroyWindow(self.title)
