"""Data structures shared by the simulator and the file writers.

Indices everywhere are sample indices into the 1 Hz internal stream, so
sample ``i`` is ``i`` seconds after the activity start.  Spans (laps,
sessions, lengths) are given by boundary samples ``start`` and ``end``; the
next span starts at the previous one's ``end``, so spans tile the activity
and their elapsed times add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from .plan import PlannedActivity


@dataclass
class Stream:
    """The internal 1 Hz signal of an activity."""

    distance_m: np.ndarray
    speed_mps: np.ndarray
    heart_rate: np.ndarray  # int bpm
    cadence: np.ndarray  # int; rpm (bike), strides/min (run), strokes/min (swim)
    temperature_c: np.ndarray  # int
    energy_kcal: np.ndarray  # energy spent during each second
    lat_deg: np.ndarray | None = None
    lon_deg: np.ndarray | None = None
    altitude_m: np.ndarray | None = None
    power_w: np.ndarray | None = None  # float, NaN where no power meter data

    def __len__(self) -> int:
        return len(self.distance_m)

    @property
    def has_position(self) -> bool:
        return self.lat_deg is not None

    def has_power_at(self, index: int) -> bool:
        return self.power_w is not None and not np.isnan(self.power_w[index])


def concatenate_streams(parts: list[Stream]) -> Stream:
    """Join legs of a multisport activity; distance keeps counting up."""
    offsets = np.cumsum([0.0] + [float(p.distance_m[-1]) for p in parts[:-1]])

    def join(name: str) -> np.ndarray | None:
        arrays = [getattr(p, name) for p in parts]
        if all(a is None for a in arrays):
            return None
        return np.concatenate(arrays)

    power_parts = [p.power_w if p.power_w is not None else np.full(len(p), np.nan) for p in parts]
    return Stream(
        distance_m=np.concatenate([p.distance_m + off for p, off in zip(parts, offsets)]),
        speed_mps=join("speed_mps"),
        heart_rate=join("heart_rate"),
        cadence=join("cadence"),
        temperature_c=join("temperature_c"),
        energy_kcal=join("energy_kcal"),
        lat_deg=join("lat_deg"),
        lon_deg=join("lon_deg"),
        altitude_m=join("altitude_m"),
        power_w=np.concatenate(power_parts),
    )


@dataclass
class Length:
    """One pool length (active) or a rest at the wall (idle)."""

    start: int
    end: int
    active: bool
    strokes: int = 0


@dataclass
class Lap:
    start: int
    end: int
    trigger: str  # FIT lap_trigger: distance, time, manual, session_end
    intensity: str = "active"  # FIT intensity: active or rest
    first_length: int | None = None  # pool swims: index into the session's lengths
    num_lengths: int = 0


@dataclass
class Session:
    sport: str  # FIT sport name: cycling, running, swimming, transition
    sub_sport: str  # FIT sub_sport name: road, generic, lap_swimming, open_water
    start: int
    end: int
    laps: list[Lap]
    lengths: list[Length] = field(default_factory=list)
    pool_length_m: float | None = None


@dataclass
class Pause:
    """Timer stopped at sample ``start`` and restarted at sample ``end``."""

    start: int
    end: int


@dataclass(frozen=True)
class Device:
    product: int  # FIT garmin_product id
    name: str
    serial_number: int
    software_version: float


@dataclass
class SimulatedActivity:
    plan: PlannedActivity
    start_utc: datetime
    stream: Stream
    sessions: list[Session]
    pauses: list[Pause]
    record_indices: np.ndarray
    device: Device

    @property
    def last_index(self) -> int:
        return len(self.stream) - 1

    def time_at(self, index: int) -> datetime:
        return self.start_utc + timedelta(seconds=int(index))

    @property
    def end_utc(self) -> datetime:
        return self.time_at(self.last_index)

    def running_mask(self) -> np.ndarray:
        """True where the timer runs (samples strictly inside a pause are not)."""
        mask = np.ones(len(self.stream), dtype=bool)
        for pause in self.pauses:
            mask[pause.start + 1 : pause.end] = False
        return mask
