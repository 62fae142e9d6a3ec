"""A grammar of synthetic financial headlines: templates per topic and sentiment, with slots.

The seed training corpus and the demo stream are both rendered from the grammar file
`pipeline/data/headline_grammar.txt`, so their wording comes from one place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from random import Random

from pipeline.errors import ConfigError
from pipeline.items.companies import Company
from pipeline.model.labels import SENTIMENTS, TOPICS

SLOT = re.compile(r"\{([a-z_]+?)(\d*)\}")
COMPANY_KINDS = frozenset({"co", "tk", "cash", "pfx"})
COMPOSED_KINDS = frozenset({"person", "newco"})
_SECTION = re.compile(r"^\[(.+)\]$")
_LOWERCASE_BRANDS = frozenset({"onsemi"})
_POSSESSIVE_S = re.compile(r"(?<=[a-z])s's\b")

NumberSlot = Callable[[Random], str]


@dataclass(frozen=True)
class Template:
    topic: str
    sentiment: str
    text: str
    scandal: bool = False
    pool: str | None = None  # the named company pool its companies come from; None = any

    @property
    def company_count(self) -> int:
        """How many distinct companies the template names ({co}, {co2}, ... and kin)."""
        indices = [int(n or 1) for kind, n in SLOT.findall(self.text) if kind in COMPANY_KINDS]
        return max(indices, default=0)


@dataclass(frozen=True)
class Grammar:
    cells: Mapping[tuple[str, str], tuple[Template, ...]]
    fillers: Mapping[str, tuple[str, ...]]
    pools: Mapping[str, frozenset[str]]  # pool name -> tickers

    def cell(self, topic: str, sentiment: str) -> tuple[Template, ...]:
        return self.cells[(topic, sentiment)]

    @property
    def templates(self) -> tuple[Template, ...]:
        return tuple(t for cell in self.cells.values() for t in cell)


@dataclass(frozen=True)
class Headline:
    text: str
    tickers: tuple[str, ...]  # the companies the template named, in slot order


def load_grammar(path: Path | None = None) -> Grammar:
    """The grammar at `path`, or the one bundled with the package."""
    if path is None:
        source = resources.files("pipeline.data").joinpath("headline_grammar.txt")
        return parse_grammar(source.read_text("utf-8"))
    return parse_grammar(path.read_text(encoding="utf-8"))


def parse_grammar(text: str) -> Grammar:
    """Parse `[Topic :: sentiment]` templates, `[@slot]` fillers and `[%pool]` ticker lists."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line == "#" or line.startswith("# "):  # "#stocks" is a value
            continue
        header = _SECTION.match(line)
        if header:
            current = sections.setdefault(header.group(1).strip(), [])
        elif current is None:
            raise ConfigError(f"grammar line {number}: text before the first [section]")
        else:
            current.append(line)
    fillers = {k[1:]: tuple(v) for k, v in sections.items() if k.startswith("@")}
    pools = {k[1:]: frozenset(" ".join(v).split()) for k, v in sections.items() if k[0] == "%"}
    cells = {_cell_key(k): _templates(k, v) for k, v in sections.items() if k[0] not in "@%"}
    grammar = Grammar(cells=cells, fillers=fillers, pools=pools)
    _check_complete(grammar)
    return grammar


def _cell_key(header: str) -> tuple[str, str]:
    topic, _, sentiment = (part.strip() for part in header.partition("::"))
    if topic not in TOPICS or sentiment not in SENTIMENTS:
        raise ConfigError(f"grammar section [{header}] is not [<topic> :: <sentiment>]")
    return topic, sentiment


def _templates(header: str, lines: list[str]) -> tuple[Template, ...]:
    topic, sentiment = _cell_key(header)
    pool: str | None = None
    templates: list[Template] = []
    for line in lines:
        if line.startswith("%pool"):
            pool = line.removeprefix("%pool").strip() or None
            continue
        text = line.removeprefix("!").strip()
        templates.append(Template(topic, sentiment, text, line.startswith("!"), pool))
    return tuple(templates)


def _check_complete(grammar: Grammar) -> None:
    missing = [f"{t} :: {s}" for t in TOPICS for s in SENTIMENTS if not grammar.cells.get((t, s))]
    if missing:
        raise ConfigError(f"grammar has no templates for: {', '.join(missing)}")
    known = COMPANY_KINDS | COMPOSED_KINDS | NUMBER_SLOTS.keys() | grammar.fillers.keys()
    for template in grammar.templates:
        unknown = {kind for kind, _ in SLOT.findall(template.text)} - known
        if unknown:
            raise ConfigError(f"grammar template {template.text!r} uses unknown slots {unknown}")
        if template.pool is not None and template.pool not in grammar.pools:
            raise ConfigError(f"grammar template {template.text!r} uses unknown pool")


class HeadlineRenderer:
    """Fills templates with companies from a pool and values drawn from one seeded Random."""

    def __init__(self, grammar: Grammar, companies: Sequence[Company], rng: Random) -> None:
        if not companies:
            raise ConfigError("the headline renderer needs at least one company")
        self.grammar = grammar
        self.companies = tuple(companies)
        self.rng = rng
        self._pools: dict[str | None, tuple[Company, ...]] = {None: self.companies}

    def pool(self, name: str | None) -> tuple[Company, ...]:
        """The companies of pool `name` that the renderer knows, or all of them if none."""
        if name not in self._pools:
            tickers = self.grammar.pools[name] if name else frozenset()
            members = tuple(c for c in self.companies if c.ticker in tickers)
            self._pools[name] = members or self.companies
        return self._pools[name]

    def render(self, template: Template, fixed: Sequence[Company] = ()) -> Headline:
        """One headline; `fixed` names the first companies, the rest come from the pool."""
        fill = _Fill(self, self.pool(template.pool), list(fixed))
        text = SLOT.sub(fill.slot, template.text)
        text = _POSSESSIVE_S.sub("s'", _capitalize(text))
        return Headline(text=text, tickers=fill.named_tickers())

    def display_name(self, company: Company) -> str:
        """How a headline names `company`: mostly its common name, sometimes the legal one."""
        roll = self.rng.random()
        if not company.aliases or roll < 0.2:
            return company.name
        return company.aliases[0] if roll < 0.8 else self.rng.choice(company.aliases)


@dataclass
class _Fill:
    renderer: HeadlineRenderer
    pool: tuple[Company, ...]
    picked: list[Company]
    values: dict[str, str] = field(default_factory=dict)
    used: dict[str, set[str]] = field(default_factory=dict)
    named: set[int] = field(default_factory=set)

    def slot(self, match: re.Match[str]) -> str:
        key = match.group(0)
        if key not in self.values:
            self.values[key] = self._value(match.group(1), int(match.group(2) or 1))
        return self.values[key]

    def named_tickers(self) -> tuple[str, ...]:
        return tuple(self.picked[i - 1].ticker for i in sorted(self.named))

    def _value(self, kind: str, index: int) -> str:
        rng = self.renderer.rng
        if kind in COMPANY_KINDS:
            return self._company_slot(kind, index)
        if kind in NUMBER_SLOTS:
            return NUMBER_SLOTS[kind](rng)
        if kind == "person":
            return f"{self._distinct('first')} {self._distinct('last')}"
        if kind == "newco":
            return f"{self._distinct('newco_head')} {self._distinct('newco_tail')}"
        return self._distinct(kind)

    def _distinct(self, kind: str) -> str:
        # Two slots of one kind in a template ({econ}, {econ2}) should not repeat a value.
        options = self.renderer.grammar.fillers[kind]
        used = self.used.setdefault(kind, set())
        fresh = [o for o in options if o not in used] or list(options)
        value = self.renderer.rng.choice(fresh)
        used.add(value)
        return value

    def _company_slot(self, kind: str, index: int) -> str:
        company = self._company(index)
        self.named.add(index)
        if kind == "co":
            return self.renderer.display_name(company)
        if kind == "tk":
            return company.ticker
        if kind == "cash":
            return f"${company.ticker}"
        return _cashtag_prefix(company.ticker, self.renderer.rng)

    def _company(self, index: int) -> Company:
        while len(self.picked) < index:
            taken = {c.ticker for c in self.picked}
            fresh = [c for c in self.pool if c.ticker not in taken] or list(self.pool)
            self.picked.append(self.renderer.rng.choice(fresh))
        return self.picked[index - 1]


def _cashtag_prefix(ticker: str, rng: Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return ""
    if roll < 0.8:
        return f"${ticker} - "
    return f"${ticker}: " if roll < 0.92 else f"${ticker} "


def _capitalize(text: str) -> str:
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower() and first not in _LOWERCASE_BRANDS:
        return text[0].upper() + text[1:]
    return text


# Numeric and calendar slots: values in plausible ranges, printed the way wires print them.


def _billions(rng: Random) -> str:
    value = rng.uniform(0.5, 60.0)
    return rng.choice((f"${value:.1f} billion", f"${value:.1f}B", f"${value:.1f} bln"))


def _millions(rng: Random) -> str:
    value = rng.randint(15, 950)
    return rng.choice((f"${value} million", f"${value}M", f"${value} mln"))


def _basis_points(rng: Random) -> str:
    value = rng.choice((5, 10, 15, 20, 25, 25, 25, 50, 50, 75))
    return rng.choice((f"{value} bps", f"{value} basis points", f"{value}bps"))


def _target_move(rising: bool) -> NumberSlot:
    def move(rng: Random) -> str:
        low = rng.randint(10, 800)
        high = low + max(1, round(low * rng.uniform(0.05, 0.35)))
        new, old = (high, low) if rising else (low, high)
        return f"to ${new} from ${old}"

    return move


def _eps_versus(beat: bool) -> NumberSlot:
    def eps(rng: Random) -> str:
        estimate = rng.uniform(0.1, 5.0)
        actual = estimate + rng.uniform(0.02, 0.5) * (1 if beat else -1)
        return rng.choice(
            (
                f"EPS ${actual:.2f} vs. ${estimate:.2f} est.",
                f"EPS of ${actual:.2f} vs. consensus ${estimate:.2f}",
            )
        )

    return eps


NUMBER_SLOTS: Mapping[str, NumberSlot] = {
    "pct": lambda r: f"{r.uniform(0.6, 14.9):.1f}%",
    "pct_small": lambda r: f"{r.uniform(0.1, 2.4):.1f}%",
    "pct_big": lambda r: f"{r.randint(12, 65)}%",
    "pct_cap": lambda r: f"{r.uniform(10.5, 15.5):.1f}%",
    "price": lambda r: f"${r.uniform(3, 950):.2f}",
    "price_int": lambda r: str(5 * r.randint(2, 100)),
    "pt": lambda r: f"${r.randint(8, 900)}",
    "pt_up": _target_move(rising=True),
    "pt_down": _target_move(rising=False),
    "eps": lambda r: f"${r.uniform(0.05, 6.5):.2f}",
    "eps_delta": lambda r: f"${r.uniform(0.01, 0.6):.2f}",
    "eps_beat": _eps_versus(beat=True),
    "eps_miss": _eps_versus(beat=False),
    "usd_bn": _billions,
    "usd_m": _millions,
    "div": lambda r: f"${r.uniform(0.05, 2.5):.2f}",
    "div_small": lambda r: f"${r.uniform(0.01, 0.2):.4f}",
    "yield": lambda r: f"{r.uniform(0.8, 7.5):.1f}%",
    "bps": _basis_points,
    "rate": lambda r: f"{0.25 * r.randint(4, 22):.2f}%",
    "bbl": lambda r: f"${r.uniform(55, 98):.2f}",
    "gas": lambda r: f"${r.uniform(2.8, 4.6):.2f}",
    "oz": lambda r: f"${r.randint(2300, 3400):,}",
    "tonnes": lambda r: f"{r.uniform(850, 1100):,.2f}",
    "btc": lambda r: f"{r.uniform(2.2, 2.9):.2f}",
    "fxrate": lambda r: f"{r.uniform(0.6, 1.5):.4f}",
    "dxy": lambda r: f"{r.uniform(96, 108):.1f}",
    "btc_price": lambda r: f"${r.randint(40, 120)},000",
    "jobs_k": lambda r: f"{r.randint(90, 320)},000",
    "num": lambda r: str(r.randint(2, 12)),
    "n_small": lambda r: str(r.randint(1, 4)),
    "num_k": lambda r: f"{100 * r.randint(2, 150):,}",
    "num3": lambda r: str(r.randint(480, 640)),
    "num_m": lambda r: f"{r.uniform(3, 40):.1f} million",
    "year": lambda r: str(r.randint(2025, 2027)),
    "year_past": lambda r: str(r.randint(2008, 2023)),
    "year_future": lambda r: str(r.randint(2028, 2036)),
    "ipo_price": lambda r: f"${r.randint(12, 45)}",
    "ipo_range": lambda r: (lambda low: f"${low}-${low + 2}")(r.randint(12, 40)),
}
