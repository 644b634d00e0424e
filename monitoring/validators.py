"""Validators shared by the monitoring models."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,48}$",
    "Use lowercase letters, digits and hyphens (at most 49 characters).",
)
center_code_validator = RegexValidator(
    r"^[A-Z]{2,6}$", "Use 2 to 6 capital letters; the code starts every reference number."
)


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. Asia/Damascus).")
    try:
        ZoneInfo(value)
    except ZoneInfoNotFoundError as exc:  # pragma: no cover - tzdata mismatch
        raise ValidationError(f"{value!r} cannot be loaded.") from exc
