"""The error boundary: an expected failure from a driver becomes one FinsentError line.

Database, Kafka and file errors are translated here, in one place, so commands and workers
need no try/except of their own: the CLI's guard (`workers.invocation`) and the API's
problem handler print what `explain` returns, after `mask_secrets`; a bug keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable

from pipeline.errors import (
    ConfigError,
    DependencyUnavailable,
    FinsentError,
    InputMissing,
    SchemaMissing,
)
from pipeline.settings import Settings

MASK = "***"
# scheme://user:password@host — the password part, whatever the scheme.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s]*:)(?P<password>[^@\s]+)@")
_SECRET_ENV_WORDS = ("PASSWORD", "TOKEN", "SECRET")
_DB_HINT = "check FINSENT_DATABASE__URL"
_KAFKA_HINT = "check FINSENT_KAFKA__BOOTSTRAP"
_UPGRADE_HINT = "run `finsent db upgrade`"


def explain(error: BaseException, settings: Settings | None = None) -> FinsentError | None:
    """The FinsentError a user should see for `error`, or None when it is a bug."""
    if isinstance(error, FinsentError):
        return error
    for explainer in (_database_error, _kafka_error, _file_error):
        found = explainer(error, settings)
        if found is not None:
            return found
    return None


def outage_reason(error: BaseException) -> str | None:
    """The driver's one-line reason when `error` is an outage (a dependency away, a schema
    missing) that a long-running worker logs as one line and retries; None for a bug."""
    if not isinstance(explain(error), DependencyUnavailable):
        return None
    orig = getattr(error, "orig", None)
    return mask_secrets(_first_line(orig if orig is not None else error), known_secrets())


def log_failure(log: logging.Logger, what: str, error: Exception) -> None:
    """A worker's failed round: one warning line for an outage, a traceback for a bug.
    Either way the worker keeps running and retries."""
    reason = outage_reason(error)
    if reason is None:
        log.exception(what)
    else:
        log.warning("%s, database unavailable: %s", what, reason)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with URL passwords and every known secret value replaced by ***."""
    masked = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 8:  # shorter ones (e.g. "finsent") would mask ordinary words
            masked = masked.replace(secret, MASK)
    return masked


def known_secrets(settings: Settings | None = None) -> set[str]:
    """Secret values this process may hold, from its settings and FINSENT_* variables: tokens
    and passwords whole, URLs only for their password (the rest of a URL is what a user needs
    to see)."""
    urls = [v for k, v in os.environ.items() if k.startswith("FINSENT_") and k.endswith("URL")]
    values = {
        value
        for name, value in os.environ.items()
        if name.startswith("FINSENT_") and any(w in name for w in _SECRET_ENV_WORDS)
    }
    if settings is not None:
        urls.append(settings.database.url.get_secret_value())
        for secret in (settings.kafka.sasl_password, settings.api.token):
            if secret is not None:
                values.add(secret.get_secret_value())
    passwords = {m["password"] for url in urls for m in _URL_PASSWORD.finditer(url)}
    return {v for v in values | passwords if v}


def _database_error(error: BaseException, settings: Settings | None) -> FinsentError | None:
    from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError
    from sqlalchemy.exc import OperationalError as DatabaseAway

    if isinstance(error, NoSuchModuleError):
        return ConfigError(
            f"database.url names an unknown driver ({error}): "
            f"use postgresql+psycopg://… or sqlite:///…; {_DB_HINT}"
        )
    if isinstance(error, ArgumentError):
        return ConfigError(f"database.url is not a usable URL: {_DB_HINT}")
    if not isinstance(error, DBAPIError):
        return None
    reason = _first_line(error.orig) if error.orig is not None else type(error).__name__
    where = _database_display(settings)
    if _is_schema_missing(error, reason):
        return SchemaMissing(f"database {where} has no finsent schema ({reason}): {_UPGRADE_HINT}")
    if not isinstance(error, (DatabaseAway, InterfaceError)):
        return None  # an integrity or programming error is a bug: its traceback is wanted
    if "authentication failed" in reason:
        return DependencyUnavailable(f"database {where} refused the login: {reason}; {_DB_HINT}")
    return DependencyUnavailable(f"database {where} unavailable: {reason}; {_DB_HINT}")


def _is_schema_missing(error: BaseException, reason: str) -> bool:
    orig = getattr(error, "orig", None)
    return (
        type(orig).__name__ == "UndefinedTable"
        or "no such table" in reason
        or (reason.startswith('relation "') and reason.endswith("does not exist"))
    )


def _kafka_error(error: BaseException, settings: Settings | None) -> FinsentError | None:
    from kafka.errors import KafkaError, NoBrokersAvailable

    if not isinstance(error, KafkaError):
        return None
    where = settings.kafka.bootstrap if settings is not None else "the configured brokers"
    if isinstance(error, NoBrokersAvailable):
        return DependencyUnavailable(
            f"Kafka unavailable: no broker answered at {where}; is it running? {_KAFKA_HINT}"
        )
    detail = _first_line(error) or type(error).__name__
    return DependencyUnavailable(f"Kafka at {where} failed: {detail}; {_KAFKA_HINT}")


def _file_error(error: BaseException, _settings: Settings | None) -> FinsentError | None:
    if not isinstance(
        error, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
    ):
        return None
    if error.filename is None:
        return None
    return InputMissing(f"cannot read {error.filename}: {error.strerror or type(error).__name__}")


def _database_display(settings: Settings | None) -> str:
    if settings is None:
        return "(FINSENT_DATABASE__URL)"
    from sqlalchemy.engine import make_url

    url = make_url(settings.database.url.get_secret_value())
    return url.render_as_string(hide_password=True)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else ""
