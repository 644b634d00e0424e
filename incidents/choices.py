from django.db import models


class ReportKind(models.TextChoices):
    VIOLATION = "violation", "Ceasefire violation"
    CONVOY = "convoy", "Humanitarian convoy"
    CHECKPOINT = "checkpoint", "Checkpoint report"


class ReportStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    RETURNED = "returned", "Returned for revision"
    VERIFIED = "verified", "Verified"
    DISPUTED = "disputed", "Disputed"
    REJECTED = "rejected", "Rejected"
    RETRACTED = "retracted", "Retracted"


class ReportPlacePrecision(models.TextChoices):
    """How exactly the location is known (as ACLED's geo_precision)."""

    EXACT = "exact", "Exact point"
    SETTLEMENT = "settlement", "Settlement"
    DISTRICT = "district", "District"
    GOVERNORATE = "governorate", "Governorate"


class ReportTimePrecision(models.TextChoices):
    EXACT = "exact", "Exact time"
    HOUR = "hour", "Within the hour"
    PART_OF_DAY = "part_of_day", "Part of the day"
    DAY = "day", "Day"


class ReportSource(models.TextChoices):
    """How the observer knows (the OSCE mission told heard from seen)."""

    SEEN = "seen", "Seen"
    HEARD = "heard", "Heard"
    CAMERA = "camera", "Camera"
    HOTLINE = "hotline", "Reported by a party through the hotline"
    PARTNER = "partner", "Partner organization"
    MEDIA = "media", "Media"


class ReportConfidence(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class ViolationCategory(models.TextChoices):
    SHELLING = "shelling", "Artillery or mortar shelling"
    ROCKETS = "rockets", "Rockets"
    SMALL_ARMS = "small_arms", "Small arms or sniper fire"
    AIR_STRIKE = "air_strike", "Air strike"
    MILITARY_FLIGHT = "military_flight", "Military flight over a zone (banned since 6 May 2017)"
    GROUND_ASSAULT = "ground_assault", "Ground assault"
    EXPLOSION = "explosion", "Explosion or IED"
    DRONE = "drone", "Drone"
    DETENTION = "detention", "Detention or abduction"
    OTHER = "other", "Other"


class ConvoyOperation(models.TextChoices):
    ROAD_CONVOY = "road_convoy", "Road convoy"
    CROSS_LINE = "cross_line", "Cross-line delivery"
    AIRDROP = "airdrop", "Airdrop"


class ConvoyStatus(models.TextChoices):
    NOTIFIED = "notified", "Notified"
    CLEARED = "cleared", "Cleared"
    EN_ROUTE = "en_route", "En route"
    DELIVERED = "delivered", "Delivered"
    PARTIALLY_DELIVERED = "partially_delivered", "Partially delivered"
    BLOCKED = "blocked", "Blocked or denied"
    CANCELLED = "cancelled", "Cancelled"


class CargoCategory(models.TextChoices):
    FOOD = "food", "Food"
    MEDICINE = "medicine", "Medicine"
    NON_FOOD = "non_food", "Non-food items"
    WATER = "water", "Water"
    FUEL = "fuel", "Fuel"
    SHELTER = "shelter", "Shelter"


class CargoUnit(models.TextChoices):
    TONNES = "tonnes", "tonnes"
    KITS = "kits", "kits"
    LITRES = "litres", "litres"


class CheckpointStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESTRICTED = "restricted", "Restricted"
    CLOSED = "closed", "Closed"


class AccessIncidentKind(models.TextChoices):
    DENIAL = "denial", "Denial of passage"
    DETENTION = "detention", "Detention"
    HARASSMENT = "harassment", "Harassment"
    DELAY = "delay", "Delay"


class SummaryVersionStatus(models.TextChoices):
    """A compiled version of a daily summary: a draft until a coordinator publishes it;
    a draft replaced by a newer compilation before publication is kept as superseded."""

    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    SUPERSEDED = "superseded", "Superseded draft"
