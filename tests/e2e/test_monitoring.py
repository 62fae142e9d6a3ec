"""Every metric the Prometheus rules and the Grafana board name is exported by a running
finsent process: `finsent run` (classifier, scheduler and notifier in one process, embedded)
and `finsent api`, each scraped on its real /metrics port."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline.model.bundle import ModelBundle

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
FINSENT = Path(sys.executable).with_name("finsent")
RULES = ROOT / "deploy" / "prometheus" / "rules" / "finsent.yml"
BOARD = ROOT / "deploy" / "grafana" / "dashboards" / "finsent.json"
METRIC = re.compile(r"\b(finsent_[a-z0-9_]+)\b")
# Written by Prometheus itself for every target, never by the target.
SYNTHETIC = {"up"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def exported_names(exposition: str) -> set[str]:
    """Every series name a query may use, from families even when they have no samples yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + s for s in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def referenced_names() -> dict[str, set[str]]:
    rules = yaml.safe_load(RULES.read_text())
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    board = json.loads(BOARD.read_text())
    exprs.update({p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in board["panels"]})
    return {where: set(METRIC.findall(expr)) for where, expr in exprs.items()}


def _wait_for(url: str, needle: str, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args!r} exited {process.returncode}"
        try:
            text = _scrape(url)
        except OSError:
            text = ""
        if needle in text:
            return text
        time.sleep(0.5)
    pytest.fail(f"{url} never showed {needle}")


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(FINSENT), *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory, test_bundle: ModelBundle) -> Iterator[str]:
    work = tmp_path_factory.mktemp("monitoring")
    stream = ROOT / "pipeline" / "data" / "demo_stream.jsonl"
    (work / "stream.jsonl").write_text("".join(stream.open().readlines()[:20]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    env.update(
        FINSENT_CACHE_DIR=os.environ.get("FINSENT_CACHE_DIR", ""),
        FINSENT_DATABASE__URL=f"sqlite:///{work / 'finsent.db'}",
        FINSENT_MODEL__BUNDLE=str(test_bundle.path),
        FINSENT_API__TOKEN="monitoring-test-token",
    )
    if not env["FINSENT_CACHE_DIR"]:
        del env["FINSENT_CACHE_DIR"]
    workers_port, api_port = _free_port(), _free_port()
    run = _start(
        ["run", "--replay", str(work / "stream.jsonl")],
        {**env, "FINSENT_METRICS_PORT": str(workers_port)},
        work / "run.log",
    )
    api: subprocess.Popen[str] | None = None
    try:
        workers = _wait_for(
            f"http://127.0.0.1:{workers_port}/metrics", "finsent_classifier_batches_total", run
        )
        api = _start(
            ["api", "--host", "127.0.0.1", "--port", str(api_port)],
            {**env, "FINSENT_METRICS_PORT": "0"},
            work / "api.log",
        )
        served = _wait_for(f"http://127.0.0.1:{api_port}/metrics", "finsent_api_", api)
        yield workers + served
    finally:
        for process in (p for p in (run, api) if p is not None):
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def test_the_rules_and_the_board_name_metrics() -> None:
    found = referenced_names()
    assert found["FinsentConsumerLagGrowing"] == {"finsent_classifier_consumer_lag"}
    assert sum(len(names) for names in found.values()) >= 20


@pytest.mark.parametrize("where", sorted(referenced_names()))
def test_every_referenced_metric_is_exported(scraped: str, where: str) -> None:
    missing = referenced_names()[where] - exported_names(scraped) - SYNTHETIC
    assert not missing, f"{where} names metrics no process exports: {sorted(missing)}"


def test_exported_names_know_families_without_samples() -> None:
    exposition = (
        "# HELP finsent_x_total X\n# TYPE finsent_x_total counter\n"
        "# HELP finsent_h H\n# TYPE finsent_h histogram\n"
    )
    assert exported_names(exposition) >= {"finsent_x_total", "finsent_h_bucket", "finsent_h_sum"}
    assert "finsent_y" not in exported_names(exposition)
