// Query chart for query_customers: a bar chart when the answer is one label and one number, the table under it.
import { startView } from "../shared/app.js";
import { emptyState, errorState, h, notice, show } from "../shared/dom.js";
import { fill, WORDS } from "../shared/words.js";
import { bars, niceMax, slotWidth } from "./chart.js";

const root = document.getElementById("root");
const SVG = "http://www.w3.org/2000/svg";
const PLOT_HEIGHT = 200;

let current = null; // the last result, drawn again when the width changes

startView("polar-mcp query chart", {
  result(outcome) {
    current = outcome;
    render();
  },
});

function render() {
  const { data, error } = current;
  if (error) return show(root, errorState(error));
  const parts = [notice(data), caption(data)];
  if (!data.rows.length) parts.push(emptyState(WORDS.noRows));
  else {
    const chart = bars(data.columns, data.rows);
    if (chart) parts.push(barChart(chart, root.clientWidth));
    parts.push(table(data));
  }
  show(root, parts);
}

// Bars share the width of the view, so a narrow chat column or a resize redraws the chart.
let lastWidth = 0;
new ResizeObserver(() => {
  const width = root.clientWidth;
  if (current && width !== lastWidth) {
    lastWidth = width;
    requestAnimationFrame(render);
  }
}).observe(root);

// Worded as the text's lines: how many rows (and that only the first are here), then the snapshot.
function caption(data) {
  const shown = data.rows.length;
  const rows = data.truncated
    ? fill(WORDS.firstRows, { shown: formatValue(shown), total: formatValue(data.row_count) })
    : `${formatValue(data.row_count)} row${data.row_count === 1 ? "" : "s"}.`;
  const customers = data.snapshot?.customers;
  const snapshot = data.snapshot
    ? ` Snapshot of ${formatValue(customers)} customer${customers === 1 ? "" : "s"} taken ${data.snapshot.taken_at}.`
    : "";
  return h("p", { class: "summary" }, `${rows}${snapshot}`);
}

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  element.append(...children);
  return element;
}

function barChart(chart, available) {
  const { items } = chart;
  const top = niceMax(items.map((item) => item.value));
  const axis = 44;
  const inner = Math.max(0, available - 24 - axis); // the view's padding, then the value axis
  const slot = slotWidth(inner, items.length);
  const width = slot * items.length;
  const rotate = items.some((item) => String(item.label).length * 7 > slot);
  const labelSpace = rotate ? 64 : 24;
  const height = PLOT_HEIGHT + labelSpace + 8;
  const plot = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${width + axis} ${height}`,
    width: width + axis,
    height,
    role: "list",
    "aria-label": `Bar chart of ${chart.valueColumn} by ${chart.labelColumn}${chart.time ? ", in time order" : ""}`,
  });
  for (const fraction of [0, 0.5, 1]) {
    const y = 4 + PLOT_HEIGHT * (1 - fraction);
    plot.append(
      svg("line", { x1: axis, x2: axis + width, y1: y, y2: y, class: "grid" }),
      svg("text", { x: axis - 6, y: y + 4, class: "tick", "text-anchor": "end" }, formatValue(top * fraction)),
    );
  }
  items.forEach((item, index) => {
    const barHeight = (item.value / top) * PLOT_HEIGHT;
    const x = axis + index * (width / items.length);
    const w = (width / items.length) * 0.7;
    const labelX = x + w / 2;
    const labelY = PLOT_HEIGHT + 18;
    const text = svg(
      "text",
      { x: labelX, y: labelY, class: "label", "text-anchor": rotate ? "end" : "middle" },
      short(String(item.label)),
    );
    if (rotate) text.setAttribute("transform", `rotate(-40 ${labelX} ${labelY})`);
    plot.append(
      svg(
        "g",
        { class: "bar", tabindex: 0, role: "listitem", "aria-label": `${item.label}: ${formatValue(item.value)}` },
        svg("title", {}, `${item.label}: ${formatValue(item.value)}`),
        svg("rect", {
          x,
          y: 4 + PLOT_HEIGHT - barHeight,
          width: w,
          height: barHeight,
          rx: 2,
          "data-label": item.label,
          "data-value": item.value,
        }),
      ),
      text,
    );
  });
  return h("figure", { class: "figure" }, h("div", { class: "scroll" }, plot));
}

// Axis labels stay short; the table under the chart has them in full.
function short(label) {
  return label.length > 14 ? `${label.slice(0, 13)}…` : label;
}

function formatValue(value) {
  return Number.isInteger(value)
    ? value.toLocaleString("en-US")
    : value.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

function table(data) {
  const head = h(
    "tr",
    {},
    data.columns.map((column) => h("th", { scope: "col" }, column)),
  );
  const rows = data.rows.map((row) =>
    h(
      "tr",
      {},
      row.map((value) =>
        h(
          "td",
          { class: typeof value === "number" ? "num" : "" },
          value === null ? "" : typeof value === "number" ? formatValue(value) : String(value),
        ),
      ),
    ),
  );
  return h("div", { class: "scroll table" }, h("table", {}, h("thead", {}, head), h("tbody", {}, rows)));
}
