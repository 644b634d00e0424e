from django.db import models


class PartyKind(models.TextChoices):
    STATE = "state", "State"
    GOVERNMENT_FORCES = "government_forces", "Government forces"
    ARMED_OPPOSITION = "armed_opposition", "Armed opposition formation"
    EXCLUDED_GROUP = "excluded_group", "Excluded group (outside the ceasefire)"
    HUMANITARIAN_ORG = "humanitarian_org", "Humanitarian organization"


class AgreementSignatoryRole(models.TextChoices):
    GUARANTOR = "guarantor", "Guarantor"
    MONITOR = "monitor", "Monitoring state"
    OBSERVER = "observer", "Third-country observer"


class ObserverRole(models.TextChoices):
    OBSERVER = "observer", "Observer"
    COORDINATOR = "coordinator", "Coordinator"
    PARTNER = "partner", "Partner"
    ADMINISTRATOR = "administrator", "Administrator"


class AuditEntryAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    TRANSITION = "transition", "Status changed"
    ATTACH = "attach", "Attachment added"
    LINK = "link", "Linked"


class AuditEntrySource(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Management command"
    TASK = "task", "Celery task"
    SYSTEM = "system", "System"


class PartnerTokenScopes(models.TextChoices):
    """What a partner token may do; reading is always included."""

    READ = "read", "Read"
    READ_WRITE = "read write", "Read and write"


class ChangeRecordType(models.TextChoices):
    """The record types of the change feed (``/api/v1/changes/``): one per API resource."""

    REPORT = "report", "Report"
    SUMMARY = "summary", "Daily summary"
    ZONE = "zone", "Zone"
    SECURITY_AREA = "security_area", "Security area"
    EXCLUDED_AREA = "excluded_area", "Excluded area"
    POST = "post", "Post"
    SETTLEMENT = "settlement", "Settlement"
    PARTY = "party", "Party"
    AGREEMENT = "agreement", "Agreement"
    CENTER = "center", "Monitoring center"
