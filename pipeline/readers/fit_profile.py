"""Names for FIT enum values that fitparse's profile (FIT SDK 20) leaves as bare numbers.

Garmin keeps adding sports, sub-sports and products; the Garmin FIT SDK's own profile
(garmin-fit-sdk, Garmin's Python SDK) knows the newer ones, such as sport 88 (canoeing).
It is imported on first need: most files name everything with fitparse's profile alone.
"""

from __future__ import annotations

from functools import lru_cache


def enum_name(type_name: str, value) -> str | None:
    """`value` as the FIT profile names it: a name stays, a number gets its newer name if the
    SDK's profile has one, else stays a number (as text)."""
    if value is None:
        return None
    if isinstance(value, str) and not value.strip().isdigit():
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        return str(value)
    return _profile_types().get(type_name, {}).get(number, str(number))


@lru_cache(maxsize=1)
def _profile_types() -> dict:
    from garmin_fit_sdk import Profile

    return Profile["types"]
