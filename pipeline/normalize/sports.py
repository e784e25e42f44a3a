"""Map each format's sport vocabulary onto fitpipe's sports.

The file's own words are kept as `sport_raw`; `sport` is one of SPORTS, so that weekly totals
and BI filters need no per-device knowledge.
"""

from __future__ import annotations

SPORTS = ("run", "ride", "swim", "walk", "hike", "row", "paddle", "ski", "skate", "strength", "cardio",
          "yoga", "climb", "transition", "other")
# Transitions (the minutes between legs of a triathlon) are recorded but are not training:
# they stay in activities and out of weekly and daily totals.
NOT_TRAINING = ("transition",)

# FIT sport and sub-sport names (the FIT profile's, as fitparse and the Garmin FIT SDK give them),
# Strava's activity types (GPX <type>, activities.csv) and TCX Sport, lower-cased with spaces as _.
_SPORT_NAMES = {
    "run": {"running", "run", "trail_running", "treadmill", "virtualrun", "virtual_run", "trailrun",
            "indoor_running", "track", "street", "wheelchair_push_run"},
    "ride": {"cycling", "biking", "ride", "bike", "e_biking", "ebikeride", "emountainbikeride", "virtualride",
             "virtual_ride", "mountainbikeride", "gravelride", "road_biking", "mountain_biking", "handcycle",
             "velomobile", "indoor_cycling", "spin", "gravel_cycling", "e_bike_mountain", "e_bike_fitness",
             "cyclocross", "track_cycling", "hand_cycling", "indoor_hand_cycling", "recumbent", "bmx"},
    "swim": {"swimming", "swim", "open_water_swimming", "lap_swimming", "open_water", "openwaterswim"},
    "walk": {"walking", "walk", "indoor_walking", "casual_walking", "speed_walking", "wheelchair_push_walk",
             "wheelchair"},
    "hike": {"hiking", "hike", "mountaineering", "snowshoeing", "snowshoe", "rucking"},
    "row": {"rowing", "indoor_rowing", "virtualrow", "virtual_row"},
    "paddle": {"paddling", "stand_up_paddleboarding", "standuppaddling", "kayaking", "canoeing", "rafting",
               "whitewater"},
    "ski": {"cross_country_skiing", "alpine_skiing", "snowboarding", "nordicski", "alpineski", "backcountryski",
            "rollerski", "snowboard", "skate_skiing", "backcountry", "resort", "indoor_skiing"},
    "skate": {"inline_skating", "ice_skating", "inlineskate", "iceskate", "skateboard"},
    "strength": {"strength_training", "weighttraining", "weight_training", "crossfit"},
    "cardio": {"cardio_training", "elliptical", "stair_climbing", "stairstepper", "hiit",
               "highintensityintervaltraining", "amrap", "emom", "tabata", "jump_rope"},
    "yoga": {"yoga", "pilates"},
    "climb": {"rock_climbing", "rockclimbing", "floor_climbing", "indoor_climbing", "bouldering"},
    "transition": {"transition", "bike_to_run_transition", "run_to_bike_transition", "swim_to_bike_transition"},
}
_BY_NAME = {name: sport for sport, names in _SPORT_NAMES.items() for name in names}
# Sport names that say little: the sub-sport decides (training + strength_training is strength).
_GENERIC = {"", "generic", "training", "fitness_equipment", "multisport", "all", "other", "workout"}
# Strava's GPX export writes its activity type as a number: <type>9</type> on a "Morning Run",
# <type>1</type> on a ride (seen in Strava exports: tapiriik issue #574, erik/derive issue #65,
# and this project's issue 18); 4 (hike) and 10 (walk) were seen in exports the same way.
# Strava does not publish the list, so other numbers stay `other`, with the number in sport_raw.
_STRAVA_GPX_NUMBERS = {"1": "ride", "4": "hike", "9": "run", "10": "walk"}


def canonical_sport(sport: str | None, sub_sport: str | None = None, fmt: str | None = None) -> str:
    """One of SPORTS, from a file's sport and sub-sport names (`fmt`: the file's format, which
    decides what a number means)."""
    name = _key(sport)
    if fmt == "gpx" and name in _STRAVA_GPX_NUMBERS:
        return _STRAVA_GPX_NUMBERS[name]
    sub = _key(sub_sport)
    if sub in _SPORT_NAMES["transition"]:
        return "transition"
    if name in _BY_NAME and name not in _GENERIC:
        return _BY_NAME[name]
    return _BY_NAME.get(sub, "other")


def raw_sport(sport: str | None, sub_sport: str | None) -> str | None:
    """The file's own sport words: `sport`, or `sport/sub_sport` when the sub-sport says more."""
    sport, sub_sport = (sport or "").strip() or None, (sub_sport or "").strip() or None
    if sub_sport in (None, "generic"):
        return sport
    return f"{sport or 'generic'}/{sub_sport}"


def _key(name: str | None) -> str:
    return (name or "").strip().lower().replace(" ", "_").replace("-", "_")
