// Pure helpers of the customers table, kept apart from the DOM so node can test them.
import { fill, WORDS } from "../shared/words.js";

const ORDER = ["name", "email", "external_id", "type", "country", "created_at"];
export const SORTABLE = ["name", "email", "created_at"];

// The columns to show: those the call's `fields` asked for (name always, the card opens from it), else
// those any customer on the page has.
export function columnsOf(customers, fields) {
  if (Array.isArray(fields) && fields.length) {
    return ORDER.filter((column) => column === "name" || fields.includes(column));
  }
  const has = (customer, column) => column in customer || (column === "country" && customer.billing_address);
  return ORDER.filter((column) => customers.some((customer) => has(customer, column)));
}

// The summary line, worded as the text the model reads (its first sentence, for a page past the last).
export function pageSummary(page) {
  const shown = page.customers.length;
  const { total_count: total, max_page: pages } = page;
  if (total === 0) return WORDS.noCustomers;
  if (shown === 0) return fill(WORDS.pastTheLastPage, { page: page.page, total, pages, limit: page.limit });
  const first = (page.page - 1) * page.limit + 1;
  return fill(WORDS.pageOfCustomers, { first, end: first + shown - 1, total, page: page.page, pages });
}

// Which column the list is sorted by and how; Polar's default is newest first.
export function sortState(sorting) {
  const first = sorting?.[0] || "-created_at";
  const descending = first.startsWith("-");
  return { key: descending ? first.slice(1) : first, direction: descending ? "descending" : "ascending" };
}

// The sort key after a click on `column`: ascending first, then flipping on each click.
export function nextSorting(sorting, column) {
  const current = sortState(sorting);
  if (current.key === column && current.direction === "ascending") return `-${column}`;
  return column;
}
