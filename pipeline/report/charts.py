"""The report's charts: matplotlib figures drawn off-screen (Agg) and returned as PNG bytes.

Figures are made with matplotlib.figure.Figure, not pyplot, so no global figure state or
display is involved. Every function takes ready-made frames; sections.py prepares them.
"""

from __future__ import annotations

import io

import matplotlib.dates as mdates
import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

SPORT_COLORS = {"ride": "#2f6db5", "run": "#d1495b", "swim": "#1aa7b8", "walk": "#6a994e", "hike": "#8c6d46",
                "row": "#7b5ea7", "paddle": "#2a9d8f", "ski": "#5fa8d3", "skate": "#e9c46a", "strength": "#6d597a",
                "cardio": "#e76f51", "yoga": "#b5838d", "climb": "#a0522d", "other": "#8d8d8d"}
ZONE_COLORS = ("#a6cee3", "#8fd175", "#f7d046", "#f5934a", "#d7301f")
LOAD_COLORS = {"tss": "#c4c4c4", "ctl": "#2f6db5", "atl": "#c2185b", "tsb": "#f09a1c"}
WIDTH_IN, DPI = 10.0, 100


def sport_color(sport: str) -> str:
    return SPORT_COLORS.get(sport, SPORT_COLORS["other"])


def _figure(rows: int = 1, cols: int = 1, height: float = 3.6, bottom: float = 0.1, top: float = 0.9,
            hspace: float = 0.3, wspace: float = 0.08, **kwargs) -> tuple[Figure, np.ndarray]:
    # Fixed margins rather than a layout engine, which would draw every figure twice.
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    figure.subplots_adjust(left=0.075, right=0.985, bottom=bottom, top=top, hspace=hspace, wspace=wspace)
    return figure, figure.subplots(rows, cols, squeeze=False, **kwargs)


def _bars(ax, days: list, heights: np.ndarray, bottoms: np.ndarray, width_days: float, color: str,
          offset_days: float = 0.0) -> None:
    """Date bars as one collection: hundreds of separate bar patches would dominate the render time."""
    left = mdates.date2num(days) + offset_days
    heights, bottoms = np.nan_to_num(heights), np.nan_to_num(bottoms)
    top = bottoms + heights
    corners = np.stack([np.column_stack([left, bottoms]), np.column_stack([left + width_days, bottoms]),
                        np.column_stack([left + width_days, top]), np.column_stack([left, top])], axis=1)
    ax.add_collection(PolyCollection(corners, facecolors=color, edgecolors="none"), autolim=True)
    ax.xaxis_date()
    ax.autoscale_view()


def _date_ticks(ax, max_ticks: int = 8) -> None:
    """At most `max_ticks` date ticks, labelled without repeating the year on every one, so that
    labels never collide, whether the axis spans a month or twelve years."""
    locator = mdates.AutoDateLocator(minticks=2, maxticks=max_ticks)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(axis="x", labelsize=8)


def _month_ticks(ax, first_month, last_month, max_ticks: int) -> None:
    """Ticks on whole months, at most `max_ticks` of them (every k-th month), labelled concisely."""
    months = (last_month.year - first_month.year) * 12 + last_month.month - first_month.month + 1
    step = -(-months // max_ticks)
    locator = mdates.MonthLocator(interval=step) if step < 12 else mdates.YearLocator(base=-(-step // 12))
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    ax.tick_params(axis="x", labelsize=8)


def _legend(ax, labels_colors: list[tuple[str, str]], **kwargs) -> None:
    ax.legend(handles=[Patch(color=color, label=label) for label, color in labels_colors], frameon=False, **kwargs)


def png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # No metadata: the same data gives the same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def weekly_time(wide: pl.DataFrame, sports: list[str], shares: dict[str, float]) -> bytes:
    """Stacked weekly moving hours per sport; `wide` has week_start and one column per sport."""
    figure, axes = _figure()
    ax = axes[0, 0]
    bottom = np.zeros(wide.height)
    for sport in sports:
        hours = wide[sport].to_numpy() / 3600
        _bars(ax, wide["week_start"].to_list(), hours, bottom, 5.5, sport_color(sport))
        bottom += hours
    ax.set_ylim(0, max(bottom.max(), 1) * 1.25)  # room for the legend
    ax.set_ylabel("moving time (h)")
    _date_ticks(ax)
    _legend(ax, [(f"{s} {shares[s]:.0%}", sport_color(s)) for s in sports], loc="upper left", ncols=len(sports),
            title="share of moving time")
    ax.grid(axis="y", alpha=0.3)
    return png(figure)


def weekly_distance(wide_km: pl.DataFrame, change_km: pl.DataFrame, sports: list[str]) -> bytes:
    """Weekly distance per sport (lines) above its week-over-week change (bars)."""
    figure, axes = _figure(2, 1, height=5.4, bottom=0.07, top=0.92, hspace=0.22, sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    weeks = wide_km["week_start"].to_list()
    width = 6 / max(len(sports), 1)
    for i, sport in enumerate(sports):
        top.plot(weeks, wide_km[sport].to_numpy(), marker="o", markersize=3, color=sport_color(sport), label=sport)
        _bars(bottom, weeks, change_km[sport].to_numpy(), np.zeros(len(weeks)), width, sport_color(sport), i * width)
    top.set_ylabel("distance (km)")
    top.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(sports), frameon=False, borderaxespad=0.2)
    bottom.set_ylabel("change (km)")
    bottom.set_title("change from the week before", fontsize=9, loc="left")
    bottom.axhline(0, color="#555555", linewidth=0.8)
    _date_ticks(bottom)
    for ax in (top, bottom):
        ax.grid(axis="y", alpha=0.3)
    return png(figure)


def training_load(daily: pl.DataFrame) -> bytes:
    """Daily TSS bars with fitness (CTL), fatigue (ATL) and form (TSB) lines."""
    figure, axes = _figure(height=3.8, top=0.88)
    ax = axes[0, 0]
    days = daily["date"].to_list()
    ax.fill_between(days, daily["tss"].to_numpy(), step="mid", color=LOAD_COLORS["tss"], label="daily load (TSS)",
                    linewidth=0)
    for column, name in (("ctl", "fitness (CTL)"), ("atl", "fatigue (ATL)"), ("tsb", "form (TSB)")):
        ax.plot(days, daily[column].to_numpy(), color=LOAD_COLORS[column], linewidth=1.6, label=name)
    ax.axhline(0, color="#555555", linewidth=0.8)
    ax.set_ylabel("TSS per day")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, frameon=False, borderaxespad=0.2)
    _date_ticks(ax)
    ax.grid(axis="y", alpha=0.3)
    return png(figure)


def zones_by_month(monthly: pl.DataFrame, sports: list[str], first_month, last_month) -> bytes:
    """Stacked monthly hours in HR zones 1-5, one panel per sport, every panel over the same months
    (`first_month` to `last_month`), so that a sport done in one month is one bar among empty ones."""
    figure, axes = _figure(1, len(sports), height=3.4, bottom=0.16, top=0.82, sharey=True)
    span = (mdates.date2num(first_month), mdates.date2num(last_month) + 31)
    for ax, sport in zip(axes[0], sports):
        part = monthly.filter(pl.col("sport") == sport).sort("month")
        bottom = np.zeros(part.height)
        for k, color in enumerate(ZONE_COLORS, start=1):
            hours = part[f"hr_zone{k}_s"].to_numpy() / 3600
            _bars(ax, part["month"].to_list(), hours, bottom, 24, color, 3)
            bottom += hours
        ax.set_title(sport, fontsize=10)
        ax.set_xlim(*span)
        _month_ticks(ax, first_month, last_month, max_ticks=max(2, 8 // len(sports)))
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("hours")
    _legend(figure, [(f"zone {k}", c) for k, c in enumerate(ZONE_COLORS, start=1)], loc="upper center", ncols=5,
            fontsize=8)
    return png(figure)


def efficiency(rides: pl.DataFrame, ef_label: str, runs: pl.DataFrame, band_label: str) -> bytes:
    """Ride EF per ride and run pace in the HR band per run, each with its rolling trend.

    Both frames have start_time_local, value and trend."""
    figure, axes = _figure(2, 1, height=5.8, bottom=0.06, top=0.9, hspace=0.36)
    _dots_and_trend(axes[0, 0], rides, sport_color("ride"), f"ride efficiency factor: {ef_label}",
                    "no rides with heart rate")
    _dots_and_trend(axes[1, 0], runs, sport_color("run"), f"run pace with heart rate {band_label}",
                    "no run has 5 min of moving time in this heart-rate band")
    # One legend for both panels, above them: inside a panel it would hide points.
    figure.legend(handles=[
        Line2D([], [], marker="o", linestyle="none", color="#777777", alpha=0.7, markersize=4, label="one activity"),
        Line2D([], [], color="#222222", linewidth=1.8, label="trend: 42-day rolling mean, broken at longer gaps"),
    ], loc="upper right", ncols=2, fontsize=8, frameon=False, bbox_to_anchor=(0.985, 1.0))
    _pace_axis(axes[1, 0], "min/km")
    return png(figure)


def _dots_and_trend(ax, frame: pl.DataFrame, color: str, title: str, empty: str) -> None:
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(alpha=0.3)
    if frame.is_empty():
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, color="#666666")
        return
    times = frame["start_time_local"].to_list()
    ax.scatter(times, frame["value"].to_numpy(), s=12, color=color, alpha=0.55)
    line_times, line_values = _broken_at_gaps(frame)
    ax.plot(line_times, line_values, color="#222222", linewidth=1.8)
    _date_ticks(ax)


def _broken_at_gaps(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The trend line's points with a break (NaN) before each gap the trend does not span."""
    times = mdates.date2num(frame["start_time_local"].to_list())
    values = frame["trend"].to_numpy().astype(float)
    gaps = np.flatnonzero(frame["gap_before"].to_numpy())
    return np.insert(times, gaps, np.nan), np.insert(values, gaps, np.nan)


def crosstrain_scatter(pairs: list[tuple[dict, pl.DataFrame]], ef_axis: str) -> bytes:
    """One scatter per lag: weekly running hours against the ride EF that many weeks later."""
    figure, axes = _figure(1, len(pairs), height=3.3, bottom=0.15, top=0.84, sharey=True)
    for ax, (row, frame) in zip(axes[0], pairs):
        x, y = frame["running_s"].to_numpy() / 3600, frame["ride_ef_later"].to_numpy()
        ax.scatter(x, y, s=16, color=sport_color("ride"), alpha=0.7)
        if row["r"] is not None:
            slope, intercept = np.polyfit(x, y, 1)
            ends = np.array([x.min(), x.max()])
            ax.plot(ends, slope * ends + intercept, color="#222222", linewidth=1.2)
        ax.set_title(_scatter_title(row), fontsize=8.5)
        ax.set_xlabel("running (h/week)")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(ef_axis)
    return png(figure)


def _scatter_title(row: dict) -> str:
    head = f"lag {row['lag_weeks']} wk, n = {row['n_weeks']}"
    if row["r"] is None:
        return f"{head}\nno r"
    interval = "no CI" if row["ci_low"] is None else f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
    return f"{head}\nr = {row['r']:.2f} {interval}"


def _pace_axis(ax, per: str) -> None:
    """Seconds on the y axis shown as m:ss, faster (smaller) up: faster is better."""
    ax.invert_yaxis()
    ax.yaxis.set_major_formatter(FuncFormatter(lambda s, _: f"{int(s // 60)}:{int(s % 60):02d}"))
    ax.set_ylabel(per)


def power_duration(all_time: pl.DataFrame, recent: pl.DataFrame, model: tuple[float, float] | None) -> bytes:
    """Mean-maximal power over all time and the last 90 days (duration_s, value), on a log time
    axis, with the critical-power model P = CP + W′/t over the 2-20 min it is fitted to."""
    figure, axes = _figure(height=3.8, bottom=0.14, top=0.88)
    ax = axes[0, 0]
    for frame, label, color in ((all_time, "all time", "#9bb7dc"), (recent, "last 90 days", sport_color("ride"))):
        if not frame.is_empty():
            ax.plot(frame["duration_s"].to_numpy(), frame["value"].to_numpy(), color=color, linewidth=2,
                    marker="o", markersize=3, label=label)
    if model is not None:
        cp, w_prime = model
        t = np.geomspace(120, 1200, 40)
        ax.plot(t, cp + w_prime / t, color="#222222", linestyle="--", linewidth=1.2,
                label=f"CP {cp:.0f} W + W′ {w_prime / 1000:.1f} kJ / t")
        ax.axhline(cp, color="#222222", linewidth=0.8, alpha=0.5)
    ax.set_xscale("log")
    ticks = [1, 5, 15, 60, 300, 1200, 3600, 3 * 3600]
    ax.set_xticks(ticks, ["1 s", "5 s", "15 s", "1 min", "5 min", "20 min", "1 h", "3 h"])
    ax.set_xlim(1, max(ticks[-1], all_time["duration_s"].max() or 1))
    ax.set_xlabel("duration (log scale)")
    ax.set_ylabel("best average power (W)")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, frameon=False, borderaxespad=0.2, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    return png(figure)


def best_efforts(runs: pl.DataFrame, css: pl.DataFrame) -> bytes:
    """Run best efforts over time (start_time_local, distance_m, pace_s_per_km, best_so_far) and
    the critical swim speed in force (date, pace_s_per_100m)."""
    figure, axes = _figure(2, 1, height=5.6, bottom=0.07, top=0.9, hspace=0.4)
    top, bottom = axes[0, 0], axes[1, 0]
    top.set_title("run best efforts: each run's best (dots) and the best so far (line)", fontsize=10, loc="left")
    shades = {1000.0: "#f08a9a", 5000.0: "#d1495b", 10000.0: "#7a1e2c"}
    for distance, color in shades.items():
        part = runs.filter(pl.col("distance_m") == distance).sort("start_time_local")
        if part.is_empty():
            continue
        times = part["start_time_local"].to_list()
        top.scatter(times, part["pace_s_per_km"].to_numpy(), s=10, color=color, alpha=0.5)
        top.step(times, part["best_so_far"].to_numpy(), where="post", color=color, linewidth=1.8,
                 label=f"{distance / 1000:g} km")
    if runs.is_empty():
        top.text(0.5, 0.5, "no runs with a distance stream", ha="center", va="center", transform=top.transAxes,
                 color="#666666")
    else:
        top.legend(loc="upper left", ncols=3, fontsize=8, frameon=False)
        _date_ticks(top)
    _pace_axis(top, "min/km")
    top.grid(alpha=0.3)
    bottom.set_title("critical swim speed in force, as pace: (400 − 200) / (t400 − t200)", fontsize=10, loc="left")
    if css.is_empty():
        bottom.text(0.5, 0.5, "no 200 m and 400 m swim bests yet", ha="center", va="center",
                    transform=bottom.transAxes, color="#666666")
    else:
        bottom.step(css["date"].to_list(), css["pace_s_per_100m"].to_numpy(), where="post",
                    color=sport_color("swim"), linewidth=1.8)
        _date_ticks(bottom)
    _pace_axis(bottom, "min/100 m")
    bottom.grid(alpha=0.3)
    return png(figure)


THRESHOLD_PANELS = (
    ("power", "W", {"ftp_w": ("FTP", sport_color("ride"))}),
    ("heart rate", "bpm", {"max_hr_bpm": ("max HR", "#555555"), "lthr_ride_bpm": ("LTHR ride", sport_color("ride")),
                           "lthr_run_bpm": ("LTHR run", sport_color("run"))}),
    ("threshold run pace", "min/km", {"threshold_run_pace_s_per_km": ("threshold pace", sport_color("run"))}),
)


def _at_least_a_tenth(ax) -> None:
    """Widen the y axis to at least ±5 % around its middle."""
    low, high = ax.get_ylim()
    middle, half = (low + high) / 2, max((high - low) / 2, abs(low + high) / 2 * 0.05)
    ax.set_ylim(middle - half, middle + half)


def thresholds(table: pl.DataFrame) -> bytes:
    """Each threshold in force over time (date, threshold, value, source): a line per threshold,
    filled dots where estimated, open squares where configured."""
    figure, axes = _figure(1, 3, height=3.4, bottom=0.17, top=0.8, wspace=0.32)
    for ax, (title, unit, names) in zip(axes[0], THRESHOLD_PANELS):
        ax.set_title(title, fontsize=10)
        for name, (label, color) in names.items():
            part = table.filter(pl.col("threshold") == name).sort("date")
            if part.is_empty():
                continue
            days = part["date"].to_list()
            ax.step(days, part["value"].to_numpy(), where="post", color=color, linewidth=1.6, label=label)
            for source, marker, fill in (("estimated", "o", color), ("configured", "s", "none")):
                chosen = part.filter(pl.col("source") == source)
                ax.scatter(chosen["date"].to_list(), chosen["value"].to_numpy(), s=12, marker=marker,
                           facecolors=fill, edgecolors=color, zorder=3)
        _at_least_a_tenth(ax)  # a change of 1 W must not fill the panel
        if unit == "min/km":
            _pace_axis(ax, unit)
        else:
            ax.set_ylabel(unit)
        if ax.has_data():
            ax.legend(loc="best", fontsize=7, frameon=False)
            _date_ticks(ax, max_ticks=4)
        else:
            ax.text(0.5, 0.5, "none yet", ha="center", va="center", transform=ax.transAxes, color="#666666")
        ax.grid(alpha=0.3)
    figure.legend(handles=[
        Line2D([], [], marker="o", linestyle="none", color="#555555", markersize=4, label="estimated"),
        Line2D([], [], marker="s", linestyle="none", markerfacecolor="none", color="#555555", markersize=4,
               label="configured"),
    ], loc="upper right", ncols=2, fontsize=8, frameon=False)
    return png(figure)
