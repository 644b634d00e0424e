"""The monitoring center's world (parties, agreements, centers, observers, the audit log,
partner tokens) and the machinery of the API's sync (change feed, idempotency, mirrors)."""

from .core import (
    AUDIT_CHAIN_GENESIS,
    Agreement,
    AgreementSignatory,
    AuditChainHead,
    AuditEntry,
    MonitoringCenter,
    Observer,
    PartnerToken,
    Party,
    audit_entry_digest,
)
from .feed import Change, ChangeCounter, ChangePurge, IdempotencyKey, SyncedRecord, SyncSource

__all__ = [
    "AUDIT_CHAIN_GENESIS",
    "Agreement",
    "AgreementSignatory",
    "AuditChainHead",
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
    "audit_entry_digest",
]
