"""The headline grammar: parsing, its checks, and how templates are filled."""

from __future__ import annotations

from random import Random

import pytest

from pipeline.errors import ConfigError
from pipeline.items.companies import Company
from pipeline.model.headline_grammar import (
    HeadlineRenderer,
    Template,
    load_grammar,
    parse_grammar,
)
from pipeline.model.labels import SENTIMENTS, TOPICS

COMPANIES = (
    Company("AAPL", "Apple Inc.", ("Apple",)),
    Company("JPM", "JPMorgan Chase & Co.", ("JPMorgan",)),
    Company("XOM", "Exxon Mobil Corporation", ("Exxon",)),
)


def _complete(extra: str = "") -> str:
    cells = "\n".join(f"[{t} :: {s}]\n{t} news is {s}" for t in TOPICS for s in SENTIMENTS)
    return f"{cells}\n{extra}"


def _renderer(grammar_text: str, seed: int = 3) -> HeadlineRenderer:
    return HeadlineRenderer(parse_grammar(grammar_text), COMPANIES, Random(seed))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("orphan line\n" + _complete(), "before the first", id="text before section"),
        pytest.param(_complete().split("\n", 2)[2], "no templates for", id="missing cell"),
        pytest.param(_complete("[Weather :: neutral]\nrain"), "is not", id="unknown topic"),
        pytest.param(_complete("[Markets :: bullish]\nup"), "is not", id="unknown sentiment"),
        pytest.param(_complete("[Markets :: neutral]\n{nope} x"), "unknown slots", id="bad slot"),
        pytest.param(
            _complete("[Markets :: neutral]\n%pool nowhere\n{co} x"), "pool", id="unknown pool"
        ),
    ],
)
def test_invalid_grammar_is_rejected(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_grammar(text)


def test_sections_comments_scandal_marks_and_pools() -> None:
    grammar = parse_grammar(
        _complete(
            "# a comment\n[Markets :: negative]\n%pool banks\n!{co} probe\n"
            "[@hashtag]\n#stocks\n[%banks]\nJPM\n"
        )
    )
    (scandal,) = [t for t in grammar.cell("Markets", "negative") if t.scandal]
    assert scandal == Template("Markets", "negative", "{co} probe", True, "banks")
    assert grammar.fillers["hashtag"] == ("#stocks",)
    assert grammar.pools["banks"] == frozenset({"JPM"})


def test_pool_restricts_the_companies_a_template_names() -> None:
    renderer = _renderer(_complete("[%banks]\nJPM\n"))
    template = Template("Financials", "neutral", "{co} ({tk}) {cash}", pool="banks")
    for _ in range(10):
        headline = renderer.render(template)
        assert headline.tickers == ("JPM",)
        assert headline.text.endswith("(JPM) $JPM")


def test_repeated_slot_repeats_its_value_and_numbered_slots_differ() -> None:
    renderer = _renderer(_complete("[@econ]\nCPI\nPPI\nGDP\n"))
    template = Template("Macro", "neutral", "{econ} {econ2} {econ} {co} {co2} {tk} {tk2}")
    for _ in range(20):
        econ, econ2, again, *rest = renderer.render(template).text.split(" ")
        assert econ == again
        assert econ != econ2
        assert rest[-1] != rest[-2]


def test_fixed_companies_come_first() -> None:
    renderer = _renderer(_complete())
    headline = renderer.render(
        Template("M&A | Investments", "positive", "{tk2} buys {tk}"), fixed=[COMPANIES[2]]
    )
    assert headline.text.endswith("buys XOM")
    assert headline.tickers[0] == "XOM"
    assert len(set(headline.tickers)) == 2


def test_render_is_deterministic_for_a_seed() -> None:
    grammar = load_grammar()
    templates = grammar.templates[:200]
    first = [HeadlineRenderer(grammar, COMPANIES, Random(9)).render(t).text for t in templates]
    second = [HeadlineRenderer(grammar, COMPANIES, Random(9)).render(t).text for t in templates]
    assert first == second


def test_bundled_grammar_renders_every_template_without_leftover_braces() -> None:
    grammar = load_grammar()
    renderer = HeadlineRenderer(grammar, COMPANIES, Random(1))
    assert len(grammar.templates) >= 600
    assert sum(t.scandal for t in grammar.templates) >= 15
    for template in grammar.templates:
        text = renderer.render(template).text
        assert not set("{}") & set(text), text
        assert not text[0].islower() or text.startswith(("eBay", "onsemi")), text


def test_possessive_of_a_name_ending_in_s() -> None:
    renderer = HeadlineRenderer(
        parse_grammar(_complete()), [Company("TRV", "Travelers", ())], Random(0)
    )
    text = renderer.render(Template("Financials", "negative", "{co}'s losses")).text
    assert text == "Travelers' losses"
