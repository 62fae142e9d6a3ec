"""A dead letter (topic `news.dlq`): a rejected message, its reason and where it came from."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DLQ_HEADER_PREFIX = "finsent."


class DeadLetter(BaseModel):
    """Carried in the DLQ record's headers; the record value is the original bytes (or excerpt)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    reason: str = Field(..., description="Why the message was rejected, for a person")
    kind: str = Field(..., description="Machine-readable class: json, encoding, oversize, …")
    original_topic: str | None = None
    original_partition: int | None = None
    original_offset: int | None = None
    original_timestamp_ms: int | None = None
    original_key: str | None = None
    size: int = Field(..., ge=0, description="Size of the original value in bytes")
    sha256: str = Field(..., description="Hash of the original value")
    truncated: bool = Field(False, description="The record holds only the first bytes")
    replayable: bool = Field(True, description="False when the original bytes are not all here")
    replay_of: str | None = Field(
        None, description="A bounced replay: the DLQ letter (topic:partition:offset) it came from"
    )
    failed_at: AwareDatetime

    def to_headers(self) -> list[tuple[str, bytes]]:
        """Kafka record headers, one per field, UTF-8 values."""
        return [
            (DLQ_HEADER_PREFIX + name, str(value).encode("utf-8"))
            for name, value in self.model_dump(mode="json").items()
            if value is not None
        ]

    @classmethod
    def from_headers(cls, headers: list[tuple[str, bytes]]) -> DeadLetter:
        fields = {
            key.removeprefix(DLQ_HEADER_PREFIX): value.decode("utf-8", "replace")
            for key, value in headers
            if key.startswith(DLQ_HEADER_PREFIX)
        }
        return cls.model_validate(fields)
