"""Map each format's sport vocabulary onto fitpipe's sports."""

from __future__ import annotations

SPORTS = ("run", "ride", "swim", "walk", "hike", "other")

# FIT sport (fitparse's names), GPX <type> and TCX Sport, lower-cased.
_SPORT_NAMES = {
    "run": {"running", "run", "trail_running", "treadmill", "virtualrun", "trailrun", "9"},
    "ride": {"cycling", "biking", "ride", "bike", "e_biking", "ebikeride", "virtualride",
             "mountainbikeride", "gravelride", "road_biking", "mountain_biking", "1"},
    "swim": {"swimming", "swim", "open_water_swimming", "lap_swimming"},
    "walk": {"walking", "walk", "10"},
    "hike": {"hiking", "hike", "4"},
}
# Strava's GPX export writes numeric types: 1 ride, 4 hike, 9 run, 10 walk.
_BY_NAME = {name: sport for sport, names in _SPORT_NAMES.items() for name in names}

# FIT sub_sports that say more than a generic sport does.
_SUB_SPORT_IMPLIES = {
    "indoor_cycling": "ride",
    "spin": "ride",
    "virtual_activity": None,
    "treadmill": "run",
    "indoor_running": "run",
    "lap_swimming": "swim",
    "open_water": "swim",
    "indoor_walking": "walk",
}


def canonical_sport(sport: str | None, sub_sport: str | None = None) -> str:
    """One of SPORTS, from a device's sport and sub-sport names."""
    name = (sport or "").strip().lower().replace(" ", "_")
    if name in _BY_NAME:
        return _BY_NAME[name]
    implied = _SUB_SPORT_IMPLIES.get((sub_sport or "").strip().lower())
    return implied or "other"
