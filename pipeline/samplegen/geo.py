"""Routes on the ground: positions along a path and a smooth hilly terrain.

A route is built on a fine distance grid (every 5 m) by walking with a
slowly turning heading.  Latitude/longitude are integrated step by step on
the sphere, so the great-circle distance between neighbouring grid points is
the grid step; points interpolated at a cumulative distance therefore stay
consistent with the ``distance`` field written to the files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_M = 6_371_000.0

#: The athlete's home in Ljubljana; rides and runs start near here.
HOME_LAT, HOME_LON = 46.0511, 14.5051
#: A small lake ~13 km north-west of home (think Zbiljsko jezero) for
#: open-water swims; its surface lies at the terrain height there.
LAKE_LAT, LAKE_LON = 46.1443, 14.4036

PATH_STEP_M = 5.0

#: Terrain = base height + a few plane waves (amplitude m, wavelength m,
#: direction deg, phase rad).  Fixed, so every route crosses the same hills.
#: Rolling terrain: grades mostly within +-2 %, ~4-5 m of climbing per km,
#: which keeps endurance-power cycling speeds within 6-12 m/s.
TERRAIN_BASE_M = 305.0
TERRAIN_WAVES = (
    (20.0, 11_000.0, 20.0, 0.4),
    (7.0, 4_300.0, 115.0, 1.9),
    (2.5, 1_700.0, 65.0, 4.1),
    (1.0, 700.0, 160.0, 2.6),
)


def terrain_altitude_m(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Smooth terrain height at the given coordinates."""
    north_m = np.radians(lat_deg - HOME_LAT) * EARTH_RADIUS_M
    east_m = np.radians(lon_deg - HOME_LON) * EARTH_RADIUS_M * math.cos(math.radians(HOME_LAT))
    height = np.full(np.shape(lat_deg), TERRAIN_BASE_M)
    for amplitude, wavelength, direction_deg, phase in TERRAIN_WAVES:
        direction = math.radians(direction_deg)
        along = east_m * math.cos(direction) + north_m * math.sin(direction)
        height = height + amplitude * np.sin(2 * math.pi * along / wavelength + phase)
    return height


@dataclass
class Path:
    """A route sampled every PATH_STEP_M metres of distance."""

    distance_m: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    altitude_m: np.ndarray
    grade: np.ndarray  # rise over run, per grid point

    def grade_at(self, distance_m: float) -> float:
        """Grade at a distance; called once per simulated second, so kept cheap."""
        index = min(int(distance_m / PATH_STEP_M), len(self.grade) - 1)
        return float(self.grade[index])

    def sample(self, distance_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latitude, longitude and altitude at the given cumulative distances."""
        return (
            np.interp(distance_m, self.distance_m, self.lat_deg),
            np.interp(distance_m, self.distance_m, self.lon_deg),
            np.interp(distance_m, self.distance_m, self.altitude_m),
        )

    @property
    def end(self) -> tuple[float, float]:
        return float(self.lat_deg[-1]), float(self.lon_deg[-1])


def build_path(
    rng: np.random.Generator,
    start_lat: float,
    start_lon: float,
    length_m: float,
    loop_length_m: float,
    wiggle_rad: float = 0.5,
    fixed_altitude_m: float | None = None,
) -> Path:
    """A roughly circular route of *loop_length_m* circumference.

    The heading turns steadily (one full turn per loop, so the route comes
    back near its start) plus a few random wiggles that look like roads.
    *length_m* should exceed the distance that will actually be covered.
    """
    steps = int(math.ceil(length_m / PATH_STEP_M)) + 1
    distance = np.arange(steps) * PATH_STEP_M
    turn_direction = 1.0 if rng.random() < 0.5 else -1.0
    heading = rng.uniform(0, 2 * math.pi) + turn_direction * 2 * math.pi * distance / loop_length_m
    for wavelength in rng.uniform(400, 3000, size=3):
        heading = heading + wiggle_rad * rng.uniform(0.3, 1.0) * np.sin(
            2 * math.pi * distance / wavelength + rng.uniform(0, 2 * math.pi)
        )

    # Integrate on the sphere: latitude first, then longitude with the local
    # meridian convergence, so each 5 m step really is 5 m long.
    step_rad = PATH_STEP_M / EARTH_RADIUS_M
    lat_rad = math.radians(start_lat) + np.concatenate(([0.0], np.cumsum(step_rad * np.cos(heading[:-1]))))
    lon_steps = step_rad * np.sin(heading[:-1]) / np.cos(lat_rad[:-1])
    lon_rad = math.radians(start_lon) + np.concatenate(([0.0], np.cumsum(lon_steps)))
    lat_deg, lon_deg = np.degrees(lat_rad), np.degrees(lon_rad)

    if fixed_altitude_m is None:
        altitude = terrain_altitude_m(lat_deg, lon_deg)
    else:
        altitude = np.full(steps, fixed_altitude_m)
    grade = np.gradient(altitude, PATH_STEP_M)
    return Path(distance, lat_deg, lon_deg, altitude, grade)


def semicircles(degrees: float) -> int:
    """FIT stores positions as semicircles: 2^31 per 180 degrees."""
    return int(round(degrees * (2**31) / 180.0))
