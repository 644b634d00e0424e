"""The monitoring center's world (parties, agreements, centers, observers, the audit log,
partner tokens) and the machinery of the API's sync (change feed, idempotency, mirrors)."""

from .core import (
    Agreement,
    AgreementSignatory,
    AuditEntry,
    MonitoringCenter,
    Observer,
    PartnerToken,
    Party,
)
from .feed import Change, ChangeCounter, ChangePurge, IdempotencyKey, SyncedRecord, SyncSource

__all__ = [
    "Agreement",
    "AgreementSignatory",
    "AuditEntry",
    "Change",
    "ChangeCounter",
    "ChangePurge",
    "IdempotencyKey",
    "MonitoringCenter",
    "Observer",
    "PartnerToken",
    "Party",
    "SyncSource",
    "SyncedRecord",
]
