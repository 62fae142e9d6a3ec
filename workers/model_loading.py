"""Loading the model and the classify path's dependencies from settings (process wiring)."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from pipeline.errors import ConfigError
from pipeline.items.companies import load_companies, load_symbol_history
from pipeline.items.scored import ModelRecord
from pipeline.items.tickers import CompanyMatcher, TickerExtractor
from pipeline.metrics import ClassifierMetrics
from pipeline.model.bundle import ModelBundle
from pipeline.model.classify import BatchClassifier, InferenceRuntime
from pipeline.model.shipped import shipped_bundle
from pipeline.settings import Settings
from pipeline.storage.results import find_originals

log = logging.getLogger(__name__)


def load_runtime(settings: Settings) -> tuple[InferenceRuntime, ModelRecord]:
    """The configured bundle, loaded on the configured provider, and its model record."""
    from pipeline.model.runtime import ModelRuntime

    bundle = configured_bundle(settings)
    runtime = ModelRuntime(
        bundle,
        provider=settings.model.provider,
        precision=settings.model.precision,
        intra_op_threads=settings.model.intra_op_threads,
    )
    manifest = bundle.manifest.model_dump(mode="json")
    return runtime, ModelRecord(bundle.version, bundle.manifest.base.name, manifest)


def with_bundle(settings: Settings, bundle: Path | None) -> Settings:
    """The settings with `bundle` as the model to load; None keeps the configured one."""
    if bundle is None:
        return settings
    model = settings.model.model_copy(update={"bundle": bundle})
    return settings.model_copy(update={"model": model})


def configured_bundle(settings: Settings) -> ModelBundle:
    """FINSENT_MODEL__BUNDLE when set, else the shipped model (derived into the cache once)."""
    if settings.model.bundle is not None:
        return ModelBundle.load(settings.model.bundle)
    return shipped_bundle(settings.cache_dir)


def ticker_extractor() -> TickerExtractor:
    """Cashtags and producer tickers always; company names when the dictionary is there."""
    try:
        companies = load_companies()
        history = load_symbol_history()
    except (ConfigError, OSError) as e:
        log.warning("company-name matching off: %s", e)
        companies, history = (), ()
    return TickerExtractor(CompanyMatcher(companies), history)


def batch_classifier(
    runtime: InferenceRuntime, engine: Engine, settings: Settings
) -> BatchClassifier:
    version = runtime.version
    return BatchClassifier(
        runtime,
        ticker_extractor(),
        lambda hashes: find_originals(engine, hashes, version),
        settings.classifier.reprint_cache_size,
    )


def record_provider(runtime: InferenceRuntime, metrics: ClassifierMetrics) -> None:
    provider = str(getattr(runtime, "active_provider", "unknown"))
    metrics.provider.labels(provider).set(1)
    log.info("model %s serving on %s", runtime.version, provider)
