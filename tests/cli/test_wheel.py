"""The wheel works outside the repository: weights and bundled images inside, `mln-pose` on its PATH."""

import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from helpers import ROOT

# Not needed to build or run the package (tests, demos, peer data for the decoder's development set).
SKIP = ("data/", "tests/", "android_demo/", "web_demo/", "benchmarks/", "docs/", ".ci/")


def _run(cmd: list, cwd, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_wheel_installs_outside_the_repository_and_runs(tmp_path):
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    src = tmp_path / "src"
    for name in files:
        if name.startswith(SKIP) or not (ROOT / name).is_file():
            continue
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", src],
        tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("mln_tf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mln_tf/bundled/pretrained/tfpose_mobilenet_thin.keras" in names
    assert "mln_tf/bundled/coco_val2017_mini/person_keypoints.json" in names and "mln_tf/bundled/README.md" in names
    assert not any(n.startswith(("export/", "training/", "data/")) for n in names), "generic top-level packages"

    # A fresh venv whose only extra path is the tested dependency stack (site-packages of this one, read
    # through a .pth: its own .pth files, among them this checkout's editable install, are not run).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    (tmp_path / site / "zz_tested_stack.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], tmp_path)
    _run([py, "-m", "pip", "check"], tmp_path)  # the wheel's requirements hold on the pinned stack

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([py, "-c", "import mln_tf; print(mln_tf.__file__)"], work).stdout
    assert str(venv) in where and str(ROOT) not in where, where
    image = "mln_tf/bundled/coco_val2017_mini/000000000785.jpg"
    image = _run(
        [py, "-c", f"import mln_tf, pathlib; print(pathlib.Path(mln_tf.__file__).parent.parent / {image!r})"], work
    )
    image = image.stdout.strip()
    mln_pose = venv / "bin" / "mln-pose"
    out = _run([mln_pose, "infer", "--model", "pretrained:tfpose_mobilenet_thin", image, "--out", "poses"], work)
    assert "1 person" in out.stdout or "people" in out.stdout, out.stdout
    assert (work / "poses" / "000000000785_keypoints.json").is_file()
    _run([mln_pose, "export", "tflite", "pretrained:tfpose_mobilenet_thin", "m.tflite", "--input", "128x160"], work)
    tflite = _run([mln_pose, "infer", "--model", "m.tflite", image, "--out", "poses_tflite"], work)
    assert (work / "poses_tflite" / "000000000785_keypoints.json").is_file(), tflite.stdout
    print(out.stdout.strip().splitlines()[-1], "|", tflite.stdout.strip().splitlines()[-1])
