"""The label sets of the multi-task model, shared by training, export and serving."""

from typing import Final

# Order = the class ids of the Twitter Financial News topic set, so its integer labels map
# straight onto these names.
TOPICS: Final[tuple[str, ...]] = (
    "Analyst Update",
    "Fed | Central Banks",
    "Company | Product News",
    "Treasuries | Corporate Debt",
    "Dividend",
    "Earnings",
    "Energy | Oil",
    "Financials",
    "Currencies",
    "General News | Opinion",
    "Gold | Metals | Materials",
    "IPO",
    "Legal | Regulation",
    "M&A | Investments",
    "Macro",
    "Markets",
    "Politics",
    "Personnel Change",
    "Stock Commentary",
    "Stock Movement",
)

# Order of the model's sentiment head; score = p(positive) - p(negative).
SENTIMENTS: Final[tuple[str, str, str]] = ("negative", "neutral", "positive")

# The Twitter Financial News sentiment set numbers its classes differently
# (0 = Bearish, 1 = Bullish, 2 = Neutral).
TWITTER_FINANCIAL_SENTIMENT_IDS: Final[dict[int, str]] = {
    0: "negative",
    1: "positive",
    2: "neutral",
}
