"""ModelRuntime: classifies texts with a bundle's ONNX model (tokenizers + onnxruntime only)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from pipeline.errors import ModelError
from pipeline.model.bundle import ModelBundle, Precision
from pipeline.model.encoding import EncodedBatch, TextEncoder
from pipeline.model.sessions import (
    Provider,
    ResolvedProvider,
    SessionPlan,
    candidate_providers,
    default_intra_op_threads,
    open_session,
)
from pipeline.settings import default_cache_dir

log = logging.getLogger(__name__)

PrecisionChoice = Literal["auto", "fp32", "int8", "fp16"]
OUTPUTS = ["topic_logits", "sentiment_logits"]

# Sorted by length, then cut into buckets of at most this many items / padded tokens:
# small enough that padding stays low, large enough that per-call overhead stays low.
BUCKET_ITEMS = 32
BUCKET_TOKENS = 2048


@dataclass(frozen=True)
class Prediction:
    """What the model says about one text."""

    topic: str
    topic_confidence: float
    sentiment: str
    probabilities: tuple[float, float, float]  # negative, neutral, positive
    score: float  # p(positive) - p(negative)


class ModelRuntime:
    """A loaded, warmed-up model; `classify` may be called from any number of threads.

    `classify` takes raw text (a headline, or `build_model_input(headline, body)`) and
    applies the bundle's preprocessing itself; `classify_encoded` takes what `token_ids`
    returned, for a caller that needed the ids first (the worker sizes its batches by them).
    `intra_op_threads` is the CPU threads it uses (None = the cores this process may use).
    """

    def __init__(
        self,
        bundle: ModelBundle,
        provider: Provider = "auto",
        precision: PrecisionChoice = "auto",
        intra_op_threads: int | None = None,
    ) -> None:
        self.bundle = bundle
        self._encoder = TextEncoder(bundle.file("tokenizer"), bundle.manifest.max_length)
        self._topics = bundle.manifest.labels.topics
        self._sentiments = bundle.manifest.labels.sentiments
        threads = intra_op_threads or default_intra_op_threads()
        self._session, self.active_provider, self.precision = _start(
            bundle, provider, precision, threads
        )
        self._check_outputs()
        self._temperature = {
            task: bundle.temperature(self.precision, task) for task in ("topic", "sentiment")
        }
        # On CPU each bucket runs single-threaded and `threads` buckets run side by side:
        # measured faster on 2 cores than one bucket at a time over 2 ORT threads. A call that
        # is a single bucket (batch 1) would leave the other cores idle: it runs on all of them,
        # with spinning threads (without them, waking a sleeping thread per operator made
        # 2 threads slower than 1 at batch 1: bench/results/runtime.json).
        self._workers = threads if self.active_provider == "cpu" else 1
        self._single_bucket_session = (
            self._session if self._workers == 1 else _cpu_session(bundle, self.precision, threads)
        )
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="finsent-ort")
        self.classify(["warm-up: shares rise after earnings beat", "warm up"])
        log.info("model %s loaded on %s (%s)", self.version, self.active_provider, self.precision)

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def max_length(self) -> int:
        return self._encoder.max_length

    @property
    def session_providers(self) -> list[str]:
        """The providers ONNX Runtime placed the session on, best first: what really runs."""
        providers: list[str] = self._session.get_providers()
        return providers

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The token ids the model sees for each text (preprocessed, truncated)."""
        return self._encoder.token_ids(texts)

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in input order, with calibrated probabilities."""
        return self.classify_encoded(self.token_ids(texts))

    def classify_encoded(self, ids: Sequence[Sequence[int]]) -> list[Prediction]:
        """`classify` on ids from `token_ids`: a caller that has encoded never encodes twice."""
        if not ids:
            return []
        topic_logits, sentiment_logits = self._logits(ids)
        return list(self._predictions(topic_logits, sentiment_logits))

    def logits(self, texts: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """The raw (uncalibrated) topic and sentiment logits, one row per text in input order."""
        return self._logits(self.token_ids(texts))

    def close(self) -> None:
        """Stops the bucket threads."""
        self._pool.shutdown(wait=True)

    def _logits(
        self, ids: Sequence[Sequence[int]]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        per_bucket = max(1, min(BUCKET_ITEMS, -(-len(ids) // self._workers)))
        buckets = list(_buckets(ids, per_bucket))
        batches = [self._encoder.pad([ids[i] for i in bucket]) for bucket in buckets]
        if len(batches) == 1:
            outputs = [self._run(self._single_bucket_session, batches[0])]
        else:
            outputs = list(self._pool.map(partial(self._run, self._session), batches))
        topic = np.empty((len(ids), len(self._topics)), dtype=np.float32)
        sentiment = np.empty((len(ids), len(self._sentiments)), dtype=np.float32)
        for bucket, (topic_rows, sentiment_rows) in zip(buckets, outputs, strict=True):
            topic[bucket] = topic_rows
            sentiment[bucket] = sentiment_rows
        return topic, sentiment

    def _run(
        self, session: ort.InferenceSession, batch: EncodedBatch
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        if self.active_provider == "cpu":
            topic, sentiment = session.run(OUTPUTS, batch.feed())
            return np.asarray(topic), np.asarray(sentiment)
        binding = session.io_binding()
        for name, value in batch.feed().items():
            binding.bind_cpu_input(name, value)
        for name in OUTPUTS:
            binding.bind_output(name)
        session.run_with_iobinding(binding)
        topic, sentiment = binding.copy_outputs_to_cpu()
        return np.asarray(topic), np.asarray(sentiment)

    def _predictions(
        self, topic_logits: NDArray[np.float32], sentiment_logits: NDArray[np.float32]
    ) -> Iterator[Prediction]:
        topic_p = _softmax(topic_logits / self._temperature["topic"])
        sentiment_p = _softmax(sentiment_logits / self._temperature["sentiment"])
        topic_ids = topic_p.argmax(axis=1)
        sentiment_ids = sentiment_p.argmax(axis=1)
        for row, topic_id in enumerate(topic_ids):
            neg, neu, pos = (float(p) for p in sentiment_p[row])
            yield Prediction(
                topic=self._topics[int(topic_id)],
                topic_confidence=float(topic_p[row, topic_id]),
                sentiment=self._sentiments[int(sentiment_ids[row])],
                probabilities=(neg, neu, pos),
                score=pos - neg,
            )

    def _check_outputs(self) -> None:
        shapes = {o.name: o.shape for o in self._session.get_outputs()}
        expected = {"topic_logits": len(self._topics), "sentiment_logits": 3}
        for name, width in expected.items():
            if name not in shapes or shapes[name][-1] != width:
                raise ModelError(
                    f"bundle {self.bundle.path}: output {name} should have {width} classes, "
                    f"the model has {shapes.get(name)}"
                )


def _start(
    bundle: ModelBundle, provider: Provider, precision: PrecisionChoice, threads: int
) -> tuple[ort.InferenceSession, ResolvedProvider, Precision]:
    cache = _engine_cache(bundle)
    for candidate in candidate_providers(provider):
        chosen = _precision_for(bundle, candidate, precision)
        if chosen is None and provider != "auto":
            raise ModelError(f"precision {precision} cannot run on provider {provider}")
        if chosen is None:
            continue
        plan = SessionPlan(candidate, bundle.file(chosen))
        quiet = provider == "auto" and candidate != "cpu"
        intra_op = 1 if candidate == "cpu" else threads
        session = open_session(plan, intra_op, quiet=quiet, cache_dir=cache)
        if session is not None:
            return session, candidate, chosen
        if provider != "auto":
            raise ModelError(
                f"provider {provider} is configured but ONNX Runtime could not start it "
                f"(it fell back to {ort.get_available_providers()[-1]}); refusing to run on CPU"
            )
    raise ModelError(f"no provider could run {bundle.path} with precision {precision}")


def _cpu_session(bundle: ModelBundle, precision: Precision, threads: int) -> ort.InferenceSession:
    session = open_session(
        SessionPlan("cpu", bundle.file(precision)),
        threads,
        quiet=False,
        cache_dir=_engine_cache(bundle),
        spinning=True,
    )
    if session is None:
        raise ModelError(f"ONNX Runtime did not open {bundle.path} ({precision}) on the CPU")
    return session


def _engine_cache(bundle: ModelBundle) -> Path:
    return default_cache_dir() / "models" / "engines" / bundle.version


def _precision_for(
    bundle: ModelBundle, provider: ResolvedProvider, precision: PrecisionChoice
) -> Precision | None:
    """The file to load on `provider`, or None when that precision cannot run there."""
    on_gpu = provider != "cpu"
    if precision == "auto":
        return bundle.manifest.serving.gpu if on_gpu else bundle.manifest.serving.cpu
    if (precision == "int8" and on_gpu) or (precision == "fp16" and not on_gpu):
        return None
    if precision not in bundle.manifest.files:
        raise ModelError(f"bundle {bundle.path} has no {precision} model")
    return precision


def _buckets(ids: Sequence[Sequence[int]], per_bucket: int) -> Iterator[list[int]]:
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    bucket: list[int] = []
    for i in order:
        width = len(ids[i])  # the longest so far: the order is ascending
        if bucket and (len(bucket) >= per_bucket or width * (len(bucket) + 1) > BUCKET_TOKENS):
            yield bucket
            bucket = []
        bucket.append(i)
    if bucket:
        yield bucket


def _softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: NDArray[np.float32] = shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities
