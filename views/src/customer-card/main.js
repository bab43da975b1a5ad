// Customer card for get_customer: who, subscriptions, benefits, meters.
import { startView } from "../shared/app.js";
import { renderCard } from "../shared/card.js";
import { emptyState, errorState, show } from "../shared/dom.js";

const root = document.getElementById("root");

startView("polar-mcp customer card", {
  result({ data, error }) {
    if (error) show(root, errorState(error));
    else if (!data.customer) show(root, emptyState("No customer."));
    else show(root, renderCard(data));
  },
});
