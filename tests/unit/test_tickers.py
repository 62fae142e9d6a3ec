from __future__ import annotations

import pytest

from pipeline.items.companies import Company, load_companies, load_symbol_history
from pipeline.items.tickers import CompanyMatcher, TickerExtractor, extract_cashtags
from tests.unit.stream_fakes import event

COMPANIES = (
    Company("AAPL", "Apple Inc.", ("Apple",)),
    Company("GS", "Goldman Sachs Group", ("Goldman Sachs", "Goldman")),
    Company("BRK-B", "Berkshire Hathaway", ()),
)


@pytest.mark.parametrize(
    ("text", "symbols"),
    [
        pytest.param("Buying $AAPL and $GOOG today", ["AAPL", "GOOG"], id="two cashtags"),
        pytest.param("Donaremos U$D 25.000 para", [], id="U$D 25 is money"),
        pytest.param("costs US$5 or $25", [], id="prices are not tickers"),
        pytest.param("$aapl looks cheap", ["AAPL"], id="lower case normalized"),
        pytest.param("$BRK-A and $RDS.B.", ["BRK-A", "RDS.B"], id="class suffixes"),
        pytest.param("($TSLA), $TSLA!", ["TSLA"], id="punctuation and repeats"),
        pytest.param("$$AAPL or a$AAPL", [], id="glued dollar signs"),
        pytest.param("$TOOLONGX", [], id="too long for a symbol"),
        pytest.param("Dow #Stocks $AXP $UTX", ["AXP", "UTX"], id="stocknet style"),
    ],
)
def test_extract_cashtags(text: str, symbols: list[str]) -> None:
    assert extract_cashtags(text) == symbols


@pytest.mark.parametrize(
    ("text", "symbols"),
    [
        pytest.param("Apple beats estimates", ["AAPL"], id="alias"),
        pytest.param("Apple Inc. beats", ["AAPL"], id="legal name with dot"),
        pytest.param("pineapple prices and apple pie", [], id="not a whole word, wrong case"),
        pytest.param("Goldman Sachs and Apple", ["GS", "AAPL"], id="two companies in order"),
        pytest.param("Goldmans are gold", [], id="word edge after the name"),
        pytest.param("Berkshire Hathaway buys", ["BRK-B"], id="class share symbol"),
    ],
)
def test_company_matcher(text: str, symbols: list[str]) -> None:
    assert CompanyMatcher(COMPANIES).find(text) == symbols


def test_matcher_with_no_companies_finds_nothing() -> None:
    assert CompanyMatcher(()).find("Apple") == []


def test_bundled_dictionary_loads_into_a_matcher() -> None:
    companies = load_companies()
    assert len(companies) >= 100
    assert "AAPL" in CompanyMatcher(companies).find("Apple unveils a new phone")


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        pytest.param(
            {"headline": "Apple rises, $AAPL up", "tickers": ["AAPL"]},
            [("AAPL", "producer")],
            id="producer ticker wins over cashtag and name",
        ),
        pytest.param(
            {"headline": "$GS falls as Apple rises"},
            [("GS", "cashtag"), ("AAPL", "name")],
            id="cashtag then name",
        ),
        pytest.param(
            {"headline": "Markets calm", "body": "Goldman Sachs says $MSFT"},
            [("MSFT", "cashtag"), ("GS", "name")],
            id="body is searched",
        ),
        pytest.param({"headline": "U$D 25.000 donated"}, [], id="noise gives no mention"),
    ],
)
def test_extractor_mentions(fields: dict[str, object], mentions: list[tuple[str, str]]) -> None:
    extractor = TickerExtractor(CompanyMatcher(COMPANIES))
    found = extractor.mentions(event("1", **fields))  # type: ignore[arg-type]
    assert [(m.symbol, m.origin) for m in found] == mentions


def relevance_of(fields: dict[str, object]) -> dict[str, float]:
    extractor = TickerExtractor(CompanyMatcher(COMPANIES))
    found = extractor.mentions(event("1", **fields))  # type: ignore[arg-type]
    return {m.symbol: m.relevance for m in found}


def test_a_lone_cashtag_opening_the_headline_is_fully_relevant() -> None:
    assert relevance_of({"headline": "$GS falls after earnings"}) == {"GS": 1.0}


def test_relevance_falls_with_the_symbols_an_item_names() -> None:
    spam = " ".join(f"$S{n}" for n in range(9))
    alone = relevance_of({"headline": "$GS falls"})["GS"]
    crowded = relevance_of({"headline": f"$GS falls {spam}"})["GS"]
    assert crowded == pytest.approx(alone / 5.5), "10 symbols: 1 + 0.5 * 9"


def test_relevance_falls_from_headline_to_late_body() -> None:
    body = "Markets were calm all day. " * 8 + "Goldman Sachs declined to comment."
    got = relevance_of({"headline": "Apple rises", "body": body})
    headline_name = 1.0 * 0.8
    assert got["AAPL"] == pytest.approx(headline_name / 1.5)
    assert got["GS"] < got["AAPL"] / 2, "a name late in the body counts for little"


def test_a_producer_ticker_found_in_the_text_is_placed_by_the_text() -> None:
    got = relevance_of({"headline": "Markets calm", "body": "$GS said", "tickers": ["GS"]})
    assert got == {"GS": pytest.approx(0.7)}, "first in the body"
    assert relevance_of({"headline": "Markets calm", "tickers": ["GS"]}) == {"GS": 1.0}


@pytest.mark.parametrize(
    ("headline", "published_at", "symbols"),
    [
        pytest.param("Facebook shares fall", "2014-05-02T15:00:00Z", ["FB"],
                     id="Facebook in 2014 is FB"),
        pytest.param("Facebook shares fall", "2022-06-08T23:59:00+00:00", ["FB"],
                     id="FB until 2022-06-08"),
        pytest.param("Facebook shares fall", "2022-06-09T00:00:00Z", ["META"],
                     id="META from 2022-06-09"),
        pytest.param("Google beats estimates", "2014-01-15T15:00:00Z", ["GOOG"],
                     id="Google before the class split is GOOG"),
        pytest.param("Google beats estimates", "2014-05-15T15:00:00Z", ["GOOGL"],
                     id="Google's class A after 2014-04-03 is GOOGL"),
        pytest.param("Apple and Facebook", "2014-05-02T15:00:00Z", ["AAPL", "FB"],
                     id="unchanged symbols stay"),
    ],
)
def test_a_name_maps_to_the_symbol_valid_at_the_time(
    headline: str, published_at: str, symbols: list[str]
) -> None:
    extractor = TickerExtractor(CompanyMatcher(load_companies()), load_symbol_history())
    found = extractor.mentions(event("e1", headline, published_at=published_at))
    assert [m.symbol for m in found if m.origin == "name"] == symbols


def test_a_cashtag_is_taken_as_written() -> None:
    extractor = TickerExtractor(CompanyMatcher(load_companies()), load_symbol_history())
    found = extractor.mentions(event("e1", "$META $FB", published_at="2014-05-02T15:00:00Z"))
    assert [m.symbol for m in found] == ["META", "FB"]
