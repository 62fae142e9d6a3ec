"""An alert and the explanation it carries: why it fired, on what evidence."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

AlertState = Literal["pending", "firing", "resolved", "cancelled"]
Severity = Literal["warning", "critical"]
AlertEventType = Literal[
    "alert.pending", "alert.firing", "alert.repeat", "alert.resolved", "alert.cancelled"
]
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class TopItem(BaseModel):
    """One of the most negative items of the window."""

    model_config = _FROZEN

    id: str
    headline: str
    source: str
    url: str | None = None
    score: float
    p_negative: float
    event_time: AwareDatetime


class Explanation(BaseModel):
    """Value, baseline, z, threshold and window of the detection, plus the evidence."""

    model_config = _FROZEN

    detector: Literal["count", "mad", "ewma"]
    value: float = Field(..., description="Negative share of the window")
    count: int
    baseline_median: float = Field(..., description="Expected share (count) or baseline median")
    baseline_scale: float = Field(
        ..., description="Standard error of the share (count), max(1.4826 MAD, sigma_min), EWMA sd"
    )
    baseline_windows: int = Field(..., description="Non-empty baseline windows used")
    z: float
    threshold: float
    min_count: int
    min_negative_share: float
    evidence: dict[str, float] = Field(
        default_factory=dict, description="Detector-specific figures (docs/spike-rule.md)"
    )
    window_start: AwareDatetime
    window_end: AwareDatetime
    top_items: tuple[TopItem, ...] = ()


class Alert(BaseModel):
    """An alert as notifications, the API and the CLI show it."""

    model_config = _FROZEN

    id: int
    rule: str
    scope: str
    scope_kind: str
    state: AlertState
    severity: Severity
    opened_at: AwareDatetime
    fired_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    explanation: Explanation
