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
