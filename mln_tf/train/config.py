"""The training run's configuration: paper 3.2 defaults and :class:`TrainConfig` (one frozen value)."""

from __future__ import annotations

import dataclasses
import json
import signal
from dataclasses import dataclass, field

from mln_tf.data import AugmentConfig
from mln_tf.model import ARCHITECTURES, ARCHS, WIDTHS

PAPER_LR = 6e-5
PAPER_MOMENTUM = 0.9
PAPER_WEIGHT_DECAY = 5e-4
PAPER_BATCH = 28
# CMU OpenPose's Caffe solver (the paper trains with it): lr x 0.333 every 136,106 steps.
CMU_LR_STEP = 136_106
CMU_LR_GAMMA = 0.333
CMU_MAX_ITER = 600_000
# Fields that decide the model or the data stream: a resumed run must match them.
RESUME_FIELDS = (
    "train_json",
    "train_images",
    "arch",
    "width",
    "input_hw",
    "batch_size",
    "seed",
    "augment",
    "skip_empty",
    "optimizer",
)
EXIT_SIGNALLED = {signal.SIGTERM: 143, signal.SIGINT: 130}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (the CLI flags, as one frozen value)."""

    train_json: str
    train_images: str
    out_dir: str = "runs/train"
    val_json: str | None = None
    val_images: str | None = None
    arch: str = "mln"
    width: str = "paper"
    input_hw: tuple[int, int] = (368, 368)
    batch_size: int = PAPER_BATCH
    steps: int = CMU_MAX_ITER
    steps_per_epoch: int = 1000
    optimizer: str = "sgd"
    learning_rate: float = PAPER_LR
    momentum: float = PAPER_MOMENTUM
    weight_decay: float = PAPER_WEIGHT_DECAY
    lr_schedule: str = "step"
    lr_step: int = CMU_LR_STEP
    lr_gamma: float = CMU_LR_GAMMA
    seed: int = 0
    workers: int | None = None
    deterministic: bool = True
    mixed_precision: bool | None = None
    strategy: str = "auto"
    cluster_timeout: float = 600.0  # multiworker: seconds to wait for every worker of TF_CONFIG to start
    init_vgg19: str | None = None
    init_pretrained: str | None = None
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    eval_every: int = 10_000
    eval_input_height: int = 368
    eval_images: int | None = None
    resume: bool = False
    skip_empty: bool = False
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    tensorboard: bool = True
    verbose: int = 1

    def __post_init__(self) -> None:
        from mln_tf.model import check_input_hw

        check_input_hw(self.input_hw)
        checks = {
            f"arch must be one of {ARCHS}": self.arch in ARCHS,
            f"width must be one of {WIDTHS}": self.width in WIDTHS,
            f"width {self.width!r} does not exist for arch {self.arch!r}": self.arch not in ARCHS
            or self.width not in WIDTHS
            or self.width in ARCHITECTURES[self.arch].widths,
            "batch_size must be >= 1": self.batch_size >= 1,
            "steps must be >= 1": self.steps >= 1,
            "steps_per_epoch must be >= 1": self.steps_per_epoch >= 1,
            "optimizer must be 'sgd' or 'adam'": self.optimizer in ("sgd", "adam"),
            "learning_rate must be > 0": self.learning_rate > 0,
            "weight_decay must be >= 0": self.weight_decay >= 0,
            "lr_schedule must be constant, step or cosine": self.lr_schedule in ("constant", "step", "cosine"),
            "lr_step must be >= 1": self.lr_step >= 1,
            "strategy must be auto, default, mirrored or multiworker": self.strategy
            in ("auto", "default", "mirrored", "multiworker"),
            "cluster_timeout must be > 0": self.cluster_timeout > 0,
            "checkpoint_every must be >= 1": self.checkpoint_every >= 1,
            "keep_checkpoints must be >= 1": self.keep_checkpoints >= 1,
            "eval_every must be >= 1": self.eval_every >= 1,
            "val_json and val_images go together": (self.val_json is None) == (self.val_images is None),
            "workers must be >= 1": self.workers is None or self.workers >= 1,
            "init_vgg19 and init_pretrained exclude each other": not (self.init_vgg19 and self.init_pretrained),
        }
        failed = [msg for msg, ok in checks.items() if not ok]
        if failed:
            raise ValueError("invalid training configuration: " + "; ".join(failed))

    def to_json(self) -> dict:
        """A JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))
