"""Flink and Spark for ``mln-pose infer --beam``: Beam's job servers, fetched by ``mvn`` (pinned), started safely.

    python -m mln_tf.beam_engines fetch flink spark   # once: the job-server jars (prints their paths)
    python -m mln_tf.beam_engines options flink       # the --beam-option flags of a local run on that jar

Beam's FlinkRunner and SparkRunner hand the pipeline to a Java *job server*, which runs it on
the engine and calls back into Python workers (the SDK harness: ``environment_type=LOOPBACK``
runs them in the submitting process, ``PROCESS`` as local processes; no Docker either way).

**Jars.** Beam downloads a shaded job-server jar from Maven Central at run time unless the job
names one. Here the job server is fetched ahead of time instead, at pinned Maven coordinates
(:data:`ENGINES`), by ``mvn dependency:copy-dependencies`` into ``<cache>/<engine>/lib`` with
checksums checked, next to a small launcher jar whose manifest names the job server's main class
and that classpath: ``java -jar`` runs it as it runs Beam's shaded jar, so it is what
``flink_job_server_jar`` / ``spark_job_server_jar`` name. The cache is ``$MLN_BEAM_JARS``, else
``build/beam-jars`` in a checkout, else ``~/.cache/mln_tf/beam-jars``. The coordinates are
Beam's runner artifacts of release :data:`BEAM_JAVA` (the newest release whose Flink and Spark
runner artifacts the Maven repository of our machines serves; it has no shaded job-server jar
and no 2.77 Java artifact): Flink 1.19 (one of the Flink versions apache-beam 2.77 supports)
and Spark 3.2.2, both on Java 17. The Python SDK (2.77) talks to them through Beam's portable
Job and Fn APIs.

**Start.** :func:`job_server` starts the job server of a FlinkRunner or SparkRunner job itself
(the command Beam builds, output to a log file) and waits for its gRPC port at most
``$MLN_BEAM_JOB_SERVER_TIMEOUT`` seconds (default 120): a job server that exits, a port that is
taken or one that never answers is an :class:`EngineError` saying so, with the end of its log,
never a hang. It is stopped when the job ends (and dies with this process where ``setpriv``
exists).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

BEAM_JAVA = "2.62.0"  # the Java runner artifacts (see the module doc for why not 2.77)
TIMEOUT_ENV = "MLN_BEAM_JOB_SERVER_TIMEOUT"
CACHE_ENV = "MLN_BEAM_JARS"
TOOLS = {"java": "default-jre-headless", "mvn": "maven"}  # command -> the Debian package that brings it
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
LAUNCHER = "job-server.jar"


class EngineError(ValueError):
    """A job server that cannot be fetched or started: the message says why and what to do."""


@dataclass(frozen=True)
class Engine:
    """One engine: its Beam runner, the artifacts of its job server, the options of a local run."""

    name: str  # flink | spark
    runner: str  # the Beam runner (--runner)
    version: str  # the engine's own version
    main_class: str  # the job server's entry point
    artifacts: tuple[str, ...]  # group:artifact:version; the first is Beam's runner
    jar_option: str  # the pipeline option naming the job-server jar
    local: dict[str, str] = field(default_factory=dict)  # further options of a local run (one worker)

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}-beam-{BEAM_JAVA}"


ENGINES = {
    "flink": Engine(
        "flink",
        "FlinkRunner",
        "1.19.0",
        "org.apache.beam.runners.flink.FlinkJobServerDriver",
        (f"org.apache.beam:beam-runners-flink-1.19:{BEAM_JAVA}", "org.slf4j:slf4j-simple:1.7.30"),
        "flink_job_server_jar",
        {"flink_master": "[local]", "flink_version": "1.19", "parallelism": "1", "environment_type": "LOOPBACK"},
    ),
    "spark": Engine(
        "spark",
        "SparkRunner",
        "3.2.2",
        "org.apache.beam.runners.spark.SparkJobServerDriver",
        (
            f"org.apache.beam:beam-runners-spark-3:{BEAM_JAVA}",
            # provided-scope in Beam's runner pom: the Spark its 2.62 release is built against
            "org.apache.spark:spark-core_2.12:3.2.2",
            "org.apache.spark:spark-streaming_2.12:3.2.2",
        ),
        "spark_job_server_jar",
        {"spark_master_url": "local[2]", "environment_type": "LOOPBACK"},
    ),
}
RUNNER_ENGINE = {e.runner: e for e in ENGINES.values()}


def missing_tools(tools: tuple[str, ...] = ("java", "mvn")) -> str | None:
    """None when every tool is on PATH, else one line saying what to install."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(TOOLS[t] for t in missing))
    return (
        f"missing {', '.join(missing)}: apt-get install {packages} "
        "(Flink and Spark run Beam's Java job server; Java 17 works)"
    )


def cache_dir() -> Path:
    """Where fetched job servers live: $MLN_BEAM_JARS, build/beam-jars in a checkout, else ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "mln_tf").is_dir():
        return root / "build" / "beam-jars"
    return Path.home() / ".cache" / "mln_tf" / "beam-jars"


def pom(engine: Engine) -> str:
    """A Maven project whose runtime dependencies are the job server's classpath."""
    deps = "".join(
        f"\n    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in (c.split(":") for c in engine.artifacts)
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n  <modelVersion>4.0.0</modelVersion>\n'
        f"  <groupId>mln_tf.beam_engines</groupId><artifactId>{engine.name}-job-server</artifactId>"
        f"<version>{BEAM_JAVA}</version>\n  <dependencies>{deps}\n  </dependencies>\n</project>\n"
    )


def _manifest(main_class: str, classpath: list[str]) -> str:
    """A jar manifest (lines folded at 72 bytes, as the spec wants)."""

    def fold(line: str) -> str:
        parts = [line[:72]] + [" " + line[i : i + 71] for i in range(72, len(line), 71)]
        return "\r\n".join(parts) + "\r\n"

    return (
        "Manifest-Version: 1.0\r\n"
        + fold(f"Main-Class: {main_class}")
        + fold("Class-Path: " + " ".join(classpath))
        + fold("Created-By: mln_tf.beam_engines")
        + "\r\n"
    )


def fetch(name: str, cache: Path | None = None, timeout: float = 1800, quiet: bool = False) -> Path:
    """The launcher jar of engine ``name``'s job server, fetched by mvn the first time (pinned; then cached)."""
    engine = ENGINES[name]
    folder = (cache or cache_dir()) / engine.folder
    jar = folder / LAUNCHER
    if jar.is_file():
        return jar
    why = missing_tools(("mvn",))
    if why:
        raise EngineError(why)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pom.xml").write_text(pom(engine))
    lib, tmp = folder / "lib", folder / f"lib.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"fetching the {engine.runner} job server ({', '.join(engine.artifacts)}) by mvn", file=sys.stderr)
    cmd = ["mvn", "-B", "-q", "-C", "-f", str(folder / "pom.xml"), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
           f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EngineError(f"mvn did not fetch the {engine.runner} job server within {timeout:.0f} s") from None
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise EngineError(f"mvn could not fetch the {engine.runner} job server ({engine.artifacts[0]}):\n{tail}")
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    part = folder / f"{LAUNCHER}.tmp-{os.getpid()}"
    with zipfile.ZipFile(part, "w") as z:
        info = zipfile.ZipInfo("META-INF/MANIFEST.MF", date_time=(1980, 1, 1, 0, 0, 0))
        z.writestr(info, _manifest(engine.main_class, [f"lib/{p.name}" for p in sorted(lib.glob("*.jar"))]))
    os.replace(part, jar)  # last: a launcher jar means a complete fetch
    return jar


def local_options(name: str, jar: Path | str) -> dict[str, str]:
    """The Beam options of a local run of engine ``name`` on job-server ``jar`` (one worker, no Docker)."""
    engine = ENGINES[name]
    return {**engine.local, engine.jar_option: str(jar)}


def _taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("localhost", port))
        except OSError:
            return True
    return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("localhost", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(log: Path, lines: int = 12) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()  # the JVM's shutdown hooks stop the embedded cluster
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


@contextlib.contextmanager
def job_server(runner: str, options: dict[str, Any], timeout: float | None = None) -> Iterator[dict[str, str]]:
    """Start the job server of a FlinkRunner/SparkRunner job; yield the options that point the job at it; stop it after.

    Nothing to start (yields ``{}``) for other runners, a given ``job_endpoint``, or an uber-jar
    submission. ``options``: the job's Beam options by name (``flink_job_server_jar``,
    ``job_port``, ``job_server_java_launcher``...). Raises :class:`EngineError` when Java is
    missing, a port asked for is taken, or the server exits or does not answer within
    ``timeout`` seconds (default ``$MLN_BEAM_JOB_SERVER_TIMEOUT`` or 120).
    """
    engine = RUNNER_ENGINE.get(runner)
    if (
        engine is None
        or options.get("job_endpoint")
        or options.get("output_executable_path")
        or _flag(options.get(f"{engine.name}_submit_uber_jar", False))
    ):
        yield {}
        return
    from apache_beam.options.pipeline_options import PipelineOptions

    if timeout is None:
        timeout = float(os.environ.get(TIMEOUT_ENV) or 120)
    launcher = str(options.get("job_server_java_launcher") or "java")
    if shutil.which(launcher) is None:
        raise EngineError(
            f"{runner} runs Beam's Java job server, and {launcher} was not found: apt-get install "
            "default-jre-headless (Java 17), or --beam-option job_server_java_launcher=PATH"
        )
    for option in ("job_port", "artifact_port", "expansion_port"):
        port = int(options.get(option) or 0)
        if port and _taken(port):
            raise EngineError(
                f"port {port} (--beam-option {option}) is taken: free it, choose another, or leave {option} "
                "out (a free port is picked)"
            )
    jar = options.get(engine.jar_option)
    if jar and "://" not in str(jar) and not Path(jar).is_file():
        raise EngineError(
            f"--beam-option {engine.jar_option}={jar}: no such file (python -m mln_tf.beam_engines fetch "
            f"{engine.name} fetches one and prints its path)"
        )
    work = Path(tempfile.mkdtemp(prefix=f"mln-{engine.name}-job-server-"))
    proc = None
    try:
        flags = [f"--{k}={v}" for k, v in options.items()]
        if not options.get("artifacts_dir"):
            flags.append(f"--artifacts_dir={work / 'artifacts'}")
        pipeline_options = PipelineOptions(flags)
        if engine.name == "flink":
            from apache_beam.runners.portability.flink_runner import FlinkJarJobServer as Server
        else:
            from apache_beam.runners.portability.spark_runner import SparkJarJobServer as Server
        try:
            cmd, endpoint = Server(pipeline_options).subprocess_cmd_and_endpoint()
            cmd = [str(arg) for arg in cmd]
        except (ValueError, RuntimeError, OSError) as exc:  # a jar that is not there and not a URL...
            raise EngineError(f"{runner}: {str(exc).splitlines()[0]}") from None
        if shutil.which("setpriv"):  # the JVM dies with this process, even when it is killed
            cmd = ["setpriv", "--pdeathsig", "TERM", "--", *cmd]
        log = work / "job-server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline, port = time.monotonic() + timeout, int(endpoint.rsplit(":", 1)[1])
        while not _listening(port):  # the job service's port: open once it serves
            if proc.poll() is not None:
                text = _tail(log)
                taken = " (a port is taken)" if "Address already in use" in text else ""
                raise EngineError(
                    f"the {runner} job server exited during start-up (exit {proc.returncode}){taken}; "
                    f"its last lines:\n{text or '(none)'}"
                )
            if time.monotonic() > deadline:
                raise EngineError(
                    f"the {runner} job server did not answer at {endpoint} within {timeout:.0f} s "
                    f"(${TIMEOUT_ENV} sets the limit); its last lines:\n{_tail(log) or '(none)'}"
                )
            time.sleep(0.2)
        yield {"job_endpoint": endpoint}
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m mln_tf.beam_engines fetch|options ENGINE...``: 0 done, 1 failed, 3 a tool is missing."""
    p = argparse.ArgumentParser(prog="python -m mln_tf.beam_engines", description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("fetch", "options"), help="fetch: the jars (prints paths); options: the flags")
    p.add_argument("engines", nargs="*", metavar="ENGINE", help=f"{' and/or '.join(ENGINES)} (default both)")
    args = p.parse_args(argv)
    args.engines = args.engines or list(ENGINES)
    if any(n not in ENGINES for n in args.engines):
        p.error(f"ENGINE: choose from {', '.join(ENGINES)}, not {' '.join(args.engines)}")
    why = missing_tools(("mvn",))
    if why and not all((cache_dir() / ENGINES[n].folder / LAUNCHER).is_file() for n in args.engines):
        print(why, file=sys.stderr)
        return 3
    try:
        for name in args.engines:
            jar = fetch(name)
            if args.what == "fetch":
                print(jar)
            else:
                opts = local_options(name, jar)
                print(f"--runner {ENGINES[name].runner} " + " ".join(f"--beam-option {k}={v}" for k, v in opts.items()))
    except EngineError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
