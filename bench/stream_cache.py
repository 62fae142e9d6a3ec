"""The stream classified once per (model version, stream file, code that decides what is
stored): a SQLite db in the cache dir.

Tuning the spike rule replays history many times; the classifications do not change between
runs, so they are computed once (embedded mode, the real chain) and reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from pipeline.consumer.replay import ReplayOptions, ReplaySource
from pipeline.settings import Settings, load_settings
from pipeline.storage.migrate import upgrade

log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_version(bundle: Path) -> str:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return str(manifest["version"])


# What decides a stored item besides the model: decoding, language, tickers and their
# relevance, copy fingerprints, the dictionaries.
CLASSIFY_SOURCES = (
    "schemas/news.py",
    "pipeline/items/language.py",
    "pipeline/items/tickers.py",
    "pipeline/items/relevance.py",
    "pipeline/items/identity.py",
    "pipeline/items/companies.py",
    "pipeline/model/preprocessing.py",
    "pipeline/data/companies.csv",
    "pipeline/data/symbol_history.csv",
)
ROOT = Path(__file__).resolve().parents[1]


def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in CLASSIFY_SOURCES:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:8]


def cache_path(cache_dir: Path, version: str, stream_hash: str, limit: int | None) -> Path:
    size = "all" if limit is None else f"first{limit}"
    name = f"{version}-{stream_hash[:16]}-{code_fingerprint()}-{size}.sqlite"
    return cache_dir / "alert_quality" / name


def classified_stream(
    stream: Path, bundle: Path, cache_dir: Path, limit: int | None = None
) -> tuple[Path, str]:
    """(SQLite file holding the classified stream, model version); classifies on a miss."""
    version = bundle_version(bundle)
    target = cache_path(cache_dir, version, file_sha256(stream), limit)
    if target.exists():
        return target, version
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    settings = embedded_settings(partial, bundle)
    upgrade(settings.database.url.get_secret_value())
    from workers.embedded import classify_stream

    log.info("classifying %s with %s into %s", stream, version, target)
    classify_stream(ReplaySource(stream, ReplayOptions(limit=limit)), settings)
    os.replace(partial, target)
    return target, version


def embedded_settings(database: Path, bundle: Path | None, **sections: object) -> Settings:
    return load_settings(
        database={"url": f"sqlite:///{database}"},
        kafka={"bootstrap": ""},
        model={"bundle": bundle, "provider": "cpu"},
        classifier={"dead_letter_file": database.with_suffix(".dlq.jsonl")},
        metrics_port=0,
        **sections,
    )


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO)
    path, model = classified_stream(
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        Path(sys.argv[3]),
        int(sys.argv[4]) if len(sys.argv) > 4 else None,
    )
    print(path, model)
