"""Rules from settings or a YAML/JSON file, and the errors a person gets for bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.alerting.rules import DEFAULT_RULE, load_rules, parse_rules
from pipeline.errors import ConfigError
from pipeline.settings import AlertSettings


def test_default_rule_carries_the_settings() -> None:
    (rule,) = load_rules(AlertSettings(z_threshold=3.5, min_count_ticker=7, detector="ewma"))
    assert rule.name == DEFAULT_RULE
    assert rule.z_threshold == 3.5
    assert rule.detector == "ewma"
    assert rule.min_count == {"market": 30, "topic": 10, "ticker": 7}
    assert rule.hold_steps == 2
    assert rule.resolve_steps == 3
    assert rule.repeat_every_s == 4 * 3600


def test_yaml_rules_file_overrides_settings_per_rule(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - name: tickers-fast\n"
        "    scope_kinds: [ticker]\n"
        "    hold_steps: 1\n"
        "    min_count: {ticker: 8}\n"
        "  - name: market-ewma\n"
        "    detector: ewma\n"
        "    scope_kinds: [market]\n",
        encoding="utf-8",
    )
    fast, market = load_rules(AlertSettings(rules_file=path, sigma_min=0.08))
    assert fast.scope_kinds == ("ticker",)
    assert fast.hold_steps == 1
    assert fast.min_count == {"market": 30, "topic": 10, "ticker": 8}
    assert fast.sigma_min == 0.08, "unset fields come from settings"
    assert market.detector == "ewma"


def test_json_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": [{"name": "only", "z_threshold": 4}]}), "utf-8")
    (rule,) = load_rules(AlertSettings(rules_file=path))
    assert rule.z_threshold == 4.0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param([], "expected a mapping with a list under 'rules'", id="not a mapping"),
        pytest.param({"rules": []}, "'rules' is empty", id="no rules"),
        pytest.param({"rules": ["x"]}, "rules[0]: a rule must be a mapping", id="not a rule"),
        pytest.param({"rules": [{"name": "a", "z_threshold": -1}]},
                     "rules[0]: z_threshold: Input should be greater than 0", id="negative z"),
        pytest.param({"rules": [{"name": "a", "min_baseline_windows": 30}]},
                     "min_baseline_windows must not exceed baseline_windows",
                     id="more windows needed than kept"),
        pytest.param({"rules": [{"name": "a", "critical_z": 2}]},
                     "critical_z must be at least z_threshold", id="critical below threshold"),
        pytest.param({"rules": [{"name": "a", "min_count": {"sector": 3}}]},
                     "rules[0]: min_count.sector", id="unknown scope kind in min_count"),
        pytest.param({"rules": [{"name": "a", "detector": "magic"}]},
                     "detector: Input should be 'count', 'mad' or 'ewma'", id="unknown detector"),
        pytest.param({"rules": [{"name": "a", "typo_field": 1}]}, "typo_field: Extra inputs",
                     id="misspelled field"),
        pytest.param({"rules": [{"name": "a"}, {"name": "a"}]}, "duplicate rule names a",
                     id="duplicate names"),
        pytest.param({"rules": [{"name": "Bad Name"}]}, "rules[0]: name", id="bad name"),
        pytest.param({"rules": [{"name": "a", "scope_kinds": []}]},
                     "scope_kinds must name at least one", id="no scope kinds"),
    ],
)
def test_invalid_rules_are_explained(document: object, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^rules\.yaml: ") as caught:
        parse_rules(document, AlertSettings(), "rules.yaml")
    assert message in str(caught.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_rules(AlertSettings(rules_file=tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.json"
    broken.write_text("{rules: ", "utf-8")
    with pytest.raises(ConfigError, match="not valid json"):
        load_rules(AlertSettings(rules_file=broken))
