"""Trend windows, detection, the alert lifecycle and its outbox, the scheduler step, backtests."""
