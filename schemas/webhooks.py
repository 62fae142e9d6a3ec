"""The body of a webhook POST (Standard Webhooks envelope: type, timestamp, data)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.alerts import Alert, AlertEventType


class AlertNotification(BaseModel):
    """What a receiver gets; the `webhook-id` header is its idempotency key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: AlertEventType
    timestamp: AwareDatetime
    data: Alert


class SlackMessage(BaseModel):
    """The Slack-compatible body sent to endpoints with body_format = slack."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
