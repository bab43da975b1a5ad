// Pure parts of the query chart: when an answer is a chart, its axis, and the scale. Tested by node.

const DATE = /^\d{4}-\d{2}(-\d{2})?([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
const isLabel = (value) => value === null || typeof value === "string";

// {label, value} column indexes when the answer has exactly one text and one numeric column, else null.
export function chartColumns(columns, rows) {
  if (columns.length !== 2 || rows.length === 0) return null;
  for (const [label, value] of [
    [0, 1],
    [1, 0],
  ]) {
    if (rows.every((row) => isLabel(row[label]) && isNumber(row[value]))) return { label, value };
  }
  return null;
}

// Whether the labels are dates or months, so the bars stand on a time axis in time order.
export function isTimeAxis(labels) {
  return labels.length > 0 && labels.every((label) => typeof label === "string" && DATE.test(label));
}

// The bars to draw: label text and value, in time order on a time axis, else in the answer's order.
export function bars(columns, rows) {
  const which = chartColumns(columns, rows);
  if (!which) return null;
  const items = rows.map((row) => ({ label: row[which.label] ?? "(none)", value: row[which.value] }));
  const time = isTimeAxis(rows.map((row) => row[which.label]));
  if (time) items.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return { items, time, labelColumn: columns[which.label], valueColumn: columns[which.value] };
}

const STEPS = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];

// A round top for the value axis, at or just above the largest value (57 -> 60, 120 -> 120).
export function niceMax(values) {
  const max = Math.max(0, ...values);
  if (max === 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of STEPS) if (step * power >= max) return Number((step * power).toPrecision(12));
  return 10 * power;
}

// Width of one bar's slot: the bars share the width there is, but never get thinner than `min`.
export function slotWidth(available, count, min = 16, max = 72) {
  return Math.max(min, Math.min(max, available / Math.max(count, 1)));
}
