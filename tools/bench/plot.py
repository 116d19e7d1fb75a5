#!/usr/bin/python3
"""Plots of tools/bench results (matplotlib): usage `plot.py results.json out_dir`.

Prints the path of each PNG it writes, one per line. Run by `npm run bench` with Debian's
/usr/bin/python3 and python3-matplotlib.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

PATTERN = "#1f77b4"
BARE = "#999999"


def save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(path)


def ratios(results, out_dir):
    # Rates only (higher is better), so every bar reads the same way against the 0.85 line.
    rows = [r for r in results["summary"] if r.get("ratio") is not None and r.get("baseline") is not None and r["unit"].endswith("/s") and r["scenario"] != "channel reuse"]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.4))
    labels = [f'{r["scenario"]}: {r["metric"]}' for r in rows]
    values = [r["ratio"] for r in rows]
    colors = []
    for r in rows:
        target = r.get("target")
        colors.append(PATTERN if target is None else ("#2ca02c" if target["met"] else "#d62728"))
    ax.barh(labels, values, color=colors)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.axvline(0.85, color="#d62728", linestyle="--", linewidth=0.8)
    ax.text(0.85, len(values) - 0.55, "target 0.85 ", color="#d62728", ha="right", va="bottom", fontsize=8)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("pattern / bare grpc-js, same run (1.0 = as fast as bare)")
    ax.set_xlim(0, max(1.1, max(values) * 1.15))
    ax.set_title("Throughput against bare grpc-js\ngreen: target met, red: not met, blue: no target", fontsize=10)
    save(fig, out_dir, "ratios.png")


def unary(results, out_dir):
    data = results["scenarios"].get("unary")
    if not data or not data.get("runs"):
        return
    runs = data["runs"]
    profile = results["scenarios"].get("unary profile")
    if profile:
        fig, (left, right, third) = plt.subplots(1, 3, figsize=(16, 4.5), gridspec_kw={"width_ratios": [1, 1, 1.6]})
    else:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for target, color, label in (("bare", BARE, "bare grpc-js"), ("chain", PATTERN, "auth, full chain")):
        mine = [r for r in runs if r["target"] == target]
        if not mine:
            continue
        left.plot(range(1, len(mine) + 1), [r["requestsPerSecond"] for r in mine], marker="o", color=color, label=label)
        right.scatter([r["p50Ms"] for r in mine], [r["p99Ms"] for r in mine], color=color, label=label)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("round")
    left.set_ylabel("req/s (h2load)")
    left.set_ylim(bottom=0)
    left.set_title("GetUser throughput per round")
    left.legend()
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("p50 latency, ms (log)")
    right.set_ylabel("p99 latency, ms (log)")
    right.set_title("GetUser latency per round")
    right.legend()
    if profile:
        shares = profile["shares"]
        third.barh([x["component"].split(" (")[0].split(":")[0] for x in shares], [x["percent"] for x in shares], color=PATTERN)
        third.invert_yaxis()
        third.set_xlabel("% of auth's busy CPU under load")
        third.set_title("Where auth's CPU time goes (GetUser)")
    save(fig, out_dir, "unary.png")


def slow_client(results, out_dir):
    data = results["scenarios"].get("server streaming")
    if not data:
        return
    rss = data["slow"]["rssMiB"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(range(len(rss)), rss, marker=".", color=PATTERN, label="analytics RSS")
    ax.axhline(rss[0] + 50, color="#d62728", linestyle="--", linewidth=0.8, label="start + 50 MiB (target bound)")
    ax.set_xlabel("seconds into the stream")
    ax.set_ylabel("RSS, MiB")
    ax.set_ylim(bottom=0)
    ax.set_title(f'Slow client ({data["slow"]["rowsPerSecond"]} rows/s) reading the whole data set')
    ax.legend()
    save(fig, out_dir, "slow-client-rss.png")


def fan_out(results, out_dir):
    data = results["scenarios"].get("bidi")
    if not data:
        return
    latencies = sorted(data["fanOut"]["latenciesMs"])
    n = len(latencies)
    fig, (left, ax) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1, 2]})
    idle = data["idle"]
    kib = [idle["service"]["bytesPerStream"] / 1024, idle["bare"]["bytesPerStream"] / 1024]
    left.bar(["chat", "bare grpc-js"], kib, color=[PATTERN, BARE])
    for i, v in enumerate(kib):
        left.text(i, v, f"{v:.1f}", ha="center", va="bottom")
    left.set_ylabel("server RSS per held stream, KiB")
    left.set_title(f'{idle["streams"]} idle streams')
    ax.plot(latencies, [(i + 1) / n for i in range(n)], color=PATTERN)
    ax.set_xscale("log")
    ax.set_xlabel("send to receipt, ms (log)")
    ax.set_ylabel("fraction of deliveries")
    ax.set_title(f'Fan-out, {data["fanOut"]["members"]}-member room: {n} deliveries')
    ax.grid(True, which="both", alpha=0.3)
    save(fig, out_dir, "chat.png")


def orders_and_channels(results, out_dir):
    summary = results["summary"]
    orders = [r for r in summary if r["scenario"] == "orders" and r["metric"].startswith("PlaceOrder/s") and r["value"] is not None]
    channel = results["scenarios"].get("channel reuse")
    if not orders and not channel:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    if orders:
        left.bar([r["metric"].replace("PlaceOrder/s on ", "") for r in orders], [r["value"] for r in orders], color=PATTERN)
        left.set_ylabel("PlaceOrder calls/s")
        left.set_title("Orders: new idempotency keys")
    if channel:
        modes = ["shared", "perCall"]
        right.bar(["one shared channel", "channel per call"], [channel[m]["p50Ms"] for m in modes], color=[PATTERN, BARE], label="p50")
        right.scatter(["one shared channel", "channel per call"], [channel[m]["p99Ms"] for m in modes], color="black", zorder=3, label="p99")
        right.set_ylabel("latency per call, ms")
        right.set_title("Channel reuse (calls one at a time)")
        right.legend()
    save(fig, out_dir, "orders-channels.png")


def chain(results, out_dir):
    data = results["scenarios"].get("chain")
    if not data or not data.get("table"):
        return
    table = data["table"]
    names = [r["server"] for r in table]
    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(16, 0.38 * len(names) + 1.8))
    ratios = [r["ratio"] or 0 for r in table]
    left.barh(names, ratios, color=[BARE if r["server"] == "bare" else PATTERN for r in table])
    left.axvline(0.70, color="#d62728", linestyle="--", linewidth=0.8)
    left.text(0.70, len(names) - 0.4, " target 0.70", color="#d62728", va="bottom", fontsize=8)
    for i, v in enumerate(ratios):
        left.text(v, i, f" {v:.2f}", va="center", fontsize=8)
    left.invert_yaxis()
    left.set_xlim(0, 1.2)
    left.set_xlabel("req/s / bare grpc-js, same run")
    left.set_title("Trivial GetUser: each prefix of the chain", fontsize=10)
    layers = [r for r in table if r["addedUsPerCall"] is not None]
    for ax, key, title in ((mid, "addedUsPerCall", "CPU each layer adds per unary call, µs"), (right, "addedUsPerMessage", "CPU each layer adds per stream message, µs")):
        values = [r[key] or 0 for r in layers]
        ax.barh([r["server"] for r in layers], values, color=PATTERN)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.1f}", va="center", fontsize=8)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.invert_yaxis()
        ax.set_xlabel("µs (row minus the row before, median over rounds)")
        ax.set_title(title, fontsize=10)
    save(fig, out_dir, "chain.png")


def main():
    results_path, out_dir = sys.argv[1], sys.argv[2]
    with open(results_path, encoding="utf-8") as f:
        results = json.load(f)
    for plot in (ratios, chain, unary, slow_client, fan_out, orders_and_channels):
        plot(results, out_dir)


if __name__ == "__main__":
    main()
