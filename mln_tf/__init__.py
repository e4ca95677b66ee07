"""mln_tf: the Multi-Level Network for bottom-up multi-person pose estimation, in Keras.

The Python API in three lines (the shipped COCO-trained network; any .keras, SavedModel or
.tflite file through ``Estimator.load``)::

    import mln_tf
    est = mln_tf.Estimator.pretrained()
    poses = est.estimate(mln_tf.read_image("photo.jpg"))
    overlay = mln_tf.draw_poses(mln_tf.read_image("photo.jpg"), poses)

and over a video, people keep their IDs (``poses.ids``) with smoothed keypoints::

    stream = mln_tf.PoseStream(est)
    for frame, poses in stream.run(mln_tf.frames_from(["clip.mp4"])):
        ...

The names of ``__all__`` are imported on first use, so ``import mln_tf`` stays fast and loads
no TensorFlow (a Keras or SavedModel runner does, when it is loaded). Importing the package
filters TensorFlow's start-up noise from its first import on (``mln_tf.console``;
``TF_CPP_MIN_LOG_LEVEL=0`` shows it).
"""

from importlib import import_module

from mln_tf.console import quiet_tensorflow as _quiet_tensorflow

__version__ = "0.2.0"  # the one place: pyproject.toml reads it

_LAZY = {  # public name -> the module that holds it
    "Estimator": "mln_tf.estimator",
    "EstimatorConfig": "mln_tf.estimator",
    "PostprocessConfig": "mln_tf.inference",
    "GroupingConfig": "mln_tf.grouping",
    "Poses": "mln_tf.poses",
    "read_image": "mln_tf.inference",
    "draw_poses": "mln_tf.draw",
    "write_image": "mln_tf.draw",
    "PoseStream": "mln_tf.stream",
    "frames_from": "mln_tf.stream",
    "camera_frames": "mln_tf.stream",
    "PoseTracker": "mln_tf.tracking",
    "TrackerConfig": "mln_tf.tracking",
    "load_runner": "mln_tf.runners",
    "evaluate_model": "mln_tf.evaluate",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    """Import a public name's module on first use."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mln_tf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_quiet_tensorflow()
