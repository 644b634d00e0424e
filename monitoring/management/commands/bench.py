"""Run the project's benchmarks: ``manage.py bench [name ...]`` (``make bench``).

Each app may have a ``benchmarks`` module with a ``BENCHMARKS`` dict of name -> function.
Results are printed and written as JSON to ``var/bench/<name>.json`` with the machine's
description, for docs/benchmarks.md. A benchmark function with a ``vendor`` attribute runs
only on that database (``summary_compile``: PostgreSQL, ``make bench-postgres``); elsewhere it
is skipped with a note.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import module_has_submodule


def _registry() -> dict:
    found = {}
    for app_config in apps.get_app_configs():
        if app_config.name in {"monitoring", "zones", "incidents"} and module_has_submodule(
            app_config.module, "benchmarks"
        ):
            found.update(import_module(f"{app_config.name}.benchmarks").BENCHMARKS)
    return found


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if "model name" in line), "")
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
    }


class Command(BaseCommand):
    help = "Run benchmarks and print their figures (see docs/benchmarks.md)."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
        parser.add_argument("--points", type=int, default=1_000_000)
        parser.add_argument("--repeats", type=int, default=5)
        parser.add_argument(
            "--day-reports",
            type=int,
            default=10_000,
            help="summary_compile: reports in the compiled day",
        )
        parser.add_argument(
            "--feed-reports",
            type=int,
            default=1_000_000,
            help="changes_feed: reports in the database (filled up to it)",
        )
        parser.add_argument(
            "--totals",
            default="100000,1000000",
            help="summary_compile: database sizes, comma-separated",
        )

    def handle(self, *args, names: list[str], points: int, repeats: int, **options):
        try:
            totals = tuple(int(n) for n in options["totals"].split(","))
        except ValueError as exc:
            raise CommandError(f"--totals {options['totals']!r}: numbers and commas") from exc
        registry = _registry()
        unknown = sorted(set(names) - set(registry))
        if unknown:
            raise CommandError(
                f"Unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(registry)}"
            )
        selected = names or list(registry)
        info = machine()
        self.stdout.write(
            f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
            f"{info['system']}, database {info['database']}"
        )
        out_dir = settings.VAR_DIR / "bench"
        out_dir.mkdir(parents=True, exist_ok=True)
        skipped = 0
        for position, name in enumerate(selected, 1):
            self.stdout.write(f"[{position}/{len(selected)}] {name}")
            vendor = getattr(registry[name], "vendor", None)
            if vendor and vendor != connection.vendor:
                self.stdout.write(f"  skipped: runs on {vendor} only (see docs/benchmarks.md)")
                skipped += 1
                continue
            kwargs = {"log": self.stdout.write, "repeats": repeats}
            if name == "classifier":
                kwargs["points"] = points
            if name == "summary_compile":
                kwargs.update(day_reports=options["day_reports"], totals=totals)
            if name == "changes_feed":
                kwargs["feed_reports"] = options["feed_reports"]
            figures = registry[name](**kwargs)
            record = {
                "benchmark": name,
                "at": timezone.now().isoformat(),
                "machine": info,
                **figures,
            }
            (out_dir / f"{name}.json").write_text(json.dumps(record, indent=2))
        done = f"{len(selected) - skipped} benchmark(s) done"
        if skipped:
            done += f", {skipped} skipped"
        self.stdout.write(self.style.SUCCESS(f"{done}; JSON in {out_dir}"))
