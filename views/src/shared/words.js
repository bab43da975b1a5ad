// The phrases the views share with the text the model reads (polar_mcp/tools). They live in words.json so
// that tests on both sides hold them to one wording: views/test/ for the views, tests/test_views.py for
// the text.
import WORDS from "./words.json" with { type: "json" };

export { WORDS };

// fill("Page {page}", { page: 2 }) is "Page 2"; a placeholder without a value stays as it is, visibly.
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (placeholder, key) => (key in values ? String(values[key]) : placeholder));
}

// A phrase that starts a line starts with a capital: "renews 2026-12-01" shows as "Renews 2026-12-01".
export function sentence(phrase) {
  return phrase.charAt(0).toUpperCase() + phrase.slice(1);
}
