"""Small text renderings shared by the views: sparklines, bars and coloured states.

Plain functions returning rich Text, so they are deterministic in snapshots and cheap in tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from rich.text import Text

SPARKS = "▁▂▃▄▅▆▇█"
STATE_STYLES = {"OK": "green", "WARN": "yellow", "CRIT": "bold red", "UNKNOWN": "magenta", "-": "dim"}


def sparkline(values: Iterable[float], width: int = 20) -> Text:
    points = [v for v in values if not math.isnan(v)][-width:]
    if not points:
        return Text("", style="dim")
    low, high = min(points), max(points)
    span = high - low
    chars = [
        SPARKS[0 if span == 0 else min(len(SPARKS) - 1, int((v - low) / span * (len(SPARKS) - 1)))] for v in points
    ]
    return Text("".join(chars), style="cyan")


def state(value: str) -> Text:
    return Text(value, style=STATE_STYLES.get(value, ""))


def bar(value: float | None, warn: float, crit: float, width: int = 24) -> Text:
    """A horizontal bar scaled so the CRIT threshold sits at two thirds of the width."""
    if value is None or math.isnan(value):
        return Text("no data", style="dim")
    scale = crit * 1.5 if crit > 0 else 1.0
    filled = max(0, min(width, round(value / scale * width)))
    style = "bold red" if value >= crit else "yellow" if value >= warn else "green"
    return Text("█" * filled + "·" * (width - filled), style=style)


def rate(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def metrics_summary(metrics: dict[str, float], names: Sequence[str] = (), limit: int = 3) -> str:
    chosen = [n for n in names if n in metrics] or list(metrics)  # records keep the spec's order: primary first
    return "  ".join(f"{n} {metrics[n]:.3f}" for n in chosen[:limit])


def quantity(metric: str, value: float | None) -> str:
    """A live value with its unit: milliseconds, a share, cores, bytes or a rate."""
    if value is None or math.isnan(value):
        return "-"
    if metric.endswith("_ms"):
        return f"{value:.1f} ms"
    if metric == "error_rate":
        return f"{value:.1%}"
    if metric == "cpu_cores":
        return f"{value:.2f} cores"
    if metric.endswith("_bytes"):
        return f"{value / 2**20:.0f} MiB"
    return rate(value) + "/s"
