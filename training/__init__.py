"""Keras ``fit`` training of MLN and the OpenPose baseline on COCO keypoints."""
