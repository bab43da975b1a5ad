// The customer card, shared by the card view and the table (which opens it for a clicked row).
import { h, notice } from "./dom.js";
import { fill, sentence, WORDS } from "./words.js";

// How a subscription goes on, worded as the text the model reads.
export function subscriptionPhrase(sub) {
  const periodEnd = sub.current_period_end;
  if (sub.status === "trialing") {
    const then = sub.cancel_at_period_end || sub.ends_at ? WORDS.trialThenEnds : WORDS.trialThenRenews;
    return sentence(fill(then, { date: sub.trial_end || periodEnd }));
  }
  if (sub.cancel_at_period_end) return sentence(fill(WORDS.canceled, { date: sub.ends_at || periodEnd }));
  if (sub.ends_at) return sentence(fill(WORDS.ends, { date: sub.ends_at }));
  // Without a period end (Polar sends one for active subscriptions) the phrase stops at "Renews".
  return sentence(fill(WORDS.renews, { date: periodEnd || "" }).trim());
}

export function productLabel(sub) {
  return sub.product_name || sentence(fill(WORDS.product, { id: sub.product_id ?? "unknown" }));
}

// "license_keys" reads "License keys"; types newer than this view pass through the same way.
export function benefitLabel(type) {
  return sentence(String(type ?? "unknown").replaceAll("_", " "));
}

export function formatNumber(value) {
  return typeof value === "number" ? value.toLocaleString("en-US", { maximumFractionDigits: 2 }) : "?";
}

function who(customer) {
  const facts = [
    customer.email,
    customer.external_id && `External ID ${customer.external_id}`,
    customer.type && customer.type !== "individual" ? customer.type : null,
    customer.country,
    customer.created_at && `Customer since ${customer.created_at}`,
  ].filter(Boolean);
  const metadata = Object.entries(customer.metadata ?? {});
  return h(
    "header",
    { class: "who" },
    h("h1", { class: "customer-name" }, customer.name || WORDS.noName),
    h(
      "p",
      { class: "facts" },
      facts.map((fact, i) => [
        i ? h("span", { class: "dot", "aria-hidden": "true" }, " · ") : null,
        h("span", {}, fact),
      ]),
    ),
    metadata.length
      ? h(
          "ul",
          { class: "chips", "aria-label": "Metadata" },
          metadata.map(([key, value]) => h("li", { class: "chip" }, `${key}=${value}`)),
        )
      : null,
    h("p", { class: "id muted" }, `ID ${customer.id}`),
  );
}

function subscriptions(list) {
  const items = list.map((sub) =>
    h(
      "li",
      { class: "subscription" },
      h(
        "div",
        { class: "sub-head" },
        h("strong", { class: "product" }, productLabel(sub)),
        h("span", { class: `badge status-${sub.status}` }, sub.status ?? "unknown"),
      ),
      h("div", { class: "sub-price" }, sub.price || sentence(WORDS.priceUnknown)),
      h("div", { class: "sub-when muted" }, subscriptionPhrase(sub)),
      (sub.meters ?? []).length
        ? h(
            "ul",
            { class: "sub-meters muted" },
            sub.meters.map((m) => h("li", {}, `Meter ${m.meter_id}: ${formatNumber(m.consumed_units)} consumed`)),
          )
        : null,
    ),
  );
  return section(
    "Subscriptions",
    list.length,
    list.length ? h("ul", { class: "subscriptions" }, items) : none(WORDS.noSubscriptions),
  );
}

function benefits(groups) {
  const total = groups.reduce((sum, group) => sum + (group.count ?? 0), 0);
  const items = groups.map((group) => {
    const first = group.first_granted_at;
    const last = group.last_granted_at;
    const when = first ? (first === last || !last ? `granted ${first}` : `granted ${first} to ${last}`) : null;
    return h(
      "li",
      { class: "benefit" },
      h("span", { class: "benefit-type" }, benefitLabel(group.type)),
      h("span", { class: "count" }, `× ${group.count}`),
      when ? h("span", { class: "muted" }, when) : null,
    );
  });
  return section("Benefits", total, groups.length ? h("ul", { class: "benefits" }, items) : none(WORDS.noBenefits));
}

function meters(list) {
  if (!list.length) return section("Meters", 0, none(WORDS.noMeters));
  const head = h(
    "tr",
    {},
    ["Meter", "Consumed", "Credited", "Balance"].map((label) => h("th", { scope: "col" }, label)),
  );
  const rows = list.map((m) =>
    h(
      "tr",
      {},
      h("td", { class: "meter-id" }, m.meter_id),
      h("td", { class: "num" }, formatNumber(m.consumed_units)),
      h("td", { class: "num" }, formatNumber(m.credited_units)),
      h("td", { class: "num balance" }, formatNumber(m.balance)),
    ),
  );
  return section(
    "Meters",
    list.length,
    h("div", { class: "scroll" }, h("table", { class: "meters" }, h("thead", {}, head), h("tbody", {}, rows))),
  );
}

// An empty list, in the words the text uses after "Subscriptions:" and the like.
function none(phrase) {
  return h("p", { class: "muted" }, `${sentence(phrase)}.`);
}

function section(title, count, body) {
  const id = `section-${title.toLowerCase()}`;
  return h(
    "section",
    { class: "card-section", "aria-labelledby": id },
    h("h2", { id }, title, h("span", { class: "count muted" }, ` ${count}`)),
    body,
  );
}

// The whole card for a get_customer result's structured content.
export function renderCard(card) {
  return h(
    "article",
    { class: "card", "aria-label": `Customer ${card.customer?.name ?? ""}`.trim() },
    notice(card),
    who(card.customer ?? {}),
    subscriptions(card.subscriptions ?? []),
    benefits(card.benefits ?? []),
    meters(card.meters ?? []),
    (card.notes ?? []).length
      ? h(
          "ul",
          { class: "notes", "aria-label": "Notes" },
          card.notes.map((note) => h("li", {}, note)),
        )
      : null,
  );
}
