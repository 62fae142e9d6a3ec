"""A trend window: what one scope looked like over (window_end - W, window_end]."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ScopeKind = Literal["market", "topic", "ticker"]


class TrendWindow(BaseModel):
    """One stored window; scope is `market`, `topic:<name>` or `ticker:<SYM>`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: str
    scope_kind: ScopeKind
    window_start: AwareDatetime
    window_end: AwareDatetime
    count: int = Field(..., ge=0)
    sources: int = Field(..., ge=0, description="Distinct sources")
    negative_share: float = Field(..., ge=0, le=1)
    positive_share: float = Field(..., ge=0, le=1)
    mean_score: float | None = Field(None, description="Confidence-weighted mean score")
    reprint_adjusted: int = Field(..., ge=0, description="Distinct content hashes")
    model_version: str
