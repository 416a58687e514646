"""The report of one scenario run: ``report.json`` (schema below) and ``report.md``.

Every report has :data:`REPORT_FIELDS`; ``capacity`` has :data:`CAPACITY_FIELDS` (``None``
where a scenario does not measure that quantity, with the reason in ``notes``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

SCHEMA = 1
REPORT_FIELDS = ("schema", "scenario", "status", "hub", "machine", "parameters", "limits",
                 "started_at", "duration_s", "steps", "capacity", "comparison", "notes",
                 "plots")
CAPACITY_FIELDS = ("streams_held", "viewers_held", "cpu_us_per_packet",
                   "memory_per_stream_bytes", "limited_by")
STATUSES = ("ok", "not_available", "failed")


def build_report(*, scenario: str, status: str, hub: dict, machine: dict, parameters: dict,
                 limits: dict, started_at: float, steps: list[dict], capacity: dict,
                 comparison: dict | None = None, notes: list[str] = (),
                 plots: list[str] = ()) -> dict:
    """Assemble and check a report; raises ValueError on a missing capacity field."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    missing = [k for k in CAPACITY_FIELDS if k not in capacity]
    if missing:
        raise ValueError(f"capacity lacks {', '.join(missing)}")
    return {
        "schema": SCHEMA, "scenario": scenario, "status": status, "hub": hub,
        "machine": machine, "parameters": parameters, "limits": limits,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
        "duration_s": round(time.time() - started_at, 1), "steps": steps,
        "capacity": capacity, "comparison": comparison, "notes": list(notes),
        "plots": list(plots),
    }


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        if not value:
            return "none"
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return str(value)


def _mib(value) -> str:
    return "–" if value is None else f"{value / 2**20:.1f} MiB"


def render_markdown(report: dict) -> str:
    cap = report["capacity"]
    hub, machine = report["hub"], report["machine"]
    lines = [
        f"# Load test `{report['scenario']}` — {report['status']}", "",
        f"- hub: fusionhub {hub.get('version') or '?'} at {hub.get('url')} "
        f"({'started by the load test' if hub.get('started_here') else 'existing hub'})",
        f"- machine: {machine.get('cpu_model')}, {machine.get('cores')} cores, "
        f"{_mib(machine.get('memory_bytes'))} memory, load {machine.get('loadavg_at_start')}",
        f"- started {report['started_at']}, took {report['duration_s']} s", "",
        "## Capacity found", "",
        "| quantity | value |", "|---|---|",
        f"| streams held within limits | {_fmt(cap['streams_held'])} |",
        f"| viewers held within limits | {_fmt(cap['viewers_held'])} |",
        f"| hub CPU per delivered packet | {_fmt(cap['cpu_us_per_packet'])} µs |",
        f"| memory per stream | {_mib(cap['memory_per_stream_bytes'])} |",
        f"| limited by | {_fmt(cap['limited_by'])} |",
    ]
    extra = {k: v for k, v in cap.items() if k not in CAPACITY_FIELDS}
    tables = {k: v for k, v in extra.items() if _is_table(v)}
    lines += [f"| {k.replace('_', ' ')} | {_fmt(v)} |" for k, v in extra.items()
              if k not in tables]
    for key, table in tables.items():
        lines += ["", f"### {key.replace('_', ' ')}", ""] + _table(table)
    lines += ["", "## Limits and parameters", "",
              "limits: " + _fmt(report["limits"]), "",
              "parameters: " + _fmt(report["parameters"]), ""]
    if report["comparison"]:
        columns = [k for k, v in report["comparison"].items() if isinstance(v, dict)]
        lines += ["## Side by side", "", "| | " + " | ".join(columns) + " |",
                  "|---|" + "---|" * len(columns)]
        keys = sorted({k for v in report["comparison"].values() if isinstance(v, dict)
                       for k in v})
        for key in keys:
            lines.append(f"| {key} | " + " | ".join(
                _fmt(report["comparison"][c].get(key)) for c in columns) + " |")
        ratio = {k: v for k, v in report["comparison"].items() if not isinstance(v, dict)}
        lines += [""] + [f"- {k}: {_fmt(v)}" for k, v in ratio.items()] + [""]
    if report["steps"]:
        keys = list(dict.fromkeys(k for s in report["steps"] for k, v in s.items()
                                  if not isinstance(v, (list, dict))))
        lines += ["## Steps", "", "| " + " | ".join(keys) + " |",
                  "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(_fmt(s.get(k)) for k in keys) + " |"
                  for s in report["steps"]]
        lines.append("")
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    lines += [f"![{p}]({p})" for p in report["plots"]]
    return "\n".join(lines) + "\n"


def _is_table(value) -> bool:
    """A dict of dicts (e.g. per protocol → quantities): rendered as a table of its own."""
    return isinstance(value, dict) and bool(value) and all(isinstance(v, dict)
                                                          for v in value.values())


def _table(table: dict) -> list[str]:
    columns = list(table)
    keys = list(dict.fromkeys(k for column in table.values() for k in column))
    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {key} | " + " | ".join(_fmt(table[c].get(key)) for c in columns) + " |"
              for key in keys]
    return lines + [""]


def write_report(out: Path, report: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
