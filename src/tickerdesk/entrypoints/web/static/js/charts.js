// Small hand-drawn SVG charts: a price sparkline and the portfolio's allocation bar.

import { h, s } from "./dom.js";

const PALETTE = ["#0f6e85", "#c05621", "#5a4fcf", "#2f855a", "#b83280", "#8a6d00", "#2b6cb0", "#9b2c2c"];

/**
 * A line through `values` (oldest first), scaled to its own range. The SVG is decorative:
 * the row it sits in says the price and the move in words.
 */
export function sparkline(values, { width = 112, height = 36, trend = "flat" } = {}) {
  const svg = s("svg", {
    class: `spark ${trend}`, viewBox: `0 0 ${width} ${height}`, width, height,
    "aria-hidden": "true", focusable: "false",
  });
  if (values.length < 2) {
    svg.append(s("line", { x1: 0, x2: width, y1: height / 2, y2: height / 2, class: "spark-empty" }));
    return svg;
  }
  const low = Math.min(...values);
  const high = Math.max(...values);
  const span = high - low || 1;
  const pad = 3;
  const points = values.map((value, i) => {
    const x = (i / (values.length - 1)) * width;
    const y = pad + (1 - (value - low) / span) * (height - 2 * pad);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  svg.append(s("polyline", { points: points.join(" "), class: "spark-line" }));
  const [lastX, lastY] = points[points.length - 1].split(",");
  svg.append(s("circle", { cx: lastX, cy: lastY, r: 2.5, class: "spark-dot" }));
  return svg;
}

/**
 * The share of each holding in the portfolio's market value, as one stacked bar and a
 * legend in words (the legend is what a screen reader reads; the bar is decorative).
 * `parts` is [{label, value}] with value a number, for geometry only.
 */
export function allocation(parts) {
  const total = parts.reduce((sum, part) => sum + Math.max(part.value, 0), 0);
  if (!total) return h("p", { class: "muted" }, "No market value to allocate yet.");
  const bar = s("svg", {
    class: "allocation-bar", viewBox: "0 0 100 8", preserveAspectRatio: "none",
    "aria-hidden": "true", focusable: "false",
  });
  const legend = h("ul", { class: "legend", "aria-label": "Allocation by market value" });
  let x = 0;
  parts.forEach((part, i) => {
    const share = Math.max(part.value, 0) / total;
    const colour = PALETTE[i % PALETTE.length];
    bar.append(s("rect", { x: x.toFixed(3), y: 0, width: (share * 100).toFixed(3), height: 8, fill: colour }));
    x += share * 100;
    const swatch = s("svg", { class: "swatch", viewBox: "0 0 10 10", width: 10, height: 10, "aria-hidden": "true" },
      s("rect", { width: 10, height: 10, rx: 2, fill: colour }));
    legend.append(h("li", {}, swatch, `${part.label} ${(share * 100).toFixed(1)}%`));
  });
  return h("div", { class: "allocation" }, bar, legend);
}
