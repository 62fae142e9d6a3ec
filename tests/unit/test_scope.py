"""Scopes: the one reader and writer of the stored `market` / `topic:<name>` / `ticker:<SYM>`."""

from __future__ import annotations

import pytest

from pipeline.scope import Scope, ScopeError, ScopeKind, scope_kind, scope_text

STORED = [
    pytest.param("market", "market", None, id="market"),
    pytest.param("topic:Energy | Oil", "topic", "Energy | Oil", id="topic with spaces"),
    pytest.param("ticker:BRK-A", "ticker", "BRK-A", id="ticker with class"),
]


@pytest.mark.parametrize(("text", "kind", "key"), STORED)
def test_scope_parse(text: str, kind: str, key: str | None) -> None:
    scope = Scope.parse(text)
    assert (scope.kind, scope.key, str(scope)) == (kind, key, text)


@pytest.mark.parametrize(("text", "kind", "key"), STORED)
def test_the_stored_text_is_written_and_read_back_unchanged(
    text: str, kind: ScopeKind, key: str | None
) -> None:
    assert scope_text(kind, key) == text
    assert Scope.read(text) == Scope(kind, key)
    assert scope_kind(text) == kind


@pytest.mark.parametrize(
    "text",
    ["", "markets", "ticker:", "ticker:acme", "topic:", "sector:X", "topic:a\tb", "market:X"],
)
def test_scope_parse_rejects(text: str) -> None:
    with pytest.raises(ScopeError, match="is not market, topic:<name> or ticker:<SYM>"):
        Scope.parse(text)
