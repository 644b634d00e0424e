"""``python -m tests.load``: see tests/load/__init__.py; ``--help`` lists the options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.load.driver import LoadConfig, report, run_load, write_json
from tests.stack import interrupt_on_signals


def _think(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        pair = (float(low), float(high or low))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"give seconds as MIN-MAX, got {text!r}") from exc
    if pair[0] < 0 or pair[1] < pair[0]:
        raise argparse.ArgumentTypeError(f"give seconds as MIN-MAX, got {text!r}")
    return pair


def _bounded(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"between {low} and {high}, got {value}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.load",
        description="Load-test the production shape (gunicorn, Celery) on loopback.",
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--duration", type=_bounded(5, 3600), default=120, help="seconds")
    parser.add_argument("--observers", type=_bounded(0, 500), default=50)
    parser.add_argument("--partners", type=_bounded(0, 50), default=4)
    parser.add_argument(
        "--think", type=_think, default=(5.0, 15.0), help="pause between filings, MIN-MAX s"
    )
    parser.add_argument("--max-filings", type=_bounded(1, 100000), default=500, help="per user")
    parser.add_argument("--web-workers", type=_bounded(1, 32), default=2)
    parser.add_argument("--web-threads", type=_bounded(1, 64), default=4)
    parser.add_argument("--worker-concurrency", type=_bounded(1, 32), default=4)
    parser.add_argument("--sweep-seconds", type=_bounded(1, 3600), default=30)
    parser.add_argument("--timeout", type=float, default=60, help="per request, seconds")
    parser.add_argument("--ramp-up", type=float, default=30, help="arrivals spread, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.observers + args.partners == 0:
        parser.error("give at least one observer or partner")
    config = LoadConfig(
        database=args.database,
        duration=args.duration,
        observers=args.observers,
        partners=args.partners,
        think=args.think,
        max_filings=args.max_filings,
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        worker_concurrency=args.worker_concurrency,
        sweep_seconds=args.sweep_seconds,
        timeout=args.timeout,
        seed=args.seed,
        keep=args.keep,
        ramp_up=args.ramp_up,
    )
    interrupt_on_signals()
    try:
        result = run_load(config)
    except KeyboardInterrupt:
        print("==> interrupted: the stack is stopped", file=sys.stderr)
        return 130
    report(result)
    if args.json:
        write_json(result, args.json)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
