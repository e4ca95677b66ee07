"""Export of trained models: SavedModel for serving, TFLite for phones, and their checks."""

import mln_tf  # noqa: F401  (filters TensorFlow's start-up noise before anything imports it)
