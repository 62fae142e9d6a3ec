"""The one settings object of a finsent process, read once at start-up and passed down.

Every field has a default, an environment name (``FINSENT_<SECTION>__<FIELD>``) and one line of
doc; `finsent config show` prints the effective values with secrets masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.errors import ConfigError

_FROZEN = ConfigDict(frozen=True, extra="forbid")


def default_cache_dir() -> Path:
    """The one directory holding every cache (venv, Kafka jars, models, state)."""
    return Path(os.environ.get("FINSENT_CACHE_DIR") or Path.home() / ".cache" / "finsent")


class KafkaSettings(BaseModel):
    model_config = _FROZEN

    bootstrap: str = Field("", description="Broker list host:port,...; empty = embedded mode")
    raw_topic: str = Field("news.raw", description="Inbound news events")
    dlq_topic: str = Field("news.dlq", description="Dead letters: rejected events with reason")
    scored_topic: str = Field("news.scored", description="Classification results, keyed by id")
    publish_scored: bool = Field(False, description="Publish every result to scored_topic")
    group: str = Field("finsent-classifier", description="Consumer group of the classifiers")
    client_id: str = Field("finsent", description="Client id prefix sent to the brokers")
    partitions: int = Field(6, ge=1, description="Partitions of news.raw at `topics ensure`")
    replication_factor: int = Field(1, ge=1, description="Replication of created topics")
    raw_retention_ms: int = Field(7 * 86_400_000, description="Retention of news.raw (ms)")
    dlq_retention_ms: int = Field(30 * 86_400_000, description="Retention of news.dlq (ms)")
    scored_retention_ms: int = Field(7 * 86_400_000, description="Retention of news.scored")
    max_message_bytes: int = Field(1_048_576, description="Topic max.message.bytes (≥ event)")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Broker security protocol"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism when security_protocol is SASL_*"
    )
    sasl_username: str | None = Field(None, description="SASL user name")
    sasl_password: SecretStr | None = Field(None, description="SASL password (secret)")
    ssl_cafile: Path | None = Field(None, description="CA bundle to verify the brokers")
    ssl_certfile: Path | None = Field(None, description="Client certificate (mutual TLS)")
    ssl_keyfile: Path | None = Field(None, description="Client key (mutual TLS)")
    session_timeout_ms: int = Field(10_000, ge=1000, description="Consumer session timeout")
    heartbeat_interval_ms: int = Field(3_000, ge=100, description="Consumer heartbeat")
    max_poll_interval_ms: int = Field(300_000, ge=1000, description="Max time between polls")
    max_poll_records: int = Field(500, ge=1, description="Records fetched per poll at most")
    fetch_max_bytes: int = Field(
        8 * 1_048_576, ge=1_048_576, description="Bytes one fetch response may carry at most"
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new group starts reading"
    )

    @property
    def embedded(self) -> bool:
        return not self.bootstrap.strip()

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not self.sasl_mechanism:
            raise ValueError(f"{self.security_protocol} needs kafka.sasl_mechanism")
        return self

    def fetch_options(self) -> dict[str, Any]:
        """Fetch sizes for every consumer: kafka-python refuses a response frame larger than
        `receive_message_max_bytes` (1 MB by default) and retries it forever, so the frame
        limit must cover the largest response the fetch limits allow (one batch may exceed
        `fetch_max_bytes`, up to the topic's message limit)."""
        partition_bytes = max(self.max_message_bytes, 1_048_576)
        return {
            "fetch_max_bytes": self.fetch_max_bytes,
            "max_partition_fetch_bytes": partition_bytes,
            "receive_message_max_bytes": self.fetch_max_bytes + partition_bytes + 65_536,
        }

    def client_options(self) -> dict[str, Any]:
        """Connection options shared by kafka-python's producer, consumer and admin."""
        opts: dict[str, Any] = {
            "bootstrap_servers": [s.strip() for s in self.bootstrap.split(",") if s.strip()],
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            opts["sasl_mechanism"] = self.sasl_mechanism
            opts["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                opts["sasl_plain_password"] = self.sasl_password.get_secret_value()
        for key, value in (
            ("ssl_cafile", self.ssl_cafile),
            ("ssl_certfile", self.ssl_certfile),
            ("ssl_keyfile", self.ssl_keyfile),
        ):
            if value is not None:
                opts[key] = str(value)
        return opts


class DatabaseSettings(BaseModel):
    model_config = _FROZEN

    url: SecretStr = Field(
        SecretStr("sqlite:///finsent.db"),
        description="SQLAlchemy URL; postgresql+psycopg://… in production, SQLite embedded",
    )
    pool_size: int = Field(5, ge=1, description="Connections kept open per process")
    statement_timeout_ms: int = Field(30_000, ge=0, description="Postgres statement timeout")
    reporting_role: str = Field("finsent_reporting", description="Read-only reporting role")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, v: SecretStr) -> SecretStr:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        raw = v.get_secret_value()
        if not raw.startswith(("postgresql", "sqlite")):
            raise ValueError("database.url must be a postgresql+psycopg:// or sqlite:// URL")
        try:
            make_url(raw).port  # noqa: B018 - parsing the port is the check
        except (ArgumentError, ValueError):
            # The parser's message quotes the URL, password included: say only what is wrong.
            raise ValueError("database.url is not a URL (user:password@host:port/db)") from None
        return v


class ModelSettings(BaseModel):
    model_config = _FROZEN

    bundle: Path | None = Field(
        None, description="Model bundle dir; unset = the shipped model (pipeline/data/model)"
    )
    provider: Literal["auto", "tensorrt", "cuda", "cpu"] = Field(
        "auto", description="ONNX Runtime provider; a configured GPU never falls back silently"
    )
    precision: Literal["auto", "fp32", "int8", "fp16"] = Field(
        "auto", description="Which ONNX file: auto = int8 on CPU, fp16 on GPU"
    )
    intra_op_threads: int | None = Field(None, ge=1, description="ORT threads; unset = cores")
    current_version: str | None = Field(
        None,
        description="Pins the model version trends, alerts and views read; unset = the one"
        " `finsent model switch` recorded",
    )


class BatchingSettings(BaseModel):
    model_config = _FROZEN

    max_batch_size: int = Field(64, ge=1, le=4096, description="Items per inference batch")
    max_wait_ms: int = Field(25, ge=0, description="Longest wait to fill a batch")
    max_batch_tokens: int = Field(8192, ge=16, description="Token budget per batch (padded)")
    pipeline_depth: int = Field(2, ge=1, description="Batches in flight between stages")


class EventSettings(BaseModel):
    model_config = _FROZEN

    max_event_bytes: int = Field(262_144, ge=1024, description="Inbound event size limit")
    dlq_excerpt_bytes: int = Field(65_536, ge=256, description="Bytes of an oversize event kept")
    allowed_skew_s: float = Field(300.0, ge=0, description="published_at clamp past processed")
    lateness_horizon_s: float = Field(600.0, ge=0, description="Later items don't reopen windows")
    include_non_english: bool = Field(False, description="Count non-English items in windows")
    detect_language: bool = Field(
        True, description="Detect the language of items sent without one (py3langid)"
    )


class TrendSettings(BaseModel):
    model_config = _FROZEN

    window_s: int = Field(3600, ge=60, description="Window length W (seconds)")
    step_s: int = Field(30, ge=1, description="Step S between windows (seconds)")
    scopes: tuple[Literal["market", "topic", "ticker"], ...] = Field(
        ("market", "topic", "ticker"), description="Scope kinds computed"
    )

    @model_validator(mode="after")
    def _step_divides_window(self) -> TrendSettings:
        if self.window_s % self.step_s:
            raise ValueError("trends.window_s must be a multiple of trends.step_s")
        return self


class AlertSettings(BaseModel):
    model_config = _FROZEN

    rules_file: Path | None = Field(None, description="YAML/JSON rules file overriding these")
    detector: Literal["count", "mad", "ewma"] = Field(
        "count", description="Spike detector: count (docs/spike-rule.md), mad or ewma"
    )
    baseline_windows: int = Field(24, ge=2, description="K non-overlapping baseline windows")
    min_baseline_windows: int = Field(6, ge=1, description="Non-empty ones needed to fire")
    z_threshold: float = Field(3.0, gt=0, description="z at or above which a scope spikes")
    critical_z: float = Field(5.0, gt=0, description="z for severity critical")
    critical_negative_share: float = Field(0.6, ge=0, le=1, description="and its share")
    min_negative_share: float = Field(0.4, ge=0, le=1, description="Negative share to fire")
    sigma_min: float = Field(0.05, gt=0, description="Floor of the robust scale (mad, ewma)")
    prior_strength: float = Field(
        20.0, ge=0, description="Items of market prior in a scope's expected share (count)"
    )
    prior_negative_share: float = Field(
        0.2, gt=0, lt=1, description="Expected share when no market baseline exists (count)"
    )
    attention_z: float = Field(
        2.0, ge=0, description="Volume z vs the scope's own baseline needed to fire (count)"
    )
    negative_test: Literal["share", "volume"] = Field(
        "share", description="Negatives vs the window's count (share) or usual volume (count)"
    )
    min_count_market: int = Field(30, ge=1, description="Minimum window count, market")
    min_count_topic: int = Field(10, ge=1, description="Minimum window count, topic")
    min_count_ticker: int = Field(5, ge=1, description="Minimum window count, ticker")
    min_count_unlisted: int = Field(
        10,
        ge=0,
        description="Window count below which a ticker outside the dictionary is not judged",
    )
    hold_steps: int = Field(2, ge=1, description="Steps the condition holds before firing")
    resolve_steps: int = Field(3, ge=1, description="Steps false before resolving")
    ewma_alpha: float = Field(0.3, gt=0, le=1, description="EWMA smoothing (ewma detector)")
    repeat_every_s: int = Field(4 * 3600, ge=60, description="Repeat notification while firing")
    inhibit_tickers_by_market: bool = Field(False, description="Market alert mutes tickers")
    top_items: int = Field(5, ge=1, le=50, description="Top negative items in an explanation")


class WebhookSettings(BaseModel):
    model_config = _FROZEN

    poll_interval_s: float = Field(5.0, gt=0, description="Notifier poll for due deliveries")
    timeout_s: float = Field(10.0, gt=0, description="HTTP timeout per attempt")
    backoff_base_s: float = Field(2.0, gt=0, description="First retry delay")
    backoff_max_s: float = Field(600.0, gt=0, description="Largest retry delay")
    retry_horizon_s: float = Field(24 * 3600.0, gt=0, description="Give up after this long")
    claim_batch: int = Field(50, ge=1, description="Deliveries claimed per poll")
    secret_overlap_s: int = Field(24 * 3600, ge=0, description="Old secret valid after rotate")
    allow_private_targets: bool = Field(
        False, description="Allow loopback/private targets (tests, demo); link-local never"
    )
    allowed_hosts: tuple[str, ...] = Field((), description="If set, only these target hosts")


class ApiSettings(BaseModel):
    model_config = _FROZEN

    host: str = Field("127.0.0.1", description="API bind address")
    port: int = Field(8000, ge=1, le=65535, description="API port")
    token: SecretStr | None = Field(None, description="Bearer token for /api (secret)")


class RetentionSettings(BaseModel):
    model_config = _FROZEN

    items_days: int = Field(400, ge=1, description="Keep news items and results this long")
    windows_days: int = Field(90, ge=1, description="Keep trend windows this long")
    deliveries_days: int = Field(90, ge=1, description="Keep delivery attempts this long")


class ClassifierSettings(BaseModel):
    model_config = _FROZEN

    poll_timeout_ms: int = Field(100, ge=1, description="Longest Kafka poll when idle")
    commit_interval_ms: int = Field(0, ge=0, description="Least time between offset commits")
    drain_timeout_s: float = Field(30.0, gt=0, description="SIGTERM: time to finish in-flight work")
    revoke_timeout_s: float = Field(5.0, gt=0, description="Rebalance: finish work or drop it")
    retry_backoff_max_s: float = Field(5.0, gt=0, description="Longest wait between DB retries")
    reprint_cache_size: int = Field(100_000, ge=0, description="Content hashes kept in memory")
    dead_letter_file: Path | None = Field(None, description="Embedded DLQ file; unset = cache")
    poison_crashes: int = Field(
        2, ge=0, description="Crashes at one offset before its records go one by one; 0 = off"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FINSENT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        frozen=True,
        extra="ignore",
    )

    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="The one cache dir: venv, Kafka jars, models, state",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    log_format: Literal["text", "json"] = Field("text", description="Log line format")
    metrics_host: str = Field(
        "127.0.0.1", description="Worker /metrics bind address; 0.0.0.0 for a remote Prometheus"
    )
    metrics_port: int = Field(9108, ge=0, le=65535, description="Prometheus port; 0 = off")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    trends: TrendSettings = Field(default_factory=TrendSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and `.env`; invalid ones raise ConfigError."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    _refuse_unknown_sections(os.environ)
    # `from None`: the validation error's own text quotes every input value, secrets included,
    # and a chained exception would print it with any traceback.
    try:
        return Settings(**overrides)
    except SettingsError as e:
        # A complex value (a section, a list) that is not JSON; the message names no value.
        raise ConfigError(f"invalid settings: {e}; lists and sections are JSON") from None
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


# Sections that are gone: a variable left over from them is refused with what became of them,
# not with a guess at a near name. TESTING once broke the commit order on purpose.
_RETIRED_SECTIONS = {
    "TESTING": "faults are injected by the test suite only (tests/faulty_worker.py); unset it",
}


def _refuse_unknown_sections(environ: Mapping[str, str]) -> None:
    """A misspelt section (FINSENT_DATABSE__URL) would be ignored and its value lost: refuse
    it, naming the nearest setting. Only the name is printed, never the value."""
    sections = {name.upper() for name in Settings.model_fields}
    for name in sorted(environ):
        section = name.removeprefix("FINSENT_").split("__")[0]
        if name.startswith("FINSENT_") and "__" in name and section not in sections:
            raise ConfigError(_unknown_section(name, section))


def _unknown_section(name: str, section: str) -> str:
    import difflib

    if section in _RETIRED_SECTIONS:
        return f"{name} is no longer a setting: {_RETIRED_SECTIONS[section]}"
    near = difflib.get_close_matches(name, sorted(setting_env_names()), n=1)
    hint = f"; did you mean {near[0]}?" if near else ""
    return f"{name} is not a setting (no section {section}){hint}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()


class SettingRow(BaseModel):
    """One setting as a person sees it: env name, value (secrets masked), default, doc."""

    model_config = _FROZEN

    env: str
    value: str
    default: str
    doc: str
    secret: bool


def describe_settings(settings: Settings | None = None) -> list[SettingRow]:
    """Every setting, flattened; values masked where secret. Used by `config show` and docs."""
    rows: list[SettingRow] = []
    _walk(Settings, settings, "FINSENT_", rows)
    return rows


def setting_env_names() -> set[str]:
    return {row.env for row in describe_settings()}


def _walk(
    model: type[BaseModel], value: BaseModel | None, prefix: str, out: list[SettingRow]
) -> None:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        current = getattr(value, name) if value is not None else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _walk(annotation, current, f"{prefix}{name.upper()}__", out)
            continue
        default = field.get_default(call_default_factory=True)
        secret = "SecretStr" in str(annotation) or name == "url"
        out.append(
            SettingRow(
                env=f"{prefix}{name.upper()}",
                value=_show(current, secret) if value is not None else "",
                default=_show(default, secret),
                doc=field.description or "",
                secret=secret,
            )
        )


def _show(value: Any, secret: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
        if raw.startswith(("postgresql", "sqlite")):
            from sqlalchemy.engine import make_url

            return make_url(raw).render_as_string(hide_password=True)
        return "**********" if raw else ""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)
