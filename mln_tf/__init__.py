"""mln_tf: the Multi-Level Network for bottom-up multi-person pose estimation, in Keras.

Submodules are imported on demand so that the NumPy-only parts (skeleton, targets,
grouping, inference, the architecture registry's names) load without TensorFlow.
Importing the package filters TensorFlow's start-up noise from its first import on
(``mln_tf.console``; ``TF_CPP_MIN_LOG_LEVEL=0`` shows it).
"""

from mln_tf.console import quiet_tensorflow as _quiet_tensorflow

__version__ = "0.1.0"

_quiet_tensorflow()
