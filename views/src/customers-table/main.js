// Customers table for list_customers: sort by a column, page, search, open a customer.
import { startView } from "../shared/app.js";
import { renderCard } from "../shared/card.js";
import { emptyState, errorState, h, loadingState, notice, show } from "../shared/dom.js";
import { WORDS } from "../shared/words.js";
import { columnsOf, nextSorting, pageSummary, sortState } from "./table.js";

const TOOL = "list_customers";
const CARD_TOOL = "get_customer";
const root = document.getElementById("root");
// `opened`: the customer whose card is showing instead of the table ({id, name, data, error}).
const state = { args: {}, data: null, error: null, busy: false, opened: null };

const view = startView("polar-mcp customers table", {
  input(args) {
    state.args = { ...args };
  },
  result(outcome) {
    state.data = outcome.data ?? null;
    state.error = outcome.error ?? null;
    render();
  },
});

// Call list_customers again with the same filters and `changes`, then show what it returned.
async function reload(changes) {
  const args = { ...state.args, ...changes };
  for (const [key, value] of Object.entries(args)) if (value === undefined) delete args[key];
  state.busy = true;
  render();
  const outcome = await view.call(TOOL, args);
  state.busy = false;
  if (outcome.data) state.args = args;
  state.data = outcome.data ?? state.data;
  state.error = outcome.error ?? null;
  render();
}

// Open a customer's card through get_customer; Back returns to the same page of the table.
async function openCustomer(customer) {
  state.opened = { id: customer.id, name: customer.name };
  render();
  const outcome = await view.call(CARD_TOOL, { id: customer.id });
  if (state.opened?.id !== customer.id) return; // the person went back meanwhile
  state.opened = { ...state.opened, ...outcome };
  render();
}

function closeCustomer() {
  const id = state.opened?.id;
  state.opened = null;
  render();
  root.querySelector(`tr[data-id="${CSS.escape(id ?? "")}"] button.open`)?.focus();
}

function renderOpened() {
  const opened = state.opened;
  const back = h("button", { type: "button", class: "back", onclick: closeCustomer }, "← Back to customers");
  let body;
  if (opened.error) body = errorState(opened.error);
  else if (opened.data) body = renderCard(opened.data);
  else body = loadingState();
  show(root, back, body);
  if (opened.data || opened.error) back.focus();
}

function render() {
  if (state.opened) return renderOpened();
  if (!state.data && !state.error) return show(root, loadingState());
  const data = state.data;
  const parts = [notice(data), searchForm()];
  if (state.error) parts.push(errorState(state.error));
  if (data?.customers.length) {
    parts.push(h("p", { class: "summary", id: "summary" }, pageSummary(data)), table(data), pager(data));
  } else if (data) {
    // An empty page says only what the text says of it, once.
    parts.push(emptyState(pageSummary(data)));
  }
  show(root, h("div", { class: state.busy ? "busy" : "", "aria-busy": state.busy ? "true" : "false" }, parts));
}

function searchForm() {
  const input = h("input", {
    type: "search",
    name: "query",
    placeholder: "Name, email or external ID",
    "aria-label": "Search customers",
    value: state.args.query ?? "",
    maxlength: 500,
  });
  // No <form>: a sandboxed view may not submit forms (hosts rarely grant allow-forms), so Enter and the
  // button search directly.
  const search = () => reload({ query: input.value.trim() || undefined, page: 1 });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      search();
    }
  });
  return h(
    "div",
    { class: "toolbar" },
    h(
      "div",
      { class: "search", role: "search" },
      input,
      h("button", { type: "button", disabled: state.busy, onclick: search }, "Search"),
    ),
  );
}

const HEADINGS = {
  name: "Name",
  email: "Email",
  external_id: "External ID",
  type: "Type",
  country: "Country",
  created_at: "Created",
};

function table(data) {
  const columns = columnsOf(data.customers, state.args.fields);
  const sorted = sortState(state.args.sorting);
  const head = columns.map((column) => {
    const direction = sorted.key === column ? sorted.direction : null;
    const label = HEADINGS[column];
    const content = ["name", "email", "created_at"].includes(column)
      ? h(
          "button",
          {
            type: "button",
            disabled: state.busy,
            title: `Sort by ${label.toLowerCase()}`,
            onclick: () => reload({ sorting: [nextSorting(state.args.sorting, column)], page: 1 }),
          },
          label,
          h(
            "span",
            { class: "arrow", "aria-hidden": "true" },
            direction === "ascending" ? "▲" : direction === "descending" ? "▼" : "",
          ),
        )
      : label;
    return h("th", { scope: "col", class: `col-${column}`, "aria-sort": direction ?? undefined }, content);
  });
  const rows = data.customers.map((customer) =>
    h(
      "tr",
      { "data-id": customer.id, class: "openable", onclick: () => openCustomer(customer) },
      columns.map((column) => cell(customer, column)),
    ),
  );
  return h(
    "div",
    { class: "scroll" },
    h("table", { "aria-describedby": "summary" }, h("thead", {}, h("tr", {}, head)), h("tbody", {}, rows)),
  );
}

function cell(customer, column) {
  // Detailed records keep the country in the billing address.
  const value = column === "country" ? (customer.country ?? customer.billing_address?.country) : customer[column];
  if (column === "name") {
    const meta =
      customer.metadata && Object.keys(customer.metadata).length
        ? h(
            "div",
            { class: "meta" },
            Object.entries(customer.metadata)
              .map(([k, v]) => `${k}=${v}`)
              .join(", "),
          )
        : null;
    // A real button, so the keyboard reaches every customer; the row's click does the same.
    const open = h(
      "button",
      {
        type: "button",
        class: "open",
        title: "Open this customer",
        onclick: (event) => {
          event.stopPropagation();
          openCustomer(customer);
        },
      },
      value ?? WORDS.noName,
    );
    return h("td", { class: "name col-name" }, open, meta);
  }
  return h("td", { class: `${column} col-${column}` }, value ?? "");
}

function pager(data) {
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h(
      "button",
      { type: "button", disabled: state.busy || data.page <= 1, onclick: () => reload({ page: data.page - 1 }) },
      "← Previous",
    ),
    h("span", { class: "muted" }, `Page ${data.page} of ${data.max_page}`),
    h(
      "button",
      { type: "button", disabled: state.busy || !data.has_more, onclick: () => reload({ page: data.next_page }) },
      "Next →",
    ),
  );
}
