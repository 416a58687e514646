"""Render ``models/metrics.json`` as markdown into docs/models.md between the markers
``<!-- metrics:begin -->`` and ``<!-- metrics:end -->`` (run by scripts/model_card.sh)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BEGIN, END = "<!-- metrics:begin -->", "<!-- metrics:end -->"
KINDS = ("fire", "smoke", "flood")
TARGETS = {"fire": 0.90, "smoke": 0.80, "flood": 0.80}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _kind_rows(op: dict) -> list[str]:
    rows = []
    for kind in KINDS:
        c = op[kind]
        rows.append(f"| {kind} | {c['positives']} | {_num(c['recall'])} | "
                    f"{_num(c['precision'])} | {_pct(c['false_alarm'])} |")
    return rows


def render(report: dict) -> str:
    thr = report["thresholds"]
    model = report["model"]
    sd, rs = report["source_disjoint"], report["random_split"]
    speed = model["speed"]
    out = [f"Generated {report['generated_at']} by `make models-eval` "
           f"({report['generated_by']}) on {report['cpu']}. Data: "
           f"{report['data']['images']} real images from {len(report['data']['sources'])} "
           f"sources ({', '.join(report['data']['sources'])}); "
           f"{report['data']['hard_negatives']} hard negatives. Synthetic composites are "
           "training-only and counted nowhere below.", "",
           f"**Model** `{model['file']}`: {model['size_bytes'] / 1e6:.1f} MB, input "
           f"{model['input'][0]}×{model['input'][1]}, **{speed['cpu_ms']} ms of CPU per frame** "
           f"on one core (ONNX Runtime, 1 thread, batch 1; wall time {speed['median_ms']} ms "
           f"median / {speed['p90_ms']} ms p90 at load average {speed['load_average']} on "
           f"the shared host; +{speed['preprocess_ms']} ms letterbox).", "",
           "**Thresholds** (chosen on source-disjoint scores so that at most "
           f"{report['max_false_alarm_target']:.0%} of hard negatives raise any kind; equal "
           f"per-kind budget {report['per_kind_false_alarm_budget']:.2%}): "
           + ", ".join(f"{k} {v:.3f}" for k, v in thr.items()) + ".", "",
           "**Source-disjoint** (each image scored by a head trained without its source; "
           "the estimate for a new site):", "",
           "| kind | positives | recall | precision | false alarms on hard negatives | ",
           "|---|---|---|---|---|", *_kind_rows(sd), "",
           f"Hard negatives with any alarm: {_pct(sd['false_alarm_any'])} of "
           f"{sd['hard_negatives']}. Small fires (largest fire box < 3 % of the frame): "
           f"recall {_num(report['source_disjoint_small_fire']['fire']['recall'])} of "
           f"{report['source_disjoint_small_fire']['fire']['positives']}.", "",
           "Targets (recall at ≤ 3 % false alarms, source-disjoint): "
           + ", ".join(f"{k} ≥ {t:.2f}: **{'met' if (sd[k]['recall'] or 0) >= t else 'not met'}**"
                       f" ({_num(sd[k]['recall'])})" for k, t in TARGETS.items()) + ".", "",
           "By left-out source:", "",
           "| left-out source | images | fire recall | smoke recall | flood recall | "
           "hard negatives | any alarm on them |", "|---|---|---|---|---|---|---|"]
    for src, op in report["source_disjoint_by_source"].items():
        out.append(f"| {src} | {op['images']} | "
                   + " | ".join(f"{_num(op[k]['recall'])} ({op[k]['positives']})"
                                for k in KINDS)
                   + f" | {op['hard_negatives']} | {_pct(op['false_alarm_any'])} |")
    out += ["", "**Random split** (the shipped model, trained on the `train` split, run by "
            "the runtime detector on the `val` split at the thresholds above):", "",
            "| kind | positives | recall | precision | false alarms on hard negatives |",
            "|---|---|---|---|---|", *_kind_rows(rs), "",
            f"Hard negatives with any alarm: {_pct(rs['false_alarm_any'])} of "
            f"{rs['hard_negatives']}.", "",
            "**Input size study** (source-disjoint, thresholds recalibrated per size):", "",
            "| input | fire | smoke | flood | small fires | any alarm on hard negatives |",
            "|---|---|---|---|---|---|"]
    for size, e in report["input_size_study"].items():
        out.append(f"| {size} | {_num(e['fire'])} | {_num(e['smoke'])} | {_num(e['flood'])} | "
                   f"{_num(e['small_fire_recall'])} ({e['small_fire_images']}) | "
                   f"{_pct(e['false_alarm_any'])} |")
    out += ["", "**Usual-scene study** (cosine similarity of an embedding to the clean frame "
            "it was made from; percentiles; suppression at ≥ the `usual_scene.similarity` of "
            "`configs/models.yaml`):", "",
            "| variant of a normal frame | frames | p5 | p25 | median | p75 | p95 |",
            "|---|---|---|---|---|---|---|"]
    names = {"aug1": "re-lit, re-framed, degraded (same scene)",
             "smoke": "+ a synthetic smoke plume only", "flood": "+ a synthetic water layer only"}
    for key, s in report["usual_scene_study"].items():
        out.append(f"| {names.get(key, key)} | {s['frames']} | {s['p5']} | {s['p25']} | "
                   f"{s['p50']} | {s['p75']} | {s['p95']} |")
    return "\n".join(out)


def update(card: Path, metrics: Path) -> None:
    text = card.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{card} lacks the {BEGIN} / {END} markers")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    block = render(json.loads(metrics.read_text()))
    card.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}")


if __name__ == "__main__":
    update(Path(sys.argv[1]), Path(sys.argv[2]))
