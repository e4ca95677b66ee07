"""Keras ``fit`` training of MLN and the OpenPose baseline on COCO keypoints."""

import mln_tf  # noqa: F401  (filters TensorFlow's start-up noise before anything imports it)
