"""The body of a webhook POST (Standard Webhooks envelope: type, timestamp, data)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.alerts import Alert, AlertEventType


class AlertNotification(BaseModel):
    """What a receiver gets; the `webhook-id` header is its idempotency key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: AlertEventType = Field(..., description="What happened to the alert")
    timestamp: AwareDatetime = Field(..., description="When the notification was made (UTC)")
    data: Alert = Field(..., description="The alert as it stands")


class SlackMessage(BaseModel):
    """The Slack-compatible body sent to endpoints with body_format = slack."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(..., description="One line per alert, then up to three top items")
