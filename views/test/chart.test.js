// Pure parts of the query chart: `node --test views/test/`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { bars, chartColumns, isTimeAxis, niceMax, slotWidth } from "../src/query-chart/chart.js";

test("one text and one numeric column make a chart, in either order", () => {
  assert.deepEqual(
    chartColumns(
      ["country", "customers"],
      [
        ["FR", 3],
        ["DE", 5],
      ],
    ),
    { label: 0, value: 1 },
  );
  assert.deepEqual(
    chartColumns(
      ["customers", "country"],
      [
        [3, "FR"],
        [5, null],
      ],
    ),
    { label: 1, value: 0 },
  );
});

test("other answers are tables only", () => {
  assert.equal(chartColumns(["a", "b", "c"], [["x", 1, 2]]), null);
  assert.equal(chartColumns(["name", "email"], [["A", "a@b.c"]]), null);
  assert.equal(chartColumns(["n", "m"], [[1, 2]]), null);
  assert.equal(chartColumns(["country", "customers"], []), null);
});

test("dates and months give a time axis in time order", () => {
  assert.equal(isTimeAxis(["2024-03", "2024-01"]), true);
  assert.equal(isTimeAxis(["2024-03-01", "2024-01-31T00:00:00Z"]), true);
  assert.equal(isTimeAxis(["FR", "2024-01"]), false);
  const chart = bars(
    ["month", "n"],
    [
      ["2024-03", 1],
      ["2024-01", 2],
      ["2024-02", 3],
    ],
  );
  assert.deepEqual(
    chart.items.map((i) => i.label),
    ["2024-01", "2024-02", "2024-03"],
  );
  assert.equal(chart.time, true);
  const countries = bars(
    ["country", "n"],
    [
      ["US", 9],
      ["FR", 2],
      [null, 1],
    ],
  );
  assert.deepEqual(
    countries.items.map((i) => i.label),
    ["US", "FR", "(none)"],
  );
  assert.equal(countries.time, false);
});

test("the value axis tops out at a round number", () => {
  assert.equal(niceMax([0]), 1);
  assert.equal(niceMax([7]), 8);
  assert.equal(niceMax([38]), 40);
  assert.equal(niceMax([57]), 60);
  assert.equal(niceMax([120]), 120);
  assert.equal(niceMax([121]), 150);
  assert.equal(niceMax([100]), 100);
  assert.equal(niceMax([0.7]), 0.8);
});

test("bars share the width there is, within bounds", () => {
  assert.equal(slotWidth(680, 17), 40);
  assert.equal(slotWidth(680, 2), 72);
  assert.equal(slotWidth(300, 100), 16);
});
