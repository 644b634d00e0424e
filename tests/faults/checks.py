"""The fault tests' side inside a stack: ``python -m tests.faults.checks summaries``.

Run with the stack's environment (``Stack.run([python, "-m", "tests.faults.checks", ...])``)
as ``manage.py shell`` would be; prints one JSON document on its last line.

``summaries``: for every center, every closed reporting day that holds reports (the days
the summaries sweep answers for), whether its summary is compiled and up to date: one
``DailySummary`` for the (center, day), not stale, whose latest version holds what a
compilation run now would give (the same content digest). Also what the sweep still sees
due, and any (center, day) with more than one summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _summaries() -> dict:
    from django.db.models import Count, Max
    from django.utils import timezone

    from incidents.models import DailySummary, Report
    from incidents.selectors.summaries import (
        canonical_json,
        reporting_day,
        reporting_period,
        sha256_hex,
        summary_content,
    )
    from incidents.services.summaries import CUTOFF_GRACE, summaries_due
    from monitoring.models import MonitoringCenter

    now = timezone.now()
    days: list[dict] = []
    for center in MonitoringCenter.objects.order_by("code"):
        closed = reporting_day(center, now - CUTOFF_GRACE)  # the open day: not yet due
        moments = (
            Report.objects.filter(center=center).values_list("occurred_at", flat=True).order_by()
        )
        with_reports = {reporting_day(center, m) for m in moments.iterator(chunk_size=5000)}
        for day in sorted(d for d in with_reports if d < closed):
            summaries = list(DailySummary.objects.filter(center=center, day=day))
            row = {"center": center.code, "day": day.isoformat(), "summaries": len(summaries)}
            if len(summaries) == 1:
                summary = summaries[0]
                latest = summary.versions.order_by("-number").first()
                content, _sources = summary_content(center=center, day=day)
                start, end = reporting_period(center, day)
                row |= {
                    "stale": summary.stale,
                    "versions": summary.versions.count(),
                    "reports": content["source_count"],
                    "compiled_reports": latest.content.get("source_count") if latest else None,
                    "compiled_at": summary.compiled_at.isoformat() if summary.compiled_at else None,
                    "last_report_change": Report.objects.filter(
                        center=center, occurred_at__gte=start, occurred_at__lt=end
                    ).aggregate(last=Max("updated_at"))["last"],
                    "up_to_date": latest is not None
                    and latest.content_sha256 == sha256_hex(canonical_json(content)),
                }
            days.append(row)
    duplicates = list(
        DailySummary.objects.values("center__code", "day")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("center__code", "day")
    )
    due = [(center.code, day.isoformat()) for center, day in summaries_due(now=now)]
    compiled = [d for d in days if d["summaries"] == 1 and not d["stale"] and d.get("up_to_date")]
    return {
        "days": days,
        "due": due,
        "duplicates": [[code, day.isoformat()] for code, day in duplicates],
        "stale": DailySummary.objects.filter(stale=True).count(),
        "compiled": len(compiled),
        "ok": bool(days) and len(compiled) == len(days) and not due and not duplicates,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.checks")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("summaries")
    parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    sys.stdout.write(json.dumps(_summaries(), default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
