"""The alert-quality benchmark's definitions (PLAN.md): drop days, precision, recall, lag."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bench.alert_scoring import Truth, busiest_days, precision, random_baseline, recall
from bench.market_moves import (
    DropDay,
    StreamVolume,
    TickerPrices,
    close_at,
    eligible_drop_days,
    read_prices,
)

DAYS = [date(2014, 3, d) for d in (3, 4, 5, 6, 7, 10)]  # Mon..Fri, Mon
DROP = 3  # 2014-03-06 is the drop day
ACME = TickerPrices("ACME", DAYS, [close_at(d) for d in DAYS],
                    {"sigma": [i == DROP for i in range(len(DAYS))]})


def truth(eligible: list[DropDay] | None = None) -> Truth:
    volume = StreamVolume()
    volume.times["ACME"] = [close_at(DAYS[DROP]) - timedelta(hours=h) for h in range(1, 13)]
    found = eligible_drop_days({"ACME": ACME}, volume, "sigma",
                               datetime(2014, 1, 1, tzinfo=UTC), datetime(2015, 1, 1, tzinfo=UTC),
                               set())
    return Truth({"ACME": ACME}, "sigma", set(), found if eligible is None else eligible)


def at(day: int, hour: int) -> datetime:
    return datetime(2014, 3, day, hour, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "hit"),
    [
        pytest.param(at(5, 12), True, id="drop is the second close after: hit"),
        pytest.param(at(4, 22), True, id="after the 4th's close: 5th and 6th closes, hit"),
        pytest.param(at(4, 12), False, id="first two closes are the 4th and 5th: miss"),
        pytest.param(at(6, 20), True, id="before the drop day close (21:00 UTC in EST)"),
        pytest.param(at(6, 22), False, id="after the drop's close: miss"),
    ],
)
def test_precision_counts_the_first_two_closes(moment: datetime, hit: bool) -> None:
    found = precision(truth(), {"ACME": [moment]})
    assert (found["alerts"], found["hits"]) == (1, int(hit))


@pytest.mark.parametrize(
    ("moment", "strict", "lenient"),
    [
        pytest.param(at(6, 10), 1, 1, id="before the open of the drop day"),
        pytest.param(at(5, 19), 0, 0, id="before the previous close"),
        pytest.param(at(7, 15), 0, 1, id="the next day: lenient only"),
    ],
)
def test_recall_windows(moment: datetime, strict: int, lenient: int) -> None:
    found = recall(truth(), {"ACME": [moment]})
    assert found["eligible_drop_days"] == 1
    assert (found["strict_hits"], found["lenient_hits"]) == (strict, lenient)
    if strict:
        assert found["lag_hours_median"] == pytest.approx(11.0), "close 16:00 EST = 21:00 UTC"
        assert found["share_before_open"] == 1.0


def test_recall_needs_ten_tweets_in_the_48_hours_before_the_close() -> None:
    volume = StreamVolume()
    volume.times["ACME"] = [close_at(DAYS[DROP]) - timedelta(hours=h) for h in (1, 2, 50)]
    span = (datetime(2014, 1, 1, tzinfo=UTC), datetime(2015, 1, 1, tzinfo=UTC))
    assert eligible_drop_days({"ACME": ACME}, volume, "sigma", *span, set()) == []


def test_drop_day_is_two_and_a_half_sigma_of_the_sixty_returns_before(tmp_path: Path) -> None:
    rows = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    price, start = 100.0, date(2014, 1, 1)
    for i in range(70):
        price *= 1.01 if i % 2 else 0.99
        if i == 65:
            price *= 0.95
        rows.append(f"{start + timedelta(days=i)},0,0,0,0,{price},0")
    path = tmp_path / "ACME.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    drops = read_prices(path).drops
    assert [i for i, d in enumerate(drops["sigma"]) if d] == [65]
    assert [i for i, d in enumerate(drops["pct3"]) if d] == [65]


def test_random_baseline_is_volume_weighted_and_seeded() -> None:
    volume = StreamVolume()
    volume.times["ACME"] = [at(5, 12)] * 3 + [at(3, 12)]
    alerts = {"ACME": [at(5, 12), at(5, 13)]}
    span = (at(1, 0), at(9, 0))
    one = random_baseline(truth(), volume, alerts, *span, draws=400, observed=1.0)
    two = random_baseline(truth(), volume, alerts, *span, draws=400, observed=1.0)
    assert one == two
    assert one["precision"]["mean"] == pytest.approx(0.75, abs=0.05)
    assert busiest_days(volume, alerts, *span) == {"ACME": [at(3, 12), at(5, 12)]}
