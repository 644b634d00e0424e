"""The load test's side inside the stack: accounts before the run, what was stored after.

Run with the stack's environment (``Stack.run([python, "-m", "tests.load.accounts", ...])``),
as ``manage.py shell`` would be; it prints one JSON document on its last line.

``setup --observers N --partners M --password P``: N observers (their profile in the
center, delegations taken in turn), a coordinator who issues each of M partner accounts a
"read write" token, through the services (``observer_save``, ``partner_token_issue``;
users have no service of their own, so their creation is audited here as ``manage.py
demo_accounts`` does). Prints the usernames, the tokens' secrets, and the choices the
filing pages offer (settlements, posts, checkpoints, parties) for valid filings.

``stored --run-id R``: every report whose narrative carries the run's marker, as
``{marker: {"uuid", "kind", "status"}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

MARKER_RE = r"\[load (?P<run>[0-9a-z]+) (?P<who>[0-9a-z-]+) (?P<n>[0-9]+)\]"


def marker(run_id: str, who: str, n: int) -> str:
    """The unique tag a filing carries in its narrative: ``[load <run> <who> <n>]``."""
    return f"[load {run_id} {who} {n}]"


def _setup(*, observers: int, partners: int, password: str, center_code: str) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from incidents.forms import ReportFiling, party_choices, post_choices, settlement_choices
    from monitoring.choices import AuditEntryAction, AuditEntrySource, ObserverRole, PartyKind
    from monitoring.context import audit_source
    from monitoring.models import MonitoringCenter, Observer, Party
    from monitoring.services import audit_entry_create, observer_save, partner_token_issue
    from zones.choices import PostKind

    User = get_user_model()
    encoded = make_password(password)  # one hash for all: the logins still check it each
    center = MonitoringCenter.objects.get(code=center_code)
    members = sorted(center.member_parties.all(), key=lambda party: party.code)
    zones = list(center.zones.all())
    partner_party = (
        Party.objects.filter(kind=PartyKind.HUMANITARIAN_ORG).order_by("code").first() or members[0]
    )

    def account(username: str, role: str, delegation, assigned) -> Observer:
        user = User(username=username)
        user.password = encoded
        user.full_clean(exclude=["password"])
        user.save()
        audit_entry_create(
            actor=None,
            action=AuditEntryAction.CREATE,
            instance=user,
            changes={"username": [None, username]},
            comment="Load test account.",
        )
        profile = Observer(user=user, center=center, delegation=delegation, role=role)
        return observer_save(observer=profile, assigned_zones=assigned, actor=None)

    with audit_source(AuditEntrySource.COMMAND), transaction.atomic():
        observer_names = []
        for index in range(observers):
            name = f"load-obs-{index + 1}"
            account(name, ObserverRole.OBSERVER, members[index % len(members)], zones)
            observer_names.append(name)
        coordinator = account("load-coord", ObserverRole.COORDINATOR, members[0], zones).user
        secrets = []
        for index in range(partners):
            partner = account(f"load-partner-{index + 1}", ObserverRole.PARTNER, partner_party, [])
            _, secret = partner_token_issue(
                partner_user=partner.user,
                name=f"Load test tool {index + 1}",
                scopes="read write",
                actor=coordinator,
            )
            secrets.append(secret)

    sample = Observer.objects.get(user__username="load-coord")
    filing = ReportFiling(kind="convoy", observer=sample)
    posts = list(post_choices(sample).exclude(kind=PostKind.CHECKPOINT))
    checkpoints = list(post_choices(sample, PostKind.CHECKPOINT))
    settlements = list(settlement_choices(sample))
    organizations = list(filing.detail_form.fields["organizations"].queryset)
    parties = list(party_choices().exclude(kind=PartyKind.HUMANITARIAN_ORG))
    if not (posts and checkpoints and settlements and organizations and parties):
        raise SystemExit(f"center {center_code} lacks posts, checkpoints or settlements")
    return {
        "center": center.code,
        "time_zone": center.time_zone,
        "observers": observer_names,
        "partner_tokens": secrets,
        "posts": [
            {"pk": p.pk, "code": p.code, "lat": p.latitude, "lon": p.longitude} for p in posts
        ],
        "checkpoints": [
            {"pk": p.pk, "code": p.code, "lat": p.latitude, "lon": p.longitude} for p in checkpoints
        ],
        "settlements": [{"pk": s.pk, "code": s.code} for s in settlements],
        "organizations": [party.pk for party in organizations],
        "parties": [party.pk for party in parties],
    }


def _stored(*, run_id: str) -> dict:
    from incidents.models import Report

    found: dict[str, dict] = {}
    rows = Report.objects.filter(narrative__contains=f"[load {run_id} ").values_list(
        "narrative", "uuid", "kind", "status"
    )
    for narrative, uuid, kind, status in rows.iterator():
        for match in re.finditer(MARKER_RE, narrative):
            if match["run"] == run_id:
                found[match.group(0)] = {"uuid": str(uuid), "kind": kind, "status": status}
    return {"count": len(found), "reports": found}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("setup")
    setup.add_argument("--observers", type=int, required=True)
    setup.add_argument("--partners", type=int, required=True)
    setup.add_argument("--password", required=True)
    setup.add_argument("--center", default="JWG")
    stored = commands.add_parser("stored")
    stored.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if args.command == "setup":
        result = _setup(
            observers=args.observers,
            partners=args.partners,
            password=args.password,
            center_code=args.center,
        )
    else:
        result = _stored(run_id=args.run_id)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
