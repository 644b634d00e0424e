from django.db import models


class Governorate(models.TextChoices):
    ALEPPO = "aleppo", "Aleppo"
    DAMASCUS = "damascus", "Damascus"
    DARAA = "daraa", "Daraa"
    DEIR_EZ_ZOR = "deir-ez-zor", "Deir ez-Zor"
    HAMA = "hama", "Hama"
    HASAKAH = "hasakah", "Al-Hasakah"
    HOMS = "homs", "Homs"
    IDLIB = "idlib", "Idlib"
    LATAKIA = "latakia", "Latakia"
    QUNEITRA = "quneitra", "Quneitra"
    RAQQA = "raqqa", "Raqqa"
    RIF_DIMASHQ = "rif-dimashq", "Rif Dimashq"
    SWEIDA = "sweida", "As-Suwayda (Sweida)"
    TARTUS = "tartus", "Tartus"


class ZoneStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    EXPIRED = "expired", "Expired"


class ZoneTermKind(models.TextChoices):
    INITIAL = "initial", "Initial term"
    EXTENSION = "extension", "Extension"


class SecurityAreaDerivation(models.TextChoices):
    DRAWN = "drawn", "Drawn by the joint working group"
    BUFFERED = "buffered", "Derived: the zone border buffered by a width"


class PostKind(models.TextChoices):
    OBSERVATION_POST = "observation_post", "Observation post"
    CHECKPOINT = "checkpoint", "Checkpoint"


class PostStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    OPERATING = "operating", "Operating"
    SUSPENDED = "suspended", "Suspended"
    CLOSED = "closed", "Closed"


class SettlementReconciliationStatus(models.TextChoices):
    NONE = "none", "Not in reconciliation"
    NEGOTIATING = "negotiating", "Negotiating"
    JOINED = "joined", "Joined reconciliation"
    WITHDRAWN = "withdrawn", "Withdrew"
