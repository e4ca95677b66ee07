"""Data that ships inside the package (licenses in README.md here): the pretrained network and
the real COCO images the demo and the tests run on. Paths work from a clone and from a wheel."""

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent
PRETRAINED_DIR = BUNDLED_DIR / "pretrained"
VAL_DIR = BUNDLED_DIR / "coco_val2017_mini"  # 4 COCO val2017 images, person_keypoints.json
TRAIN_DIR = BUNDLED_DIR / "coco_train2017_mini"  # 36 COCO train2017 images, person_keypoints.json
ANNOTATIONS = "person_keypoints.json"
