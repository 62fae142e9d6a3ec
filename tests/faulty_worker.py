"""`python -m tests.faulty_worker [faults]`: the classifier worker with test faults in its chain.

The same worker as `python -m workers.classifier` (settings from FINSENT_*), its chain wrapped
by `ChainFaults`; the faults come from this command line, never from production settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tests.chain_faults import ChainFaults
from workers.classifier import main as run_worker


def parse_faults(argv: Sequence[str] | None = None) -> ChainFaults:
    parser = argparse.ArgumentParser(prog="python -m tests.faulty_worker", description=__doc__)
    parser.add_argument(
        "--offsets-first", action="store_true", help="commit offsets before the rows (wrong)"
    )
    parser.add_argument(
        "--crash-at",
        type=int,
        metavar="N",
        help="SIGKILL at a chain's N-th offset commit: after its rows, before its offsets "
        "(with --offsets-first: after its offsets, before its rows)",
    )
    parser.add_argument(
        "--kill-on-text", metavar="TEXT", help="SIGKILL when a headline holding TEXT is inferred"
    )
    args = parser.parse_args(argv)
    if args.crash_at is not None and args.crash_at < 1:
        parser.error("--crash-at counts from 1")
    return ChainFaults(args.offsets_first, args.crash_at, args.kill_on_text)


if __name__ == "__main__":
    run_worker(wrap=parse_faults())
