"""Alert quality: do finsent's ticker alerts coincide with real price drops? (PLAN.md)

  python -m bench.alert_quality            # the whole stream; tuning grid; 2,000 random draws
  python -m bench.alert_quality --smoke    # first rows only; writes bench/results/smoke/

The stream is classified once per (model version, stream file) into a SQLite cache
(bench/stream_cache.py), then the rules run over history with the backtest engine (the live
scheduler's `evaluate` and `advance`), tuned on 2014-01..08 and confirmed on 2014-09..12.
The model is FINSENT_MODEL__BUNDLE (or --bundle), else the shipped model; at smoke size the
tiny test bundle if unset.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.alert_scoring import (
    Alerts,
    Truth,
    busiest_days,
    per_ticker_month,
    random_baseline,
    score,
)
from bench.market_moves import (
    StreamVolume,
    TickerPrices,
    eligible_drop_days,
    market_wide_days,
    read_all_prices,
    read_stream_volume,
)
from bench.stream_cache import classified_stream, code_fingerprint, embedded_settings
from pipeline.alerting.backtest import Series, load_series, replay_rules, run_backtest
from pipeline.alerting.rules import build_rule
from pipeline.settings import Settings, default_cache_dir
from pipeline.storage.db import make_engine

log = logging.getLogger("bench.alert_quality")
ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """../shared/data beside the checkout (a worktree may sit one level deeper)."""
    if os.environ.get("FINSENT_SHARED_DATA"):
        return Path(os.environ["FINSENT_SHARED_DATA"])
    found = (p / "shared" / "data" for p in ROOT.parents)
    return next((p for p in found if p.is_dir()), ROOT.parent / "shared" / "data")


DATA = shared_data()
STREAM = DATA / "news_stream" / "stocknet_tweets_stream.csv"
PRICES = DATA / "prices"
TUNE = (datetime(2014, 1, 1, tzinfo=UTC), datetime(2014, 9, 1, tzinfo=UTC))
CONFIRM = (datetime(2014, 9, 1, tzinfo=UTC), datetime(2015, 1, 1, tzinfo=UTC))
TIMED = (datetime(2014, 1, 1, tzinfo=UTC), datetime(2016, 1, 1, tzinfo=UTC))
SMOKE_ROWS = 4000
GRID = [
    {
        "trends": {"window_s": w},
        "alerts": {
            "negative_test": test,
            "min_negative_share": share,
            "z_threshold": z,
            "attention_z": a,
        },
    }
    for w in (3600, 86400)
    for test in ("share", "volume")
    for share in (0.4, 0.2, 0.1)
    for z, a in ((3.0, 2.0), (2.0, 2.0), (3.0, 3.0))
]
# The rule before the count detector, as issue 12 measured it (daily windows): a reference.
REFERENCE = {"trends": {"window_s": 86400}, "alerts": {"detector": "mad"}}
SMOKE_GRID = [{}, {"trends": {"window_s": 14400}, "alerts": {"negative_test": "volume"}}]


def main() -> None:
    args = parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    load_before = os.getloadavg()
    started = time.perf_counter()
    bundle = model_bundle(args)
    limit = SMOKE_ROWS if args.smoke else None
    db, version = classified_stream(args.stream, bundle, default_cache_dir(), limit)
    bench = Bench.open(db, args.stream, args.prices, limit)
    tune, confirm = (TUNE, CONFIRM) if not args.smoke else bench.smoke_periods()
    grid = SMOKE_GRID if args.smoke else GRID
    bench.replay([{}, *grid, REFERENCE], tune)
    tried = [bench.figures(config, tune, draws=args.tune_draws) for config in grid]
    chosen = choose(tried)
    bench.replay([{}, chosen["config"], REFERENCE], confirm)
    result = {
        "benchmark": "alert_quality",
        "smoke": args.smoke,
        "git_sha": git_sha(),
        "model_version": version,
        "bundle": str(bundle),
        "stream": {
            "file": str(args.stream),
            "rows": limit or "all",
            "cache": str(db),
            "classify_code": code_fingerprint(),
        },
        "definitions": definitions(),
        "periods": {"tune": iso(tune), "confirm": iso(confirm)},
        "default_settings": bench.settings_of({}),
        "defaults": {
            "tune": bench.figures({}, tune, draws=args.draws, full=True),
            "confirm": bench.figures({}, confirm, draws=args.draws, full=True),
        },
        "reference_mad_rule": {
            "config": REFERENCE,
            "tune": bench.figures(REFERENCE, tune, draws=args.tune_draws),
            "confirm": bench.figures(REFERENCE, confirm, draws=args.tune_draws),
        },
        "configurations_tried": tried,
        "chosen": {
            "config": chosen["config"],
            "confirm": bench.figures(chosen["config"], confirm, draws=args.draws, full=True),
        },
        "backtest_timing": bench.timing(TIMED if not args.smoke else (tune[0], confirm[1])),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "duration_s": round(time.perf_counter() - started, 1),
    }
    result["goals"] = goals(result["defaults"]["confirm"], result["chosen"]["confirm"])
    write(result, args.smoke)


class Bench:
    """The classified stream in memory, the prices and the stream's own ticker volume."""

    def __init__(
        self,
        db: Path,
        series: dict[str, Series],
        prices: dict[str, TickerPrices],
        volume: StreamVolume,
    ) -> None:
        self.db = db
        self.series = series
        self.prices = prices
        self.volume = volume
        self._replayed: dict[str, tuple[Alerts, int, int]] = {}

    @classmethod
    def open(cls, db: Path, stream: Path, prices: Path, limit: int | None) -> Bench:
        settings = embedded_settings(db, None)
        engine = make_engine(settings.database)
        series = load_series(
            engine, settings, datetime(2013, 1, 1, tzinfo=UTC), datetime(2015, 1, 1, tzinfo=UTC)
        )
        engine.dispose()
        return cls(db, series, read_all_prices(prices), read_stream_volume(stream, limit))

    def smoke_periods(self) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
        times = self.series["market"].times
        first = datetime.fromtimestamp(times[0], UTC) + timedelta(days=2)
        last = datetime.fromtimestamp(times[-1], UTC)
        split = first + (last - first) * 2 / 3
        return (first, split), (split, last)

    def settings_of(self, config: dict[str, Any]) -> dict[str, Any]:
        settings = self.configured(config)
        return {
            "trends": settings.trends.model_dump(mode="json"),
            "alerts": settings.alerts.model_dump(mode="json"),
        }

    def configured(self, config: dict[str, Any]) -> Settings:
        return embedded_settings(self.db, None, **config)

    def replay(self, configs: list[dict[str, Any]], period: tuple[datetime, datetime]) -> None:
        """Run the configurations over the period, one replay per trend setting (the rules of
        one replay share its windows and baselines); results are kept for `alerts`."""
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for config in configs:
            groups[json.dumps(config.get("trends", {}), sort_keys=True)].append(config)
        for members in groups.values():
            settings = self.configured(members[0])
            rules = [
                build_rule({"name": f"c{i}", **c.get("alerts", {})}, settings.alerts, "bench")
                for i, c in enumerate(members)
            ]
            found = [_Firing() for _ in members]
            for event in replay_rules(self.series, settings, rules, *period):
                if event.event == "alert.firing":
                    found[int(event.rule[1:])].add(event.scope, event.at, self.prices)
            for config, firing in zip(members, found, strict=True):
                self._replayed[_key(config, period)] = firing.result()

    def alerts(
        self, config: dict[str, Any], period: tuple[datetime, datetime]
    ) -> tuple[Alerts, int, int]:
        """(firing times per priced ticker, ticker alerts on other symbols, market alerts)."""
        if _key(config, period) not in self._replayed:
            self.replay([config], period)
        return self._replayed[_key(config, period)]

    def truth(self, definition: str, period: tuple[datetime, datetime], wide: str) -> Truth:
        """wide: "exclude" (primary), "all" days, or "only" the market-wide days."""
        days = market_wide_days(self.prices, definition)
        exclude = days if wide == "exclude" else set()
        eligible = eligible_drop_days(self.prices, self.volume, definition, *period, exclude)
        if wide == "only":
            eligible = [d for d in eligible if d.day in days]
        return Truth(self.prices, definition, exclude, eligible)

    def figures(
        self,
        config: dict[str, Any],
        period: tuple[datetime, datetime],
        draws: int,
        full: bool = False,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        alerts, outside, market = self.alerts(config, period)
        truth = self.truth("sigma", period, "exclude")
        rule = score(truth, alerts)
        months = (period[1] - period[0]).days / 30.44
        figures: dict[str, Any] = {
            "config": config,
            "rule": rule,
            "random": random_baseline(
                truth, self.volume, alerts, *period, draws, rule["precision"]
            ),
            "busiest_days": score(truth, busiest_days(self.volume, alerts, *period)),
            "ticker_alerts_outside_price_set": outside,
            "market_alerts": market,
            "alert_count": per_ticker_month(alerts, len(self.prices), months),
            "replay_s": round(time.perf_counter() - started, 1),
        }
        if full:
            figures["pct3"] = self.pct3(alerts, period, draws)
            figures["all_days"] = score(self.truth("sigma", period, "all"), alerts)
            figures["market_wide_days"] = {
                "days": sorted(
                    str(d)
                    for d in market_wide_days(self.prices, "sigma")
                    if period[0].date() <= d < period[1].date()
                ),
                "rule": score(self.truth("sigma", period, "only"), alerts),
            }
        log.info("%s %s: %s", config or "defaults", iso(period), brief(figures))
        return figures

    def pct3(self, alerts: Alerts, period: tuple[datetime, datetime], draws: int) -> dict[str, Any]:
        truth = self.truth("pct3", period, "exclude")
        rule = score(truth, alerts)
        return {
            "rule": rule,
            "random": random_baseline(
                truth, self.volume, alerts, *period, draws, rule["precision"]
            ),
            "busiest_days": score(truth, busiest_days(self.volume, alerts, *period)),
        }

    def timing(self, span: tuple[datetime, datetime]) -> dict[str, Any]:
        """The backtest command's engine over the span at default settings (SQLite read too)."""
        settings = embedded_settings(self.db, None)
        engine = make_engine(settings.database)
        started = time.perf_counter()
        events = run_backtest(engine, settings, *span)
        took = time.perf_counter() - started
        engine.dispose()
        return {
            "span": iso(span),
            "seconds": round(took, 1),
            "events": len(events),
            "load_average": [round(v, 2) for v in os.getloadavg()],
        }


class _Firing:
    """One configuration's firing events, split as `Bench.alerts` reports them."""

    def __init__(self) -> None:
        self.found: Alerts = defaultdict(list)
        self.outside = 0
        self.market = 0

    def add(self, scope: str, at: datetime, prices: dict[str, TickerPrices]) -> None:
        kind, _, symbol = scope.partition(":")
        if kind == "market":
            self.market += 1
        elif kind == "ticker" and symbol in prices:
            self.found[symbol].append(at)
        elif kind == "ticker":
            self.outside += 1

    def result(self) -> tuple[Alerts, int, int]:
        return dict(self.found), self.outside, self.market


def _key(config: dict[str, Any], period: tuple[datetime, datetime]) -> str:
    return json.dumps([config, iso(period)], sort_keys=True)


def brief(figures: dict[str, Any]) -> str:
    rule, rand = figures["rule"], figures["random"]
    return (
        f"alerts {rule['alerts']} precision {fmt(rule['precision'])} "
        f"(random {fmt(rand['precision']['mean'])}/{fmt(rand['precision']['p99'])}, "
        f"busiest {fmt(figures['busiest_days']['precision'])}) "
        f"recall {fmt(rule['recall_strict'])}/{fmt(rule['recall_lenient'])}"
    )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def meets_precision(figures: dict[str, Any]) -> bool:
    p = figures["rule"]["precision"]
    rand = figures["random"]["precision"]
    busiest = figures["busiest_days"]["precision"] or 0.0
    return p is not None and p >= 2 * rand["mean"] and p > rand["p99"] and p >= busiest


def choose(tried: list[dict[str, Any]]) -> dict[str, Any]:
    """Tuning: among configurations meeting the precision goals on the tuning months, the best
    strict recall; when none meets them, the best precision lift over random."""

    def lift(f: dict[str, Any]) -> float:
        p, mean = f["rule"]["precision"] or 0.0, f["random"]["precision"]["mean"] or 1e-9
        return p / mean

    good = [f for f in tried if meets_precision(f)]
    if good:
        return max(good, key=lambda f: (f["rule"]["recall_strict"] or 0.0, lift(f)))
    return max(tried, key=lift)


def goals(defaults: dict[str, Any], chosen: dict[str, Any]) -> dict[str, Any]:
    def check(f: dict[str, Any]) -> dict[str, Any]:
        rule = f["rule"]
        return {
            "precision_2x_random_mean_above_p99_and_busiest": meets_precision(f),
            "recall_strict_at_least_35pct": (rule["recall_strict"] or 0.0) >= 0.35,
            "third_of_hits_before_open": (rule["share_before_open"] or 0.0) >= 1 / 3,
        }

    return {"defaults_confirm": check(defaults), "chosen_confirm": check(chosen)}


def definitions() -> dict[str, str]:
    return {
        "drop_day": "close-to-close Adj Close return <= -2.5 sd of the 60 returns before "
        "(pct3: <= -3 %); market-wide days (>= 8 tickers) excluded and reported apart",
        "precision": "an alert hits when one of the first two closes at or after it is a drop day",
        "recall": "drop days with >= 10 tweets naming the ticker (stream tickers column) in "
        "the 48 h before the close; strict: alert in (previous close, close]; lenient: to the "
        "next close",
        "lag": "drop-day close minus the first strict-hit alert, hours",
        "random": "alerts at random tweets of the same ticker, as many per ticker as the rule's",
        "busiest_days": "each ticker's busiest UTC tweet days, timed at the day's median tweet",
    }


def iso(period: tuple[datetime, datetime]) -> list[str]:
    return [period[0].isoformat(), period[1].isoformat()]


def model_bundle(args: argparse.Namespace) -> Path:
    configured = args.bundle or os.environ.get("FINSENT_MODEL__BUNDLE")
    if configured:
        bundle = Path(configured)
        deadline = time.monotonic() + args.wait_s
        while not (bundle / "manifest.json").is_file():
            if time.monotonic() > deadline:
                raise SystemExit(f"no model bundle at {bundle} (manifest.json missing)")
            time.sleep(10)
        return bundle
    if not args.smoke:
        from pipeline.model.shipped import shipped_bundle

        return shipped_bundle().path  # what the service serves by default
    from pipeline.training.testbundle import cached_test_bundle

    return cached_test_bundle(default_cache_dir() / "models").path


def git_sha() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def write(result: dict[str, Any], smoke: bool) -> None:
    out = ROOT / "bench" / "results" / ("smoke" if smoke else "") / "alert_quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    log.info("wrote %s", out)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="first rows only, small draws")
    parser.add_argument("--bundle", type=Path, help="model bundle (else FINSENT_MODEL__BUNDLE)")
    parser.add_argument("--stream", type=Path, default=STREAM)
    parser.add_argument("--prices", type=Path, default=PRICES)
    parser.add_argument("--draws", type=int, default=None, help="random draws (2,000; smoke 200)")
    parser.add_argument("--wait-s", type=float, default=0, help="wait for the bundle to appear")
    args = parser.parse_args()
    args.draws = args.draws or (200 if args.smoke else 2000)
    args.tune_draws = min(args.draws, 500)
    return args


if __name__ == "__main__":
    main()
