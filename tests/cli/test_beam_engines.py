"""mln-pose infer --beam on real engines: an embedded Flink (``flink_master=[local]``) and a local Spark
(``local[2]``), each through Beam's Java job server (pinned jars fetched by mvn: mln_tf.beam_engines)
with the SDK harness in the submitting process (LOOPBACK, no Docker), run the way a user runs them
(``--runner`` and ``--beam-option``), in a fresh process with a deadline.

They give byte for byte the per-image JSON of plain ``mln-pose infer``; a bundle that fails once
is retried by the engine with nothing lost or doubled (Spark retries the task, Flink restarts the
job; the DirectRunner does not retry); and a job server that cannot start is a clear error.
Without java or mvn these tests report SKIPPED with what to install (.ci/run installs both).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mln_tf.bundled import TRAIN_DIR, VAL_DIR
from mln_tf.cli.main import main

pytest.importorskip("apache_beam", reason="apache-beam is the [beam] extra; make test installs it")

from mln_tf import beam_engines  # noqa: E402
from mln_tf.beam import FAIL_ONCE_ENV  # noqa: E402

RUN_LIMIT_S = 300  # one engine job here takes 15-30 s; past this it is a hang


def _skip_without(tools=("java", "mvn")) -> None:
    why = beam_engines.missing_tools(tools)
    if why:
        pytest.skip(f"beam engines: {why}")


@pytest.fixture(scope="module")
def tflite(tmp_path_factory) -> Path:
    """The shipped network as an fp32 .tflite at a small fixed input (fast on 2 cores)."""
    path = tmp_path_factory.mktemp("model") / "pose.tflite"
    assert (
        main(["export", "tflite", "pretrained:tfpose_mobilenet_thin", str(path), "--input", "184x216", "--quiet"]) == 0
    )
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """The 40 bundled photos and a corrupt one (and a text file that is no image at all)."""
    images = tmp_path_factory.mktemp("photos")
    for folder in (VAL_DIR, TRAIN_DIR):
        for jpg in folder.glob("*.jpg"):
            shutil.copy(jpg, images)
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    (images / "notes.txt").write_text("not an image")
    return images


@pytest.fixture(scope="module")
def reference(tflite, tmp_path_factory) -> Path:
    """Plain mln-pose infer on the 40 photos: what every engine must write."""
    ref = tmp_path_factory.mktemp("ref")
    assert main(["infer", "--model", str(tflite), str(VAL_DIR), str(TRAIN_DIR), "--out", str(ref), "--no-overlay",
                 "--quiet", "--overwrite"]) == 0  # fmt: skip
    return ref


@pytest.fixture(scope="module")
def jars() -> dict[str, Path]:
    """The job-server launcher jars, fetched by mvn once into the pinned cache (build/beam-jars)."""
    _skip_without()
    try:
        return {name: beam_engines.fetch(name) for name in beam_engines.ENGINES}
    except beam_engines.EngineError as exc:
        pytest.fail(f"could not fetch the job servers: {exc}")


def _infer_beam(args: list[str], env: dict[str, str] | None = None, limit_s: float = RUN_LIMIT_S):
    """``mln-pose infer --beam ARGS`` in a fresh process (its own session: killed whole past ``limit_s``)."""
    cmd = [sys.executable, "-m", "mln_tf.cli", "infer", "--beam", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"mln-pose infer --beam hung (> {limit_s:.0f} s): {' '.join(args)}\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _engine_flags(name: str, jar: Path, **extra: str) -> list[str]:
    options = {**beam_engines.local_options(name, jar), **extra}
    flags = ["--runner", beam_engines.ENGINES[name].runner]
    for key, value in options.items():
        flags += ["--beam-option", f"{key}={value}"]
    return flags


def _assert_same_as_infer(out: Path, ref: Path) -> None:
    """Per-image JSON byte-identical, every person once in coco_results.json, the corrupt file failed, no debris."""
    want = sorted(p.name for p in ref.glob("*_keypoints.json"))
    assert len(want) == 40 and sorted(p.name for p in out.glob("*_keypoints.json")) == want
    for name in want:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    coco = json.loads((out / "coco_results.json").read_text())
    people = {n.split("_")[0]: len(json.loads((ref / n).read_text())["people"]) for n in want}
    per_file = {stem: sum(r["file_name"] == f"{stem}.jpg" for r in coco) for stem in people}
    assert per_file == people and len(coco) == sum(people.values()) > 40
    assert len({json.dumps(r, sort_keys=True) for r in coco}) == len(coco), "a person twice"
    failed = (out / "failed.txt").read_text().splitlines()
    assert len(failed) == 1 and failed[0].split("\t")[0].endswith("broken.jpg") and "corrupt" in failed[0]
    debris = [p.name for p in out.rglob("*") if ".tmp-" in p.name or p.name.startswith(".beam-")]
    assert not debris, f"half-written files or shards left: {debris}"


def _beam_jar_cache() -> set[str]:
    from apache_beam.utils.subprocess_server import JavaJarServer

    folder = Path(JavaJarServer.JAR_CACHE)
    return {p.name for p in folder.glob("*.jar")} if folder.is_dir() else set()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["flink", "spark"])
def test_engine_gives_exactly_the_poses_of_infer_on_the_40_bundled_images(engine, jars, tflite, photos, reference,
                                                                          tmp_path, capsys):  # fmt: skip
    out = tmp_path / engine
    cached = _beam_jar_cache()
    done = _infer_beam([*_engine_flags(engine, jars[engine]), "--model", str(tflite), str(photos), "--out", str(out)])
    assert done.returncode == 1, done.stderr[-3000:]  # one image failed: said, and the others kept
    assert "1 image(s) could not be read" in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    runner = beam_engines.ENGINES[engine].runner
    row = next(line.split() for line in done.stdout.splitlines() if line.startswith(runner))
    people = sum(len(json.loads(p.read_text())["people"]) for p in reference.glob("*_keypoints.json"))
    assert row[1:4] == ["40", str(people), "1"], done.stdout  # images, people, failed
    _assert_same_as_infer(out, reference)
    assert _beam_jar_cache() == cached, "Beam downloaded a job-server jar at run time"
    # results already there: refused before any work (no job server started)
    again = main(["infer", "--beam", *_engine_flags(engine, jars[engine]), "--model", str(tflite), str(photos),
                  "--out", str(out)])  # fmt: skip
    assert again == 2 and "pass --overwrite" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("engine", "retrying"),
    [
        ("spark", {"spark_master_url": "local[2,2]"}),  # local[threads,maxFailures]: Spark retries a failed task
        ("flink", {"flink_conf_dir": "CONF"}),  # a restart strategy in flink-conf.yaml: Flink restarts the job
    ],
)
def test_a_bundle_that_fails_once_is_retried_with_nothing_lost_or_doubled(engine, retrying, jars, tflite, photos,
                                                                         reference, tmp_path):  # fmt: skip
    conf = tmp_path / "flink-conf"
    conf.mkdir()
    (conf / "flink-conf.yaml").write_text(
        "restart-strategy.type: fixed-delay\nrestart-strategy.fixed-delay.attempts: 1\n"
        "restart-strategy.fixed-delay.delay: 1 s\n"
    )
    retrying = {k: str(conf) if v == "CONF" else v for k, v in retrying.items()}
    marker, out = tmp_path / "failed-once", tmp_path / "out"
    flags = [*_engine_flags(engine, jars[engine], **retrying), "--model", str(tflite), str(photos), "--out", str(out)]
    done = _infer_beam(flags, env={FAIL_ONCE_ENV: str(marker)})
    assert marker.read_text().startswith("failed a bundle of"), "the hook did not fail a bundle"
    assert done.returncode == 1 and "1 image(s) could not be read" in done.stderr, done.stderr[-3000:]
    _assert_same_as_infer(out, reference)


@pytest.mark.slow
def test_the_direct_runner_does_not_retry_a_failed_bundle(tflite, photos, tmp_path):
    """The DirectRunner fails the job instead: no coco_results.json, no shards left behind."""
    marker, out = tmp_path / "failed-once", tmp_path / "out"
    done = _infer_beam(["--beam-workers", "1", "--model", str(tflite), str(photos), "--out", str(out), "--limit", "3"],
                       env={FAIL_ONCE_ENV: str(marker)})  # fmt: skip
    assert done.returncode != 0 and FAIL_ONCE_ENV in done.stderr
    assert marker.exists() and not (out / "coco_results.json").exists()
    assert not list(out.glob(".beam-*")) and not list(out.glob("*.tmp-*"))


def test_the_model_a_worker_shares_between_threads_runs_one_image_at_a_time(tflite):
    """Spark's local[2] runs two bundles at once on one worker's model: it must give what one thread gives.

    (Unlocked, LiteRT's interpreter shared by 4 threads gave a wrong result for most images here.)"""
    from mln_tf.beam import PoseModelHandler
    from mln_tf.inference import read_image
    from mln_tf.outputs import openpose_json

    model = PoseModelHandler(str(tflite)).load_model()
    images = [read_image(p) for p in sorted(VAL_DIR.glob("*.jpg"))]

    def poses(rgb):
        return json.dumps(openpose_json(model.estimate(rgb)))

    alone = [poses(rgb) for rgb in images]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often
    try:
        with ThreadPoolExecutor(4) as pool:
            together = [list(pool.map(poses, images)) for _ in range(3)]
    finally:
        sys.setswitchinterval(interval)
    assert all(run == alone for run in together)


def test_without_java_or_mvn_it_says_what_to_install(tflite, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert beam_engines.missing_tools() == (
        "missing java, mvn: apt-get install default-jre-headless maven "
        "(Flink and Spark run Beam's Java job server; Java 17 works)"
    )
    monkeypatch.setenv(beam_engines.CACHE_ENV, str(tmp_path / "cache"))
    assert beam_engines.main(["fetch", "flink"]) == 3  # what make/CI scripts read as "skipped: install"
    assert capsys.readouterr().err.strip().splitlines() == [beam_engines.missing_tools(("mvn",))]
    jar = tmp_path / "job-server.jar"
    jar.write_bytes(b"")
    code = main(["infer", "--beam", *_engine_flags("flink", jar), "--model", str(tflite), str(VAL_DIR), "--out",
                 str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "java was not found: apt-get install default-jre-headless" in err[0], err
    assert not (tmp_path / "o").exists()


def test_a_job_server_that_cannot_start_is_a_clear_error_not_a_hang(tflite, tmp_path):
    """A broken jar, a taken port, a jar that is not there, a server that never answers (3 s limit here)."""
    import socket

    _skip_without(("java",))
    broken = tmp_path / "broken.jar"
    broken.write_text("not a jar")
    sleeper = tmp_path / "sleeper"
    sleeper.write_text("#!/bin/sh\nexec sleep 600\n")
    sleeper.chmod(0o755)
    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cases = {
            "exited during start-up (exit 1); its last lines:": {"flink_job_server_jar": str(broken)},
            f"port {port} (--beam-option job_port) is taken": {"job_port": str(port)},
            "missing.jar: no such file (python -m mln_tf.beam_engines fetch flink": {
                "flink_job_server_jar": str(tmp_path / "missing.jar")
            },
            "did not answer at localhost:": {"job_server_java_launcher": str(sleeper)},
        }
        for i, (says, options) in enumerate(cases.items()):
            out = tmp_path / f"o{i}"
            flags = [*_engine_flags("flink", broken, **options), "--model", str(tflite), str(VAL_DIR)]
            done = _infer_beam([*flags, "--out", str(out), "--limit", "1"], env={beam_engines.TIMEOUT_ENV: "3"},
                               limit_s=60)  # fmt: skip
            assert done.returncode == 1 and says in done.stderr, (says, done.stderr[-2000:])
            assert "Traceback" not in done.stderr and not out.exists(), done.stderr[-2000:]
