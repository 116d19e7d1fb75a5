#!/usr/bin/python3
"""Draws the Grafana dashboard's panels from query_range results, in the dashboard's own grid.

Usage: /usr/bin/python3 plot-dashboard.py <panels.json> <out.png>

panels.json is written by `node tools/deploy/dist/main.js render` (tools/deploy/src/render.ts):
{"title": str, "subtitle": str, "panels": [{"title", "unit", "gridPos": {x, y, w, h},
"series": [{"name", "t": [unix s], "v": [float | null]}]}]}. Needs Debian python3-matplotlib.
"""
import json
import sys
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402

# Grafana unit id -> (scale, axis label), so the axes read like the dashboard's.
UNITS = {
    "reqps": (1.0, "req/s"),
    "percentunit": (100.0, "%"),
    "s": (1000.0, "ms"),
    "short": (1.0, ""),
}
MAX_LEGEND = 8


def main(source: str, target: str) -> None:
    with open(source, encoding="utf-8") as f:
        dashboard = json.load(f)
    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    height = rows * 0.55 + 1.2
    fig = plt.figure(figsize=(16, height))
    # Title band of 1.2 in at the top, the dashboard's 24-column grid below it.
    grid = GridSpec(rows, 24, figure=fig, hspace=2.2, wspace=1.2, top=1 - 1.2 / height, bottom=0.02)
    for panel in panels:
        pos = panel["gridPos"]
        ax = fig.add_subplot(grid[pos["y"] : pos["y"] + pos["h"] - 1, pos["x"] : pos["x"] + pos["w"] - 1])
        scale, label = UNITS.get(panel["unit"], (1.0, panel["unit"]))
        series = sorted(panel["series"], key=lambda s: s["name"])
        for s in series:
            times = [datetime.fromtimestamp(t, tz=timezone.utc) for t in s["t"]]
            values = [None if v is None else v * scale for v in s["v"]]
            ax.plot(times, values, linewidth=1.2, label=s["name"])
        ax.set_title(panel["title"], fontsize=10, loc="left")
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        if not series:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="red")
        elif len(series) <= MAX_LEGEND:
            ax.legend(fontsize=6, loc="upper left", frameon=False)
        else:
            ax.legend(fontsize=5, loc="upper left", frameon=False, ncol=2)
    fig.suptitle(f'{dashboard["title"]}\n{dashboard["subtitle"]}', fontsize=12, y=1 - 0.25 / height)
    fig.savefig(target, dpi=90, bbox_inches="tight")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
