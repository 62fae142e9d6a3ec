"""Spike rules: the default one from settings, or a YAML/JSON rules file, validated."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import ConfigError
from pipeline.scope import ALL_KINDS, ScopeKind
from pipeline.settings import AlertSettings

DEFAULT_RULE = "negative_spike"


class Rule(BaseModel):
    """One detector configuration; alerts are unique per (rule name, scope) while open."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    detector: Literal["count", "mad", "ewma"]
    scope_kinds: tuple[ScopeKind, ...] = ALL_KINDS
    baseline_windows: int = Field(..., ge=2)
    min_baseline_windows: int = Field(..., ge=1)
    z_threshold: float = Field(..., gt=0)
    critical_z: float = Field(..., gt=0)
    critical_negative_share: float = Field(..., ge=0, le=1)
    min_negative_share: float = Field(..., ge=0, le=1)
    sigma_min: float = Field(..., gt=0)
    prior_strength: float = Field(..., ge=0)
    prior_negative_share: float = Field(..., gt=0, lt=1)
    attention_z: float = Field(..., ge=0)
    negative_test: Literal["share", "volume"]
    min_count: dict[ScopeKind, int]
    hold_steps: int = Field(..., ge=1)
    resolve_steps: int = Field(..., ge=1)
    ewma_alpha: float = Field(..., gt=0, le=1)
    repeat_every_s: int = Field(..., ge=60)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.min_baseline_windows > self.baseline_windows:
            raise ValueError("min_baseline_windows must not exceed baseline_windows")
        if self.critical_z < self.z_threshold:
            raise ValueError("critical_z must be at least z_threshold")
        if not self.scope_kinds:
            raise ValueError("scope_kinds must name at least one of market, topic, ticker")
        if any(v < 1 for v in self.min_count.values()):
            raise ValueError("min_count values must be at least 1")
        return self

    def minimum(self, kind: str) -> int:
        return self.min_count[kind]  # type: ignore[index]  # kind comes from a scope we built


def defaults_from(settings: AlertSettings) -> dict[str, Any]:
    """The rule fields a rules file may leave out, taken from settings."""
    return {
        "detector": settings.detector,
        "baseline_windows": settings.baseline_windows,
        "min_baseline_windows": settings.min_baseline_windows,
        "z_threshold": settings.z_threshold,
        "critical_z": settings.critical_z,
        "critical_negative_share": settings.critical_negative_share,
        "min_negative_share": settings.min_negative_share,
        "sigma_min": settings.sigma_min,
        "prior_strength": settings.prior_strength,
        "prior_negative_share": settings.prior_negative_share,
        "attention_z": settings.attention_z,
        "negative_test": settings.negative_test,
        "hold_steps": settings.hold_steps,
        "resolve_steps": settings.resolve_steps,
        "ewma_alpha": settings.ewma_alpha,
        "repeat_every_s": settings.repeat_every_s,
    }


def default_min_count(settings: AlertSettings) -> dict[str, int]:
    return {
        "market": settings.min_count_market,
        "topic": settings.min_count_topic,
        "ticker": settings.min_count_ticker,
    }


def deepest_baseline(rules: Sequence[Rule]) -> int:
    """K of the rule that looks furthest back: how many baseline windows a step reads."""
    return max(rule.baseline_windows for rule in rules)


def load_rules(settings: AlertSettings) -> tuple[Rule, ...]:
    """The rules in force: the rules file when configured, else one rule from settings."""
    if settings.rules_file is None:
        return (build_rule({"name": DEFAULT_RULE}, settings, "settings"),)
    return parse_rules(_read(settings.rules_file), settings, str(settings.rules_file))


def parse_rules(document: Any, settings: AlertSettings, origin: str) -> tuple[Rule, ...]:
    """Validate a decoded rules document: `{"rules": [{"name": ..., ...}, ...]}`."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise ConfigError(f"{origin}: expected a mapping with a list under 'rules'")
    if not document["rules"]:
        raise ConfigError(f"{origin}: 'rules' is empty")
    rules = tuple(
        build_rule(entry, settings, f"{origin}: rules[{i}]")
        for i, entry in enumerate(document["rules"])
    )
    names = [rule.name for rule in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{origin}: duplicate rule names {', '.join(duplicates)}")
    return rules


def build_rule(entry: Any, settings: AlertSettings, origin: str) -> Rule:
    if not isinstance(entry, dict):
        raise ConfigError(f"{origin}: a rule must be a mapping")
    merged = {**defaults_from(settings), **entry}
    counts = entry.get("min_count") or {}
    if not isinstance(counts, dict):
        raise ConfigError(f"{origin}: min_count must be a mapping of scope kind to count")
    merged["min_count"] = {**default_min_count(settings), **counts}
    try:
        return Rule.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(f"{origin}: {_describe(e)}") from e


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'rule'}: {err['msg']}" for err in error.errors()
    )


def _read(path: Path) -> Any:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"rules file {path}: cannot be read ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"rules file {path}: not UTF-8 (byte {e.start})") from e
    try:
        return json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except RecursionError as e:
        raise ConfigError(f"rules file {path}: nested too deeply") from e
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"rules file {path}: not valid {path.suffix.lstrip('.')}: {e}") from e
