"""Fuzzing the edges where outside text enters: inbound messages, settings, rules files.

Every input either becomes a value of the contract or is refused with the project's own
error carrying a reason; nothing else (a TypeError, a RecursionError, a bare
pydantic/pydantic-settings error) may escape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.alerting.rules import Rule, load_rules, parse_rules
from pipeline.errors import ConfigError
from pipeline.settings import AlertSettings, Settings, load_settings, setting_env_names
from schemas import SYMBOL_PATTERN, EventRejected, NewsEvent, decode_news_event
from tests.fuzz_messages import (
    deeply_nested,
    encode,
    hostile_text,
    huge_numbers,
    inbound_messages,
    json_values,
    near_valid_events,
    valid_events,
)

T = TypeVar("T")
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))


def outcome(raw: bytes) -> NewsEvent | EventRejected:
    """The decoder's answer; any exception other than EventRejected propagates (a failure)."""
    try:
        return decode_news_event(raw)
    except EventRejected as rejected:
        return rejected


def attempt(load: Callable[[], T]) -> T | ConfigError:
    """The loaded value, or the ConfigError; any other exception propagates (a failure)."""
    try:
        return load()
    except ConfigError as e:
        return e


def assert_contract(result: NewsEvent | EventRejected) -> None:
    if isinstance(result, EventRejected):
        assert result.reason.strip(), "a rejection must say why"
        assert result.kind.strip()
        return
    assert isinstance(result, NewsEvent)
    assert result.id
    assert result.headline.strip()
    assert result.source.strip()
    assert result.published_at.tzinfo is not None
    assert all(SYMBOL_PATTERN.match(symbol) for symbol in result.tickers)
    assert "\x00" not in result.headline
    assert "\x00" not in (result.body or "")
    # Storage normalises to UTC; an accepted time must survive that.
    result.published_at.astimezone(UTC)


@FAST
@given(inbound_messages)
def test_any_message_decodes_or_is_rejected_with_a_reason(raw: bytes) -> None:
    assert_contract(outcome(raw))


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_the_decoder(raw: bytes) -> None:
    assert_contract(outcome(raw))


@SMALL
@given(deeply_nested())
def test_any_nesting_depth_decodes_or_is_rejected_as_json(raw: bytes) -> None:
    result = outcome(raw)
    assert_contract(result)
    if isinstance(result, EventRejected):
        assert result.kind in {
            "json",
            "oversize",
            "invalid_field",
            "missing_field",
            "schema_version",
        }


@SMALL
@given(huge_numbers())
def test_huge_numbers_in_any_field_decode_or_are_rejected_with_a_reason(raw: bytes) -> None:
    result = outcome(raw)
    assert_contract(result)
    if isinstance(result, EventRejected) and result.kind == "json":
        assert "malformed JSON" in result.reason


@FAST
@given(json_values)
def test_random_json_is_rejected_unless_it_is_an_event(value: Any) -> None:
    result = outcome(encode(value))
    assert_contract(result)
    if not isinstance(value, dict):
        assert isinstance(result, EventRejected)


@FAST
@given(near_valid_events())
def test_near_valid_events_keep_or_name_what_is_wrong(event: dict[str, Any]) -> None:
    result = outcome(encode(event))
    assert_contract(result)
    missing = [f for f in ("source", "published_at", "headline") if f not in event]
    if missing:
        assert isinstance(result, EventRejected)
        assert missing[0] in result.reason


@FAST
@given(valid_events())
def test_valid_events_are_accepted_and_hostile_text_kept_verbatim(event: dict[str, Any]) -> None:
    result = outcome(encode(event))
    if isinstance(result, EventRejected):
        # Only the schema version may legitimately refuse a well-formed event.
        assert result.kind == "schema_version", result.reason
        return
    assert result.headline.strip() == event["headline"].strip()
    if "id" in event:
        assert result.id.strip() == event["id"].strip()


@SMALL
@given(st.sampled_from(sorted(setting_env_names())), hostile_text | json_values.map(json.dumps))
def test_any_setting_value_loads_or_raises_config_error(env: str, value: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(env, value.replace("\x00", ""))
        loaded = attempt(lambda: load_settings(_env_file=None))
    if isinstance(loaded, ConfigError):
        assert str(loaded).startswith("invalid settings")
    else:
        assert isinstance(loaded, Settings)


@SMALL
@given(st.sampled_from(["FINSENT_KAFKA", "FINSENT_TRENDS", "FINSENT_WEBHOOKS"]), hostile_text)
def test_a_malformed_section_is_a_config_error(env: str, value: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(env, value.replace("\x00", "") + "{")
        loaded = attempt(lambda: load_settings(_env_file=None))
    assert isinstance(loaded, ConfigError)


rule_fields = st.sampled_from(
    [
        "name",
        "detector",
        "scope_kinds",
        "baseline_windows",
        "min_baseline_windows",
        "z_threshold",
        "critical_z",
        "min_negative_share",
        "min_count",
        "hold_steps",
        "bogus",
    ]
)
rule_entries = st.dictionaries(rule_fields, json_values, max_size=5) | json_values
rule_documents = st.fixed_dictionaries({"rules": st.lists(rule_entries, max_size=3)}) | json_values


@SMALL
@given(rule_documents)
def test_any_rules_document_parses_or_raises_config_error(document: Any) -> None:
    rules = attempt(lambda: parse_rules(document, AlertSettings(), "fuzz"))
    if isinstance(rules, ConfigError):
        assert str(rules).startswith("fuzz")
    else:
        assert rules
        assert all(isinstance(r, Rule) for r in rules)


@SMALL
@given(
    st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.integers(1, 1500).map(lambda n: b"[" * n),
    st.sampled_from([".yaml", ".json"]),
)
def test_any_rules_file_loads_or_raises_config_error(
    tmp_path_factory: pytest.TempPathFactory, content: bytes, suffix: str
) -> None:
    path = tmp_path_factory.mktemp("rules") / f"rules{suffix}"
    path.write_bytes(content)
    rules = attempt(lambda: load_rules(AlertSettings(rules_file=path)))
    if isinstance(rules, ConfigError):
        assert str(path) in str(rules)
    else:
        assert all(isinstance(r, Rule) for r in rules)


def test_a_missing_rules_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=r"absent\.yaml"):
        load_rules(AlertSettings(rules_file=path))
