"""Render ``models/metrics.json`` as markdown into docs/models.md between the markers
``<!-- metrics:begin -->`` and ``<!-- metrics:end -->`` (run by scripts/model_card.sh)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BEGIN, END = "<!-- metrics:begin -->", "<!-- metrics:end -->"


def render(report: dict) -> str:
    out = [f"Generated {report['generated_at']} by `scripts/model_card.sh` on "
           f"{report['cpu']} ({report['runtime']}); hard-negative false-alarm target "
           f"{report['max_false_alarm_target']:.0%} per image.", ""]
    det = report["models"].get("fire-smoke")
    if det:
        m = det["metrics"]
        out += [f"**fire-smoke** (`{det['file']}`, {det['size_bytes'] / 1e6:.1f} MB, input "
                f"{det['input']['shape']}) on {m['val_images']} val images; false alarms on "
                f"{m['negatives']} hard-negative val images (report half = not used to pick "
                "the threshold):", "",
                "| class | threshold | val boxes | AP50 | precision | recall | "
                "false alarms (report half) | false alarms (calibration half) |",
                "|---|---|---|---|---|---|---|---|"]
        for name, c in m["per_class"].items():
            out.append(f"| {name} | {c['threshold']:.2f} | {c['val_instances']} | "
                       f"{c['ap50']:.3f} | {c['precision']:.3f} | {c['recall']:.3f} | "
                       f"{c['false_alarm_report']:.1%} | {c['false_alarm_calibration']:.1%} |")
        cats = ", ".join(f"{k} {v['rate']:.0%} of {v['images']}"
                         for k, v in m["false_alarm_by_negative_category"].items())
        out += ["", f"Any-class false-alarm rate on hard negatives: "
                f"{m['false_alarm_any_class_report']:.1%} (report half), "
                f"{m['false_alarm_any_class_all']:.1%} (all); by category: {cats}.", ""]
    cls = report["models"].get("flood")
    if cls:
        m = cls["metrics"]
        d = m["decision"]
        out += [f"**flood** (`{cls['file']}`, {cls['size_bytes'] / 1e6:.1f} MB, input "
                f"{cls['input']['shape']}) on {m['val_images']} val images, top-1 accuracy "
                f"{m['accuracy']:.3f}:", "",
                "| class | val images | precision (argmax) | recall (argmax) |",
                "|---|---|---|---|"]
        for name, c in m["per_class"].items():
            out.append(f"| {name} | {c['val_images']} | {c['precision']:.3f} | "
                       f"{c['recall']:.3f} |")
        out += ["", f"Flood scene decision p(flood) >= {d['threshold']:.2f}: precision "
                f"{d['precision']:.3f}, recall {d['recall']:.3f}, false alarms on normal "
                f"{d['false_alarm_report']:.1%} (report half), "
                f"{d['false_alarm_all_non_flood']:.1%} on all non-flood val images.", ""]
    out += ["| model | 1 thread median / p90 ms | 2 threads median / p90 ms | preprocess ms |",
            "|---|---|---|---|"]
    for key, mod in report["models"].items():
        s1, s2 = mod["speed"]["threads_1"], mod["speed"]["threads_2"]
        out.append(f"| {key} | {s1['median_ms']} / {s1['p90_ms']} | {s2['median_ms']} / "
                   f"{s2['p90_ms']} | {s1['preprocess_ms']} |")
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
