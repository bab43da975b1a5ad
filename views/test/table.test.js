// Pure helpers of the customers table: `node --test views/test/`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { columnsOf, nextSorting, pageSummary, sortState } from "../src/customers-table/table.js";
import { fill, WORDS } from "../src/shared/words.js";

const page = (fields) => ({ customers: [], page: 1, limit: 10, total_count: 0, max_page: 0, ...fields });

test("summary is worded as the text the model reads", () => {
  const customers = Array.from({ length: 10 }, () => ({}));
  assert.equal(
    pageSummary(page({ customers, page: 2, total_count: 320, max_page: 32 })),
    "Customers 11-20 of 320 (page 2 of 32).",
  );
  assert.equal(
    pageSummary(page({ customers, page: 2, total_count: 320, max_page: 32 })),
    fill(WORDS.pageOfCustomers, { first: 11, end: 20, total: 320, page: 2, pages: 32 }),
  );
  assert.equal(pageSummary(page({})), WORDS.noCustomers);
  assert.equal(
    pageSummary(page({ page: 40, total_count: 320, max_page: 32 })),
    fill(WORDS.pastTheLastPage, { page: 40, total: 320, pages: 32, limit: 10 }),
  );
  assert.equal(
    pageSummary(page({ page: 40, total_count: 320, max_page: 32 })),
    "No customers on page 40: the 320 that match fill pages 1 to 32 at limit=10.",
  );
});

test("sorting starts newest first, goes ascending on a new column, then flips", () => {
  assert.deepEqual(sortState(undefined), { key: "created_at", direction: "descending" });
  assert.equal(nextSorting(undefined, "name"), "name");
  assert.equal(nextSorting(["name"], "name"), "-name");
  assert.equal(nextSorting(["-name"], "name"), "name");
  assert.equal(nextSorting(["-name"], "email"), "email");
  assert.equal(nextSorting(undefined, "created_at"), "created_at");
});

test("only columns some customer has are shown, in a fixed order", () => {
  assert.deepEqual(
    columnsOf([
      { id: "1", email: "a@b.c", name: "A" },
      { id: "2", country: "FR" },
    ]),
    ["name", "email", "country"],
  );
  assert.deepEqual(columnsOf([{ id: "1", billing_address: { country: "FR" } }]), ["country"]);
});

test("a call's fields pick the columns, and the name stays to open the card", () => {
  const customer = { id: "1", name: "A", email: "a@b.c", country: "FR", created_at: "2024-01-01" };
  assert.deepEqual(columnsOf([customer], ["country", "email", "id"]), ["name", "email", "country"]);
});
