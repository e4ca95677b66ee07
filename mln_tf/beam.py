"""Batch pose estimation as an Apache Beam pipeline: the same poses as ``mln-pose infer``, on any runner.

    from mln_tf.beam import BeamJob, run_job

    summary = run_job(BeamJob(model="pose.tflite", inputs=["gs://bucket/photos/*.jpg"], out="gs://bucket/poses",
                              runner="DataflowRunner", options={"project": "...", "region": "..."}))

Match the inputs (local paths, folders or globs on any Beam filesystem) in infer's order, at
most ``limit``, and name each image's results as infer does (``mln_tf.stream.unique_name``:
two ``x.jpg`` in different folders give ``x`` and ``x_2``) -> read and decode
(``mln_tf.inference.decode_image``, as ``read_image``) -> ``RunInference`` with
:class:`PoseModelHandler` (an ``mln_tf.estimator.Estimator`` with the job's
``EstimatorConfig``: the same input, scales, flip and decoder as every other path; the model is
loaded once per worker process) -> per image ``OUT/<name>_keypoints.json``
(``mln_tf.outputs.openpose_json``, as ``mln-pose infer`` writes it) and the COCO results of all
images, written in shards and merged into ``OUT/coco_results.json`` at the end. Images that
cannot be read or decoded go to a dead-letter output, merged into ``OUT/failed.txt`` (file, tab,
reason), instead of failing the job.

FlinkRunner and SparkRunner start Beam's Java job server through ``mln_tf.beam_engines`` (with a
start-up deadline and a clear error); ``python -m mln_tf.beam_engines`` fetches pinned job-server
jars and prints the options of a local run (docs/cli.md).

apache-beam is an optional extra (``pip install 'mln_tf[beam]'``); importing this module
without it is an ImportError saying so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from mln_tf.estimator import Estimator, EstimatorConfig
from mln_tf.files import IMAGE_SUFFIXES


def _not_beam_noise(record: logging.LogRecord) -> bool:
    """Beam's notes on optional parts we do not use (GCP clients, memory metrics), logged on the root logger."""
    text = str(record.msg)
    return not (record.name == "root" and ("apitools not found" in text or "Resource module" in text))


try:
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.ml.inference.base import ModelHandler, RunInference
except ImportError as exc:  # pragma: no cover - exercised by the CLI test without the extra
    raise ImportError(
        "the Beam pipeline needs apache-beam: pip install 'mln_tf[beam]' (or apache-beam==2.77.0)"
    ) from exc


log = logging.getLogger(__name__)
RUNNERS = ("DirectRunner", "FlinkRunner", "SparkRunner", "DataflowRunner")
COCO_RESULTS = "coco_results.json"
FAILED = "failed.txt"
# A test hook: a marker file's path. The first WritePoses bundle to finish while the file is
# absent creates it and fails once, after writing its images, so a test can see the runner's retry.
FAIL_ONCE_ENV = "MLN_BEAM_FAIL_ONCE"


@dataclass(frozen=True)
class BeamJob:
    """What to run: a model, inputs (files, folders, globs; any Beam filesystem), an output folder, a runner.

    ``options``: further Beam pipeline options by name (``direct_num_workers``, ``project``...).
    """

    model: str
    inputs: tuple[str, ...]
    out: str
    runner: str = "DirectRunner"
    config: EstimatorConfig = field(default_factory=EstimatorConfig)
    limit: int | None = None  # at most this many images, the first in infer's order
    threads: int | None = None
    arch: str | None = None
    width: str | None = None
    workers: int = 2  # DirectRunner: worker processes
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.runner not in RUNNERS:
            raise ValueError(f"runner must be one of {', '.join(RUNNERS)}, got {self.runner!r}")
        if not self.inputs:
            raise ValueError("give at least one input (file, folder or glob)")
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be >= 1")
        if not isinstance(self.config, EstimatorConfig):
            raise ValueError("config must be an mln_tf.estimator.EstimatorConfig")


@dataclass
class BeamSummary:
    """What a finished job did."""

    images: int
    people: int
    failed: list[tuple[str, str]]
    seconds: float
    coco_results: str
    model_loads: int | None = None  # times a worker loaded the model (the runner's metrics; None: not reported)
    model_load_s: float | None = None  # their mean, seconds


class _OneAtATime:
    """An Estimator that one thread at a time runs (Beam shares a worker's model between its threads)."""

    def __init__(self, estimator: Estimator) -> None:
        self.estimator, self._lock = estimator, threading.Lock()

    def estimate(self, rgb: np.ndarray):
        with self._lock:
            return self.estimator.estimate(rgb)


class PoseModelHandler(ModelHandler):
    """``RunInference`` handler for our models (.keras, SavedModel, .tflite, ``pretrained:NAME``).

    Elements are ``(key, rgb)``; predictions ``(key, Poses)``. Beam calls ``load_model`` once
    per worker process (an ``Estimator``: the model with ``config``) and shares it between the
    worker's threads, which take turns (a LiteRT interpreter is not thread-safe: two bundles at
    once on one, as on Spark's ``local[2]``, gave a wrong result).
    """

    def __init__(
        self, model: str, config: EstimatorConfig | None = None, threads: int | None = None, arch=None, width=None
    ):
        super().__init__()
        self.model, self.config, self.threads, self.arch, self.width = model, config, threads, arch, width

    def load_model(self) -> _OneAtATime:
        """The Estimator, loaded on the worker (with the lock its threads share)."""
        start = time.perf_counter()
        estimator = Estimator.load(self.model, self.config, threads=self.threads, arch=self.arch, width=self.width)
        log.info("loaded %s on a worker in %.1f s", self.model, time.perf_counter() - start)
        return _OneAtATime(estimator)

    def run_inference(self, batch: Sequence[tuple[Any, np.ndarray]], model: _OneAtATime, inference_args=None):
        """People in each image of the batch (images differ in size: one network call each)."""
        return [(key, model.estimate(rgb)) for key, rgb in batch]

    def batch_elements_kwargs(self) -> dict:
        return {"min_batch_size": 1, "max_batch_size": 8}

    def get_metrics_namespace(self) -> str:
        return "mln_tf"


class DecodeImage(beam.DoFn):
    """``(path, name)`` -> ``((path, name), rgb)``; unreadable or corrupt files -> the ``failed`` output."""

    def process(self, element):
        from mln_tf.inference import decode_image

        path, name = element
        try:
            with FileSystems.open(path) as f:
                data = f.read()
            yield (path, name), decode_image(data, path)
        except Exception as exc:  # noqa: BLE001 - any reason a file cannot be read goes to the dead letters
            beam.metrics.Metrics.counter("mln_tf", "failed_images").inc()
            yield beam.pvalue.TaggedOutput("failed", (path, str(exc).splitlines()[0] if str(exc) else repr(exc)))


class WritePoses(beam.DoFn):
    """``((path, name), Poses)`` -> ``OUT/<name>_keypoints.json`` (atomically), then the image's COCO results."""

    def __init__(self, out: str) -> None:
        self.out = out

    def start_bundle(self):
        self._written = 0

    def process(self, element):
        from mln_tf.outputs import coco_results, openpose_json

        (path, name), poses = element
        stem = PurePosixPath(path).stem
        _write_atomic(FileSystems.join(self.out, f"{name}_keypoints.json"), json.dumps(openpose_json(poses)).encode())
        beam.metrics.Metrics.counter("mln_tf", "images").inc()
        beam.metrics.Metrics.counter("mln_tf", "people").inc(len(poses))
        self._written += 1
        image_id = int(stem) if stem.isdigit() else -1
        for result in coco_results(image_id, poses):
            yield json.dumps({**result, "file_name": PurePosixPath(path).name})

    def finish_bundle(self):
        marker = os.environ.get(FAIL_ONCE_ENV)
        if not marker or not self._written:
            return
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        with os.fdopen(fd, "w") as f:
            f.write(f"failed a bundle of {self._written} image(s) after writing them (pid {os.getpid()})\n")
        raise RuntimeError(f"{FAIL_ONCE_ENV}: this bundle fails once on purpose, to test the runner's retry")


def _write_atomic(path: str, data: bytes) -> None:
    """Write through a temporary name and a rename, on any Beam filesystem."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with FileSystems.create(tmp) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def match_images(inputs: Iterable[str], limit: int | None = None) -> list[str]:
    """The image files of ``inputs`` in infer's order (each input in turn; a folder's or glob's files sorted).

    Local folders are globbed for their images; everything else goes to Beam's matcher (any
    filesystem). ``limit``: the first that many. None at all is a ValueError naming the inputs.
    """
    paths: list[str] = []
    for item in inputs:
        local_dir = "://" not in item and os.path.isdir(item)
        patterns = [os.path.join(item, f"*{suffix}") for suffix in sorted(IMAGE_SUFFIXES)] if local_dir else [item]
        found = {
            m.path
            for result in FileSystems.match(patterns)
            for m in result.metadata_list
            if PurePosixPath(m.path).suffix.lower() in IMAGE_SUFFIXES
        }
        paths += sorted(found)
    if not paths:
        raise ValueError(f"no images in {', '.join(inputs)} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths[:limit]


def output_names(paths: Sequence[str]) -> list[tuple[str, str]]:
    """``(path, name)`` for each image: the names ``mln-pose infer`` gives (``mln_tf.stream.unique_name``)."""
    from mln_tf.stream import unique_name

    used: set[str] = set()
    return [(path, unique_name(path, used)) for path in paths]


def pipeline_options(job: BeamJob, extra: dict[str, Any] | None = None):
    """Beam's PipelineOptions for the job (DirectRunner: ``workers`` processes); ``extra`` last."""
    from apache_beam.options.pipeline_options import PipelineOptions

    # the SDK workers' own INFO lines (one per start, bundle and exit) are noise for a user
    options: dict[str, Any] = {"runner": job.runner, "default_sdk_harness_log_level": "ERROR"}
    if job.runner == "DirectRunner":
        options.update(direct_running_mode="multi_processing", direct_num_workers=job.workers)
    options.update(job.options)
    options.update(extra or {})
    return PipelineOptions(**options)


def build(pipeline, job: BeamJob, shards: str):
    """Add the job's transforms to ``pipeline``; shard outputs go under the ``shards`` folder."""
    named = output_names(match_images(job.inputs, job.limit))
    images = pipeline | "Images" >> beam.Create(named) | "Spread" >> beam.Reshuffle()
    decoded = images | "Decode" >> beam.ParDo(DecodeImage()).with_outputs("failed", main="images")
    handler = PoseModelHandler(job.model, job.config, job.threads, job.arch, job.width)
    results = decoded.images | "Poses" >> RunInference(handler) | "Write" >> beam.ParDo(WritePoses(job.out))
    results | "COCO shards" >> beam.io.WriteToText(FileSystems.join(shards, "coco"), file_name_suffix=".jsonl")
    (
        decoded.failed
        | "Failed lines" >> beam.MapTuple(lambda path, reason: f"{path}\t{reason}")
        | "Failed shards" >> beam.io.WriteToText(FileSystems.join(shards, "failed"), file_name_suffix=".txt")
    )


def _read_shards(pattern: str) -> list[str]:
    lines = []
    for match in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(match.path) as f:
            lines += [line for line in f.read().decode().splitlines() if line]
    return lines


@contextlib.contextmanager
def _quiet_beam() -> Iterator[None]:
    """While a job runs: Beam's per-bundle and per-worker notes hidden, and put back as they were after."""
    root, beam_log = logging.getLogger(), logging.getLogger("apache_beam")
    data_log, excepthook = logging.getLogger("apache_beam.runners.worker.data_plane"), threading.excepthook
    level = beam_log.level
    root.addFilter(_not_beam_noise)
    data_log.addFilter(_not_hung_up)
    beam_log.setLevel(logging.ERROR)  # its INFO/WARNING lines are per bundle and worker

    def quiet_excepthook(args) -> None:
        if _HUNG_UP not in str(args.exc_value):
            excepthook(args)

    threading.excepthook = quiet_excepthook
    try:
        yield
    finally:
        root.removeFilter(_not_beam_noise)
        data_log.removeFilter(_not_hung_up)
        beam_log.setLevel(level)
        threading.excepthook = excepthook


# A portable runner (Flink, Spark) closing an in-process worker's data stream when a stage ends:
# Beam logs it as an error with tracebacks from two threads, but nothing failed.
_HUNG_UP = "Multiplexer hanging up"


def _not_hung_up(record: logging.LogRecord) -> bool:
    return not (record.exc_info and _HUNG_UP in str(record.exc_info[1]))


def run_job(job: BeamJob) -> BeamSummary:
    """Run the pipeline to the end, then merge the shards into ``coco_results.json`` and ``failed.txt``."""
    start = time.perf_counter()
    shards = FileSystems.join(job.out, f".beam-{uuid.uuid4().hex[:8]}")
    from mln_tf.beam_engines import job_server

    try:
        with _quiet_beam(), job_server(job.runner, job.options) as endpoint:
            with beam.Pipeline(options=pipeline_options(job, endpoint)) as pipeline:
                build(pipeline, job, shards)
            loads = _model_loads(pipeline.result)  # while a job server is still there to ask
    except BaseException:
        with contextlib.suppress(Exception):  # a failed job leaves no shards behind
            FileSystems.delete([shards])
        raise
    results = [json.loads(line) for line in _read_shards(FileSystems.join(shards, "coco*"))]
    results.sort(key=lambda r: (r["file_name"], -r["score"]))
    failed = sorted(tuple(line.split("\t", 1)) for line in _read_shards(FileSystems.join(shards, "failed*")))
    coco_path = FileSystems.join(job.out, COCO_RESULTS)
    _write_atomic(coco_path, json.dumps(results).encode())
    if failed:
        _write_atomic(FileSystems.join(job.out, FAILED), "".join(f"{p}\t{r}\n" for p, r in failed).encode())
    FileSystems.delete([shards])
    written = FileSystems.match([FileSystems.join(job.out, "*_keypoints.json")])[0].metadata_list
    return BeamSummary(
        images=len(written),
        people=len(results),
        failed=failed,
        seconds=time.perf_counter() - start,
        coco_results=coco_path,
        model_loads=loads[0] if loads else None,
        model_load_s=loads[1] if loads else None,
    )


def _model_loads(result) -> tuple[int, float] | None:
    """(times a worker loaded the model, mean seconds) from RunInference's metrics, or None."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        found = result.metrics().query(
            MetricsFilter().with_namespace("mln_tf").with_name("load_model_latency_milli_secs")
        )
        dists = [d.committed or d.attempted for d in found["distributions"]]
    except Exception:  # noqa: BLE001 - a runner that reports no metrics: nothing to say
        return None
    count = sum(d.count for d in dists if d)
    return (count, sum(d.sum for d in dists if d) / count / 1000) if count else None
