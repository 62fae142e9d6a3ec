"""The one place the processing chain is built, from settings and its dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine

from pipeline.clock import Clock
from pipeline.consumer.batch_step import BatchStep
from pipeline.consumer.batching import BatchLimits
from pipeline.consumer.commit import CommitPolicy, CommitStep, Committer
from pipeline.consumer.dead_letters import DeadLetterSink, DeadLetterStep
from pipeline.consumer.decode import DecodeStep, RawRecord
from pipeline.consumer.poison import PoisonGuard, PoisonWatch
from pipeline.consumer.steps import ForwardingStep, Message, ProcessingStep
from pipeline.consumer.store import InferenceTask, ScoredPublisher, StoreTask
from pipeline.consumer.threaded import RunTaskInThread
from pipeline.items.scored import ModelRecord
from pipeline.metrics import ClassifierMetrics
from pipeline.model.classify import BatchClassifier
from pipeline.model.label_drift import LabelDrift
from pipeline.settings import Settings
from pipeline.storage.results import TimePolicy

T = TypeVar("T")


class StepWrapper(Protocol):
    """Wraps one step of the chain as it is built: the seam through which the tests inject
    faults (a crash between the commits, offsets committed early). Production passes none.

    `name` is one of decode, dead_letters, batch, infer, store, commit, poison_guard; the
    returned step takes the wrapped step's place and must hand its messages on to it.
    """

    def __call__(
        self, name: str, step: ProcessingStep[Any], committer: Committer
    ) -> ProcessingStep[Any]: ...


@dataclass(frozen=True)
class ChainDeps:
    """What every chain of a process shares; a new chain is built per partition assignment."""

    settings: Settings
    classifier: BatchClassifier
    engine: Engine
    model: ModelRecord
    clock: Clock
    metrics: ClassifierMetrics
    dead_letters: DeadLetterSink
    publisher: ScoredPublisher | None = None
    poison: PoisonWatch | None = None
    wrap: StepWrapper | None = None


def time_policy(settings: Settings) -> TimePolicy:
    from datetime import timedelta

    events = settings.events
    return TimePolicy(
        timedelta(seconds=events.allowed_skew_s), timedelta(seconds=events.lateness_horizon_s)
    )


class Chain(ForwardingStep[RawRecord]):
    """The built chain: its head, plus what terminating must also stop."""

    def __init__(self, head: ProcessingStep[RawRecord], on_terminate: list[Callable[[], None]]):
        super().__init__(head)
        self._on_terminate = on_terminate

    def submit(self, message: Message[RawRecord]) -> None:
        self._next.submit(message)

    def terminate(self) -> None:
        for hook in self._on_terminate:
            hook()
        super().terminate()


def build_chain(deps: ChainDeps, committer: Committer) -> Chain:
    """(poison guard →) decode → dead letters → batch → inference → store → commit, commit last."""
    settings, metrics = deps.settings, deps.metrics

    def wrap(name: str, step: ProcessingStep[T]) -> ProcessingStep[T]:
        return step if deps.wrap is None else deps.wrap(name, step, committer)

    policy = CommitPolicy(settings.classifier.commit_interval_ms / 1000)
    commit = wrap("commit", CommitStep(committer, policy, metrics))
    writer = StoreTask(
        deps.engine,
        deps.model,
        time_policy(settings),
        metrics,
        settings.classifier.retry_backoff_max_s,
        deps.dead_letters,
        deps.publisher,
    )
    depth = settings.batching.pipeline_depth
    store = wrap("store", RunTaskInThread(writer, commit, depth, "store"))
    inference = InferenceTask(
        deps.classifier, deps.clock, metrics, LabelDrift.from_manifest(deps.model.manifest)
    )
    infer = wrap("infer", RunTaskInThread(inference, store, depth, "infer"))
    batch = wrap(
        "batch",
        BatchStep(
            infer,
            BatchLimits.from_settings(settings.batching),
            deps.classifier.runtime.token_ids,
            deps.clock.monotonic,
            metrics,
        ),
    )
    letters = wrap("dead_letters", DeadLetterStep(batch, deps.dead_letters, metrics))
    head = wrap("decode", DecodeStep(letters, settings.events, deps.clock, metrics))
    if deps.poison is not None:
        head = wrap(
            "poison_guard",
            PoisonGuard(
                head, letters, deps.poison, committer.committed, settings.events, deps.clock
            ),
        )
    return Chain(head, [writer.cancel, deps.classifier.cache.clear])
