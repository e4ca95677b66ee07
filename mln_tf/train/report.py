"""What a training run produced, and the end-of-run summary table."""

from __future__ import annotations

from dataclasses import dataclass, field

from mln_tf.train.config import TrainConfig


@dataclass
class TrainResult:
    """What a run produced."""

    first_step: int
    step: int
    seconds: float
    losses: dict[str, float]
    best_ap: float | None
    best_step: int | None
    last_eval: dict[str, float] | None
    artifacts: dict[str, str]
    bad_records: dict[str, str]
    stopped_by: str | None = None  # "SIGTERM" / "SIGINT" when interrupted
    epochs: list[dict] = field(default_factory=list)  # per Keras epoch: epoch, losses (means)

    @property
    def completed(self) -> bool:
        return self.stopped_by is None


def summary_table(result: TrainResult, config: TrainConfig) -> str:
    """The end-of-run summary as a small two-column table."""
    steps = result.step - result.first_step
    rows = [
        (
            "steps",
            f"{result.first_step} -> {result.step} of {config.steps}"
            + (f" (stopped by {result.stopped_by})" if result.stopped_by else ""),
        ),
        (
            "time",
            f"{result.seconds:.1f} s"
            + (
                f" ({steps * config.batch_size / result.seconds:.1f} samples/s)" if steps and result.seconds > 0 else ""
            ),
        ),
    ]
    for name, value in sorted(result.losses.items()):
        rows.append((name, f"{value:.4f} (mean over the last epoch)"))
    if result.best_ap is not None:
        rows.append(("best COCO AP", f"{result.best_ap:.3f} at step {result.best_step}"))
    if result.last_eval:
        rows.append(("last COCO AP", f"{result.last_eval['AP']:.3f} at step {result.last_eval['step']}"))
    rows.append(("bad records", str(len(result.bad_records))))
    for name, path in result.artifacts.items():
        rows.append((name, path))
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 2 + max(len(v) for _, v in rows))
    return "\n".join([line, *(f"{k:<{width}}  {v}" for k, v in rows), line])
