"""PNG plots of a run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_steps(path: Path, steps: list[dict], x: str, series: list[tuple[str, str]],
               title: str, right: list[tuple[str, str]] = ()) -> Path | None:
    """One line per ``(key, label)`` of ``steps`` against ``x``; ``right`` on a second axis."""
    points = [s for s in steps if s.get(x) is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    xs = [s[x] for s in points]
    for key, label in series:
        if any(s.get(key) is not None for s in points):
            ax.plot(xs, [s.get(key) for s in points], marker="o", label=label)
    ax.set_xlabel(x.replace("_", " "))
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if right:
        ax2 = ax.twinx()
        for (key, label), color in zip(right, ("tab:red", "tab:orange", "tab:purple"),
                                       strict=False):
            if any(s.get(key) is not None for s in points):
                ax2.plot(xs, [s.get(key) for s in points], marker="s", linestyle="--",
                         label=label, color=color)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="upper left", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_timeline(path: Path, series: list[tuple[float, float, float]],
                  marks: list[tuple[float, str]], title: str) -> Path | None:
    """Hub CPU (cores) and RSS (MiB) over time, with the scenario's steps marked."""
    if len(series) < 2:
        return None
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    ts = [s[0] for s in series]
    ax.plot(ts, [s[1] for s in series], label="hub CPU (cores)", color="tab:blue")
    ax.set_xlabel("seconds")
    ax.set_ylabel("cores")
    ax2 = ax.twinx()
    ax2.plot(ts, [s[2] for s in series], label="hub RSS (MiB)", color="tab:green")
    ax2.set_ylabel("MiB")
    for at, label in marks[:40]:
        ax.axvline(at, color="grey", alpha=0.3)
        ax.text(at, ax.get_ylim()[1] * 0.95, label, fontsize=6, rotation=90, va="top")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_sessions(path: Path, records: list[dict], origin: float, title: str,
                  key: str = "online_ms") -> Path | None:
    """Each push session as a point: start (s after ``origin``) against ``key`` (ms), one
    colour per protocol; refused and failed sessions marked with an x at the bottom."""
    if not records:
        return None
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    colours = dict(zip(("rtsp", "rtmp", "whip"), ("tab:blue", "tab:green", "tab:red"),
                       strict=True))
    for protocol in dict.fromkeys(r["protocol"] for r in records):
        mine = [r for r in records if r["protocol"] == protocol]
        colour = colours.get(protocol, "tab:grey")
        ok = [r for r in mine if r.get(key) is not None]
        ax.scatter([r["started_at"] - origin for r in ok], [r[key] for r in ok], s=14,
                   color=colour, label=f"{protocol} ({len(ok)} of {len(mine)} seen)")
        bad = [r for r in mine if r["outcome"] != "completed"]
        if bad:
            ax.scatter([r["started_at"] - origin for r in bad], [0] * len(bad), marker="x",
                       color=colour, label=f"{protocol} refused/failed ({len(bad)})")
    ax.set_xlabel("session start (s)")
    ax.set_ylabel(key.replace("_ms", "").replace("_", " ") + " (ms)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
