// The phrases the views share with the text: `node --test views/test/`. tests/test_views.py holds the
// text to the same words.json.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fill, sentence, WORDS } from "../src/shared/words.js";

const SRC = new URL("../src/", import.meta.url).pathname;

function sources(folder) {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".js") ? [readFileSync(path, "utf8")] : [];
  });
}

test("placeholders take their values, and one without a value stays visible", () => {
  assert.equal(fill("Page {page} of {pages}", { page: 2, pages: 3 }), "Page 2 of 3");
  assert.equal(fill("Page {page}", {}), "Page {page}");
  assert.equal(sentence("renews 2026-12-01"), "Renews 2026-12-01");
});

test("every shared phrase is one the views say", () => {
  const code = sources(SRC).join("\n");
  for (const key of Object.keys(WORDS)) assert.match(code, new RegExp(`WORDS\\.${key}\\b`), key);
});
