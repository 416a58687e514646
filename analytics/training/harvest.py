"""Harvest analysts' reviews as training images: the analysts' loop of the model card.

Scans ``fh:alert:*`` hashes with a review; for each, takes the first frame of its evidence
clip (``clip``, relative to the data dir) — a clean frame, unlike the ``snapshot`` JPEG, which
has the detector's boxes drawn on it — and writes it as a class folder that
``fusionhub model train --data`` reads (:mod:`.dataset`):

- ``review=false_alarm`` → ``<out>/normal/<alert_id>.jpg`` (a hard negative of that camera);
- ``review=confirmed`` → ``<out>/<kind>/<alert_id>.jpg`` (a positive of the alert's kind);

plus one line per image in ``<out>/MANIFEST.csv`` (file, alert id, source, kind, review,
confidence, raised_at, origin; no tokens, no paths outside the data dir). Bounded by
``limit``; existing files are skipped, so reruns only add new reviews.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from .network import KINDS

logger = logging.getLogger(__name__)


@dataclass
class HarvestStats:
    scanned: int = 0
    harvested: int = 0
    skipped_existing: int = 0
    no_evidence: int = 0


def first_frame(clip: Path, out: Path) -> bool:
    """Decode the first video frame of ``clip`` to JPEG ``out``; False when unreadable."""
    import av

    try:
        with av.open(str(clip)) as container:
            for frame in container.decode(video=0):
                frame.to_image().save(out, quality=92)
                return True
    except (av.error.FFmpegError, OSError) as exc:
        logger.warning("[harvest] cannot decode %s: %s", clip.name, exc)
    return False


def harvest(redis_url: str, data_dir: Path, out: Path, *, prefix: str = "fh:",
            limit: int = 5000, allow_annotated: bool = False) -> HarvestStats:
    import redis

    stats = HarvestStats()
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "MANIFEST.csv"
    new_manifest = not manifest.exists()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    data_root = data_dir.resolve()
    try:
        with open(manifest, "a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if new_manifest:
                writer.writerow(["file", "alert_id", "source_id", "kind", "review",
                                 "confidence", "raised_at", "origin"])
            for key in client.scan_iter(match=f"{prefix}alert:*", count=500):
                if stats.scanned >= limit:
                    break
                stats.scanned += 1
                rec = client.hgetall(key)
                review = rec.get("review")
                kind = rec.get("kind") or "unknown"
                if review == "false_alarm":
                    folder = "normal"
                elif review == "confirmed" and kind in KINDS:
                    folder = kind
                else:
                    continue
                dest = out / folder / f"{rec.get('alert_id', key.rsplit(':', 1)[-1])}.jpg"
                if dest.exists():
                    stats.skipped_existing += 1
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                origin = _extract(rec, data_root, dest, allow_annotated)
                if origin is None:
                    stats.no_evidence += 1
                    continue
                writer.writerow([str(dest.relative_to(out)), rec.get("alert_id", ""),
                                 rec.get("source_id", ""), kind, review,
                                 rec.get("confidence", ""),
                                 rec.get("raised_at", ""), origin])
                stats.harvested += 1
    finally:
        client.close()
    logger.info("[harvest] %s", stats)
    return stats


def _inside(root: Path, rel: str) -> Path | None:
    if not rel:
        return None
    path = (root / rel).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def _extract(rec: dict[str, str], root: Path, dest: Path, allow_annotated: bool) -> str | None:
    clip = _inside(root, rec.get("clip", ""))
    if clip and first_frame(clip, dest):
        return "clip"
    snap = _inside(root, rec.get("snapshot", ""))
    if snap and allow_annotated:
        dest.write_bytes(snap.read_bytes())
        return "snapshot-annotated"
    return None
