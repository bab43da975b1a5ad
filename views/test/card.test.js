// Pure parts of the customer card: `node --test views/test/`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { benefitLabel, formatNumber, productLabel, subscriptionPhrase } from "../src/shared/card.js";
import { fill, sentence, WORDS } from "../src/shared/words.js";

test("a subscription says how it goes on, as the text does", () => {
  const phrase = (key, date) => sentence(fill(WORDS[key], { date }));
  assert.equal(subscriptionPhrase({ status: "active", current_period_end: "2026-12-01" }), "Renews 2026-12-01");
  assert.equal(
    subscriptionPhrase({ status: "active", current_period_end: "2026-12-01" }),
    phrase("renews", "2026-12-01"),
  );
  assert.equal(subscriptionPhrase({ status: "active" }), "Renews");
  assert.equal(
    subscriptionPhrase({ status: "active", cancel_at_period_end: true, current_period_end: "2026-12-01" }),
    phrase("canceled", "2026-12-01"),
  );
  assert.equal(subscriptionPhrase({ status: "active", ends_at: "2027-01-01" }), phrase("ends", "2027-01-01"));
  assert.equal(
    subscriptionPhrase({ status: "trialing", trial_end: "2026-12-05", current_period_end: "2026-12-05" }),
    phrase("trialThenRenews", "2026-12-05"),
  );
  assert.equal(
    subscriptionPhrase({ status: "trialing", trial_end: "2026-12-05", ends_at: "2026-12-05" }),
    phrase("trialThenEnds", "2026-12-05"),
  );
});

test("a product without a name shows its ID; numbers read with separators", () => {
  assert.equal(productLabel({ product_name: "Pro", product_id: "p1" }), "Pro");
  assert.equal(productLabel({ product_name: null, product_id: "p1" }), sentence(fill(WORDS.product, { id: "p1" })));
  assert.equal(productLabel({ product_name: null, product_id: "p1" }), "Product p1");
  assert.equal(formatNumber(12500), "12,500");
  assert.equal(formatNumber(null), "?");
  assert.equal(benefitLabel("license_keys"), "License keys");
  assert.equal(benefitLabel("github_repository"), "Github repository");
});
