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

    id: str = Field(..., description="The item's id (the event's `id`, or the derived one)")
    headline: str = Field(..., description="The item's headline")
    source: str = Field(..., description="Publisher or feed of the item")
    url: str | None = Field(None, description="Link to the item, when the event had one")
    score: float = Field(..., description="p(positive) - p(negative), from -1 to 1")
    p_negative: float = Field(..., description="Calibrated probability that it is negative")
    event_time: AwareDatetime = Field(..., description="When it counts in the windows (UTC)")


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

    id: int = Field(..., description="Alert number, stable over its lifecycle")
    rule: str = Field(..., description="Name of the rule that opened it")
    scope: str = Field(..., description="`market`, `topic:<name>` or `ticker:<SYM>`")
    scope_kind: str = Field(..., description="`market`, `topic` or `ticker`")
    state: AlertState = Field(..., description="Lifecycle state when the notification was made")
    severity: Severity = Field(..., description="`critical` past the critical z and share")
    opened_at: AwareDatetime = Field(..., description="When the condition first held")
    fired_at: AwareDatetime | None = Field(None, description="When it fired; null while pending")
    resolved_at: AwareDatetime | None = Field(None, description="When it resolved or was cancelled")
    explanation: Explanation = Field(..., description="Why it fired, on what evidence")
