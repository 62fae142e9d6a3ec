"""What a trend window, an alert or a series is about: the market, a topic or a ticker.

Stored and sent as text (`market`, `topic:<name>`, `ticker:<SYM>`: the `scope` columns, the
webhook payload, the API's `scope` parameter); this module is the one place that reads and
writes that text. The SQL of pipeline/alerting/trend_sql.py builds the same text inside the
database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast

from pipeline.errors import FinsentError

ScopeKind = Literal["market", "topic", "ticker"]
ALL_KINDS: tuple[ScopeKind, ...] = ("market", "topic", "ticker")
SCOPE_PATTERN = r"^(market|topic:[^\x00-\x1f]{1,64}|ticker:[A-Z][A-Z0-9.\-]{0,11})$"
_SCOPE = re.compile(SCOPE_PATTERN)


class ScopeError(FinsentError):
    """A scope string is not `market`, `topic:<name>` or `ticker:<SYM>`."""


def scope_text(kind: ScopeKind, key: str | None = None) -> str:
    """The stored form: `market`, `topic:<name>`, `ticker:<SYM>`."""
    return kind if key is None else f"{kind}:{key}"


def scope_kind(text: str) -> ScopeKind:
    """The kind of a stored scope; cheap, for the per-scope loops of a step."""
    return cast(ScopeKind, text.split(":", 1)[0])


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    key: str | None = None

    @classmethod
    def parse(cls, text: str) -> Scope:
        """A scope a person typed: checked, with an error that says what a scope looks like."""
        if not _SCOPE.match(text):
            raise ScopeError(f"scope {text!r} is not market, topic:<name> or ticker:<SYM>")
        return cls.read(text)

    @classmethod
    def read(cls, text: str) -> Scope:
        """A scope this system stored or computed: trusted, so not checked again."""
        kind, _, key = text.partition(":")
        return cls(cast(ScopeKind, kind), key or None)

    def __str__(self) -> str:
        return scope_text(self.kind, self.key)
