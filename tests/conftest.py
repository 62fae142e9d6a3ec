"""Shared fixtures: the tiny model bundle, built once per code version and cached."""

from __future__ import annotations

import pytest

from pipeline.model.bundle import ModelBundle
from pipeline.settings import default_cache_dir


@pytest.fixture(scope="session")
def test_bundle() -> ModelBundle:
    """A tiny (2-layer) bundle built through the real training and export path."""
    from pipeline.training.testbundle import cached_test_bundle  # imports torch: only when used

    return cached_test_bundle(default_cache_dir() / "models")
