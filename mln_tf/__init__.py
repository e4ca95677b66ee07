"""mln_tf: the Multi-Level Network for bottom-up multi-person pose estimation, in Keras.

Submodules are imported on demand so that the NumPy-only parts (skeleton, targets,
grouping) load without TensorFlow.
"""
__version__ = "0.1.0"
