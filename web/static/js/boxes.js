// Detection boxes ([x1, y1, x2, y2, confidence] in snapshot pixels) drawn over an image.
import { el } from "./util.js";
import { t } from "./i18n.js";

/** A figure with the image and a canvas over it; boxes are redrawn whenever it resizes. */
export function snapshotWithBoxes(src, boxes, kind) {
  const img = el("img", { alt: t("snapshot"), decoding: "async" });
  const canvas = el("canvas", { class: "boxes" });
  const note = el("div", { class: "snap-missing", hidden: true, text: t("snapshot_missing") });
  const figure = el("figure", { class: "snap" }, img, canvas, note);
  const draw = () => drawBoxes(canvas, img, boxes || [], kind);
  img.addEventListener("load", draw);
  img.addEventListener("error", () => { img.hidden = true; note.hidden = false; });
  new ResizeObserver(draw).observe(figure);
  img.src = src;
  return figure;
}

export function drawBoxes(canvas, img, boxes, kind) {
  if (!img.naturalWidth) return;
  const rect = img.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(rect.width * dpr);
  canvas.height = Math.round(rect.height * dpr);
  canvas.style.width = rect.width + "px";
  canvas.style.height = rect.height + "px";
  canvas.style.left = img.offsetLeft + "px";
  canvas.style.top = img.offsetTop + "px";
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const sx = canvas.width / img.naturalWidth;
  const sy = canvas.height / img.naturalHeight;
  const colour = kind === "flood" ? "#3fb9ff" : kind === "smoke" ? "#d0d7de" : "#ff4d3d";
  ctx.lineWidth = Math.max(2, 2 * dpr);
  ctx.font = `${Math.round(12 * dpr)}px sans-serif`;
  canvas.dataset.boxes = String(boxes.length);
  for (const box of boxes) {
    if (!Array.isArray(box) || box.length < 4) continue;
    const [x1, y1, x2, y2, conf] = box.map(Number);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
    if (Number.isFinite(conf)) {
      const label = `${t("kind_" + kind)} ${Math.round(conf * 100)}%`;
      const w = ctx.measureText(label).width + 6 * dpr;
      const h = 16 * dpr;
      const y = Math.max(0, y1 * sy - h);
      ctx.fillStyle = colour;
      ctx.fillRect(x1 * sx, y, w, h);
      ctx.fillStyle = "#000";
      ctx.fillText(label, x1 * sx + 3 * dpr, y + 12 * dpr);
    }
  }
}
