"""Every command the READMEs show is run, or its arguments are parsed where it cannot run.

The fenced ``bash`` blocks of README.md, web_demo/README.md and android_demo/README.md are read
here; each ``mln-pose`` command in them must be in ``COMMANDS`` (a new or changed command fails
``test_every_readme_command_is_known`` until it is listed). ``Run`` commands go through
``mln_tf.cli.main`` as written, in a temporary folder (repository paths made absolute), with the
listed substitutions for files a reader has and this machine has not, and the listed extra flags
that keep the long ones short (small inputs, few images); a non-zero exit status or a FAIL
verdict fails the test. ``NotRunnable`` commands (GPUs, cameras, clusters, cloud, minutes of
QAT) say why, and their arguments must still parse with the command's own parser.

The other commands of those blocks (``make``, ``node``, ``openssl``, the Android tools) are in
``SHELL``: run here (the web demo's servers, over HTTP and HTTPS, probed and stopped), ``Covered``
where ``make test`` runs them anyway (a prerequisite of its ``test`` target, or a named test,
both checked to exist), or ``NotRunnable`` with the reason (a phone, Google's Maven repository).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mln_tf.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
READMES = ("android_demo/README.md", "README.md", "web_demo/README.md")  # android first: it makes thin_fp16.tflite
TRAIN = "mln_tf/bundled/coco_train2017_mini"
VAL = "mln_tf/bundled/coco_val2017_mini"
SMALL = "160x192"  # the long exports run at this input instead of the README's
PRETRAINED = "pretrained:tfpose_mobilenet_thin"


@dataclass(frozen=True)
class Run:
    """Run the command; ``subs`` replace whole arguments (a value may be several), ``extra`` is appended."""

    subs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotRunnable:
    """Cannot run in a test (``reason``); its arguments (after ``subs``) must parse."""

    reason: str
    subs: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Covered:
    """Run by every ``make test`` already: ``by`` is a Makefile target that ``test`` runs, or ``tests/FILE::TEST``."""

    by: str


def _int8_small(images: int) -> tuple[str, ...]:
    return ("--calibration-images", str(images), "--quiet")


# The key is the command as the README writes it (continuations joined, comment and .venv/bin/ dropped).
COMMANDS: dict[str, Run | NotRunnable | Covered] = {
    # android_demo/README.md
    "mln-pose export tflite --help": Run(),
    # the same paths at the smaller point (balanced: 368x432), so that check gpu below stays short
    f"mln-pose export tflite {PRETRAINED} thin_fp16.tflite --mode fp16 --speed balanced": Run(
        subs={"balanced": ("fast",)}, extra=("--quiet",)
    ),
    f"mln-pose export tflite {PRETRAINED} thin_int8.tflite --mode int8 --speed balanced --calibration {TRAIN}": Run(
        subs={"--speed": ("--stage",), "balanced": ("3", "--input", SMALL)}, extra=_int8_small(8)
    ),
    f"mln-pose export tflite {PRETRAINED} thin_qat.tflite --mode qat --input 256x320 --calibration {TRAIN} "
    "--qat-steps 240 --qat-batch 4": NotRunnable(
        "minutes even at 2 steps (post-training int8 first, then tfmot in a tf_keras child process); "
        "tests/export/test_quantization.py runs that path at 224x288"
    ),
    # README.md
    f"mln-pose infer --model {PRETRAINED} {VAL} --out poses/": Run(extra=("--quiet",)),
    f"mln-pose infer --model {PRETRAINED} --camera 0 --out poses/": NotRunnable("no camera on a test machine"),
    f"mln-pose infer --model {PRETRAINED} --speed fast {VAL} --out fast/": Run(extra=("--quiet",)),
    f"mln-pose eval --model {PRETRAINED} --annotations {VAL}/person_keypoints.json --images {VAL}": Run(
        extra=("--quiet",)
    ),
    "mln-pose summary --arch mln --runs 0": Run(),
    "mln-pose train --coco /data/coco --out runs/mln": NotRunnable(
        "the paper's training: COCO train2017 in /data/coco and GPUs for days (docs/training.md)"
    ),
    "TF_CONFIG=... mln-pose train --strategy multiworker ...": NotRunnable(
        "several machines with TF_CONFIG (tests/train runs two local workers)", subs={"...": ("--coco", "/data/coco")}
    ),
    "mln-pose export savedmodel runs/mln/model.keras serving/mln/1": Run(
        subs={"runs/mln/model.keras": ("tiny.keras",)}
    ),
    "mln-pose export tflite runs/mln/model.keras mln_int8.tflite --mode int8 --calibration train2017/": Run(
        subs={"runs/mln/model.keras": (PRETRAINED,), "train2017/": (TRAIN,)}, extra=("--input", SMALL, *_int8_small(8))
    ),
    "mln-pose check tflite mln_int8.tflite --reference runs/mln/model.keras --images val2017/": Run(
        subs={"runs/mln/model.keras": (PRETRAINED,), "val2017/": (VAL,)}, extra=("--quiet",)
    ),
    "mln-pose check gpu mln_fp16.tflite": Run(subs={"mln_fp16.tflite": ("thin_fp16.tflite",)}),
    "mln-pose convert tfpose graph_opt.pb out.keras": Run(
        subs={"graph_opt.pb": ("data/peers/tfpose_mobilenet_thin/graph_opt.pb",)}
    ),
    "mln-pose infer --beam --model pose.tflite gs://bucket/*.jpg --out gs://bucket/poses --runner DataflowRunner": (
        NotRunnable("Google Cloud Dataflow and gs:// buckets; tests/cli/test_beam.py runs the pipeline locally")
    ),
    # the demo's minute runs once per make test: there, as a subprocess whose console is checked too
    "mln-pose demo --overwrite": Covered("tests/cli/test_console.py::test_every_command_prints_results_not_noise"),
}


@dataclass(frozen=True)
class Serve:
    """A server command: run (``extra`` appended, ``env`` added), its page fetched over ``scheme``, then stopped."""

    scheme: str = "http"
    extra: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Shell:
    """A short command, run as written in the test folder (``subs`` as for Run)."""

    subs: dict[str, tuple[str, ...]] = field(default_factory=dict)


GRADLE = "the Android Gradle Plugin lives on Google's Maven repository only (make android-apk builds the same sources)"
SHELL: dict[str, Shell | Serve | Covered | NotRunnable] = {
    # README.md
    "make demo": Covered("tests/cli/test_console.py::test_every_command_prints_results_not_noise"),  # mln-pose demo
    "make test": Covered("the CI entry point .ci/run itself"),
    # android_demo/README.md
    "make android-apk": Covered("android-apk"),
    "adb install -r android_demo/build/mln-demo-debug.apk": NotRunnable("a phone on USB"),
    "make android-robolectric": Covered(
        "tests/ports/test_android_apk.py::test_the_activity_on_robolectric_draws_the_people_of_replayed_camera_frames"
    ),
    "cd android_demo": NotRunnable(GRADLE),
    "gradle wrapper --gradle-version 8.7": NotRunnable(GRADLE),
    "./gradlew assembleDebug": NotRunnable(GRADLE),
    "./gradlew installDebug": NotRunnable(GRADLE),
    "./gradlew :decoder:test :app:testDebugUnitTest": NotRunnable(GRADLE),
    "cp thin_fp16.tflite android_demo/app/src/main/assets/mln.tflite": Shell(
        subs={"android_demo/app/src/main/assets/mln.tflite": ("mln.tflite",)}  # not into this checkout
    ),
    ".venv/bin/python android_demo/tools/gen_java_skeleton.py": Covered(
        "tests/ports/test_android_golden.py::test_java_skeleton_is_generated_from_python"
    ),
    ".venv/bin/python android_demo/tools/write_golden.py": Covered(
        "tests/ports/test_android_golden.py::test_golden_vectors_are_what_python_produces_now"
    ),
    "make java-test": Covered("java-test"),
    # web_demo/README.md
    "make web-demo": Serve(),
    "make web-demo WEB_HOST=0.0.0.0": Serve(),
    "openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=mln-demo -keyout key.pem -out cert.pem": Shell(),
    "node web_demo/serve.mjs --host 0.0.0.0 --cert cert.pem --key key.pem": Serve("https", extra=("--port", "0")),
}


def _block_commands(path: Path) -> list[list[str]]:
    """The commands of the fenced bash blocks of ``path`` as words (continuations joined, comments dropped)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", path.read_text(), flags=re.M | re.S)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [words for words in (shlex.split(line, comments=True) for line in lines) if words]


def _is_mln_pose(words: list[str]) -> bool:
    return any(w.endswith("mln-pose") for w in words)


def shell_commands(path: Path) -> list[str]:
    """The commands of the fenced bash blocks of ``path`` that are not ``mln-pose``."""
    return [" ".join(words) for words in _block_commands(path) if not _is_mln_pose(words)]


def readme_commands(path: Path) -> list[str]:
    """The ``mln-pose`` commands of the fenced bash blocks of ``path``, one string each (see COMMANDS' keys)."""
    commands = [words for words in _block_commands(path) if _is_mln_pose(words)]
    return [" ".join(w.removeprefix(".venv/bin/") for w in words) for words in commands]


def _argv(text: str, subs: dict[str, tuple[str, ...]], extra: tuple[str, ...] = ()) -> list[str]:
    """The arguments after ``mln-pose``, substituted, repository paths made absolute."""
    words = text.split()
    words = words[words.index("mln-pose") + 1 :]
    argv = [v for w in words for v in subs.get(w, (w,))] + list(extra)
    return [str(ROOT / a) if not a.startswith("-") and "/" in a and (ROOT / a).exists() else a for a in argv]


def _all() -> list[tuple[str, str]]:
    return [(readme, text) for readme in READMES for text in readme_commands(ROOT / readme)]


def test_every_readme_command_is_known():
    found = _all()
    assert len(found) >= 15, found  # the READMEs were read
    unknown = [f"{readme}: {text}" for readme, text in found if text not in COMMANDS]
    assert not unknown, "README commands this test does not know (add them to COMMANDS):\n" + "\n".join(unknown)
    stale = set(COMMANDS) - {text for _, text in found}
    assert not stale, f"COMMANDS lists commands no README shows: {sorted(stale)}"
    for text, how in COMMANDS.items():
        if isinstance(how, Covered):
            _check_cover(text, how)


@pytest.mark.parametrize("text", [t for t, how in COMMANDS.items() if isinstance(how, NotRunnable)])
def test_commands_that_cannot_run_here_parse(text):
    how = COMMANDS[text]
    prog, module, rest = cli.command(_argv(text, how.subs))
    assert module is not None, text
    args = module.build_parser(prog).parse_args(rest)  # a flag the command lacks: SystemExit
    assert args is not None and how.reason


@pytest.mark.slow
def test_readme_commands_run_and_pass(tmp_path, monkeypatch):
    """Every Run command, in README order, in one folder (later commands use earlier outputs)."""
    import keras

    from mln_tf import model as m

    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    m.build_mln(m.MLNConfig.tiny()).save(tmp_path / "tiny.keras")  # a stand-in for a trained runs/mln/model.keras
    failed = []
    for readme, text in _all():
        how = COMMANDS[text]
        if not isinstance(how, Run):
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                code = cli.main(_argv(text, how.subs, how.extra))
            except SystemExit as exc:  # --help
                code = exc.code
        printed = out.getvalue()
        if code != 0 or "RESULT: FAIL" in printed or "OVER" in printed:
            failed.append(f"{readme}: {text} -> exit {code}\n{printed[-1500:]}")
    assert not failed, "\n\n".join(failed)


def _shell_all() -> list[tuple[str, str]]:
    return [(readme, text) for readme in READMES for text in shell_commands(ROOT / readme)]


def test_every_other_readme_command_is_known_and_its_cover_exists():
    found = _shell_all()
    unknown = [f"{readme}: {text}" for readme, text in found if text not in SHELL]
    assert not unknown, "README commands this test does not know (add them to SHELL):\n" + "\n".join(unknown)
    stale = set(SHELL) - {text for _, text in found}
    assert not stale, f"SHELL lists commands no README shows: {sorted(stale)}"
    for text, how in SHELL.items():
        if isinstance(how, Covered) and not how.by.startswith("the CI"):
            _check_cover(text, how)
    assert "make test" in (ROOT / ".ci/run").read_text()


def _check_cover(text: str, how: Covered) -> None:
    """The test or the `make test` target that runs ``text`` exists."""
    if "::" in how.by:
        file, name = how.by.split("::")
        assert f"def {name}(" in (ROOT / file).read_text(), f"{text}: {how.by} does not exist"
        return
    makefile = (ROOT / "Makefile").read_text()
    test_rule = re.search(r"^test:(.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert how.by in test_rule.group(1) + test_rule.group(2), f"{text}: make test does not run {how.by}"
    assert re.search(rf"^{re.escape(how.by)}:", makefile, re.M) and text == f"make {how.by}", text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_and_fetch(argv: list[str], scheme: str, env: dict[str, str], cwd: Path) -> str:
    """Start a server command, wait for its URL line, fetch the page, stop it; the page's text."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        lines = []
        for line in proc.stdout:  # the model export (make web-demo) comes first, then the URL
            lines.append(line)
            url = re.search(rf"{scheme}://127\.0\.0\.1:\d+/", line)
            if url:
                break
        else:
            raise AssertionError(f"{' '.join(argv)} ended without serving:\n{''.join(lines)[-2000:]}")
        context = ssl._create_unverified_context() if scheme == "https" else None  # a self-signed certificate
        with urllib.request.urlopen(url.group(0), timeout=30, context=context) as page:
            assert page.status == 200
            return page.read().decode()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_the_other_readme_commands_run(tmp_path):
    """The web demo served as the README says (HTTP, and HTTPS with the README's certificate), the asset copy."""
    for tool in ("node", "npm", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (.ci/run installs nodejs, npm; openssl is in Debian's base)")
    if not (ROOT / "web_demo/node_modules").is_dir():
        pytest.skip("web_demo/node_modules is missing: make web-deps (part of make test) installs it")
    env = {**os.environ}
    ran = []
    for readme, text in _shell_all():
        how = SHELL[text]
        if isinstance(how, Shell):
            if text.startswith("cp thin_fp16.tflite"):  # made by the README's export (test above); any file will do
                (tmp_path / "thin_fp16.tflite").write_bytes(b"model")
            argv = [v for w in shlex.split(text) for v in how.subs.get(w, (w,))]
            done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, (text, done.stdout, done.stderr)
        elif isinstance(how, Serve):
            argv = shlex.split(text) + list(how.extra)
            if argv[0] == "make":  # as written, on a free port, from the repository root
                argv = argv[:1] + ["--no-print-directory", "-C", str(ROOT)] + argv[1:] + [f"WEB_PORT={_free_port()}"]
            else:
                argv = [str(ROOT / a) if (ROOT / a).is_file() and a.endswith(".mjs") else a for a in argv]
            page = _serve_and_fetch(argv, how.scheme, {**env, **how.env}, tmp_path)
            assert "<html" in page.lower() and "script" in page, (text, page[:300])
        else:
            continue
        ran.append(text)
    assert len(ran) == 5, ran
    assert (tmp_path / "mln.tflite").read_bytes() == b"model"
