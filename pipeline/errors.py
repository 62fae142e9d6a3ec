"""The exception hierarchy of finsent: every error we raise on purpose is a FinsentError."""

from __future__ import annotations

# Exit codes of the CLI (sysexits.h): a usage or configuration mistake the user fixes in the
# command or the settings, or a dependency (database, Kafka) that is away or not migrated.
EX_USAGE = 2  # click's own usage errors exit 2 as well
EX_UNAVAILABLE = 69


class FinsentError(Exception):
    """Base of all errors finsent raises on purpose; the CLI prints these without a traceback."""

    exit_code = EX_USAGE


class ConfigError(FinsentError):
    """Settings or a rules file are invalid."""


class InputMissing(FinsentError):  # noqa: N818 - what the user sees: an input file is missing
    """A file or directory named on the command line or in the settings cannot be read."""


class DependencyUnavailable(FinsentError):  # noqa: N818 - named for what the user must fix
    """The database or Kafka cannot be reached, refused us, or timed out."""

    exit_code = EX_UNAVAILABLE


class SchemaMissing(DependencyUnavailable):
    """The database answers but holds no finsent schema (`finsent db upgrade` creates it)."""


class ModelError(FinsentError):
    """The model bundle or the inference runtime cannot be used."""


class BundleError(ModelError):
    """A model bundle is missing, corrupt or does not match its manifest."""


class StorageError(FinsentError):
    """The database refused or failed a write; the batch may be retried."""


class InvalidEvent(FinsentError):  # noqa: N818 - a rejected event, named for what it is
    """An inbound message that cannot become a NewsEvent; carries its reason and coordinates."""

    def __init__(
        self,
        reason: str,
        *,
        kind: str = "invalid",
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.topic = topic
        self.partition = partition
        self.offset = offset

    def at(self, topic: str, partition: int, offset: int) -> InvalidEvent:
        """The same rejection, placed at its Kafka coordinates."""
        return InvalidEvent(
            self.reason, kind=self.kind, topic=topic, partition=partition, offset=offset
        )


class BackpressureError(FinsentError):
    """A stage is full or its sink is unavailable; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
