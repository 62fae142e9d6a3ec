"""The operators' files in deploy/: Prometheus rules that promtool accepts and that fire (and
stay quiet) as their tests say, a Grafana board that names only known series, and the compose
services that load both. The metric names themselves are checked against running processes in
tests/e2e/test_monitoring.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "finsent.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests" / "finsent.test.yml"
BOARD = DEPLOY / "grafana" / "dashboards" / "finsent.json"
REQUIRED_ALERTS = {
    "FinsentWorkerDown",
    "FinsentConsumerLagGrowing",
    "FinsentDeadLetterRateHigh",
    "FinsentWebhookBacklog",
    "FinsentNoSchedulerLeader",
}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: apt-get install prometheus (scripts/test.sh does)")
    return found


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["check", "rules", str(RULES)], id="check rules"),
        pytest.param(["test", "rules", str(RULE_TESTS)], id="rule unit tests"),
        pytest.param(
            ["check", "config", "--syntax-only", str(DEPLOY / "prometheus" / "prometheus.yml")],
            id="check config",
        ),
    ],
)
def test_promtool_accepts(args: list[str]) -> None:
    done = subprocess.run(
        [_promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(RULES.read_text().replace("== 0", "== =", 1))
    done = subprocess.run(
        [_promtool(), "check", "rules", str(broken)], capture_output=True, timeout=60, check=False
    )
    assert done.returncode != 0


def test_the_rules_cover_what_operators_need() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= REQUIRED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    tested = {
        case["alertname"]
        for t in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in t.get("alert_rule_test", [])
    }
    assert tested >= REQUIRED_ALERTS


def test_every_board_panel_queries_the_provisioned_datasource() -> None:
    board = json.loads(BOARD.read_text())
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert board["uid"] == "finsent-overview"
    assert board["timezone"] == "utc"
    panels: list[dict[str, Any]] = board["panels"]
    assert len(panels) >= 10
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]
            assert re.search(r"\bfinsent_|\bup\b", target["expr"]), panel["title"]


def _service(name: str) -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service: dict[str, Any] = compose["services"][name]
    return service


@pytest.mark.parametrize("name", ["prometheus", "grafana"])
def test_compose_mounts_files_that_exist(name: str) -> None:
    mounts = [v.split(":") for v in _service(name)["volumes"] if v.startswith("./")]
    assert mounts, f"{name} mounts nothing from deploy/"
    for source, *_ in mounts:
        assert (ROOT / source).exists(), source


def test_prometheus_scrapes_every_finsent_service_on_its_port() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets: dict[str, str] = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            targets.update({n: f"{n}:{sd['port']}" for n in sd["names"]})
        for static in job.get("static_configs", []):
            targets.update({t.split(":")[0]: t for t in static["targets"]})
    for name in ("classifier", "scheduler", "notifier", "api"):
        assert name in compose["services"], name
        port = "8000" if name == "api" else compose["x-finsent-env"]["FINSENT_METRICS_PORT"]
        assert targets.get(name) == f"{name}:{port}", name
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in _service("prometheus")["volumes"]
