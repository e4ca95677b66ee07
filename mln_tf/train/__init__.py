"""Keras ``fit`` training of MLN and the OpenPose baseline on COCO keypoints.

``train(TrainConfig(...))`` runs one training (config.py: the run's settings; setup.py: model,
optimizer, strategy; callbacks.py: checkpoints, evaluation, TensorBoard; loop.py: ``train``;
report.py: its result). ``mln-pose train`` is the command line over it.
"""

import mln_tf  # noqa: F401  (filters TensorFlow's start-up noise before anything imports it)
from mln_tf.train.config import TrainConfig
from mln_tf.train.loop import train
from mln_tf.train.report import TrainResult, summary_table
from mln_tf.train.setup import build_model

__all__ = ["TrainConfig", "TrainResult", "build_model", "summary_table", "train"]
