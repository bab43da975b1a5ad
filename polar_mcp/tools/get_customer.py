"""The `get_customer` tool: one customer's card (profile, subscriptions, benefits, meters) by ID, external ID
or email: its arguments, its function, the card it builds and the text the model reads.

The state is read leniently, as the list is: fields may be absent or null, and benefit types newer
than this release pass through under their own name. Every string in it was cleaned
(`polar_mcp.sanitize`) by the Polar client, the one boundary where upstream text comes in.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import UUID4, BaseModel, ConfigDict, Field, WithJsonSchema

from polar_mcp.config import Settings
from polar_mcp.errors import NotFound, PolarError, ScopeError
from polar_mcp.polar.models import summarize, to_date
from polar_mcp.polar.query import CustomerQuery
from polar_mcp.tools.base import Tool, ToolContext
from polar_mcp.tools.money import price
from polar_mcp.tools.render import cell, metadata_text
from polar_mcp.tools.schema import sample_notice
from polar_mcp.views import CUSTOMER_CARD

__all__ = ["CUSTOMER_FIELDS", "NAME", "TOOL", "CustomerCard", "build_card", "get_customer", "render_card"]

NAME = "get_customer"
TITLE = "Get one Polar customer"
IDENTIFIERS = ("id", "external_id", "email")
MAX_EMAIL_MATCHES = 10
DESCRIPTION = """One customer's profile, subscriptions, benefits and meters.

Give exactly one of id, external_id or email; list_customers finds partial matches."""

ARGUMENT_HINTS: dict[str, str] = {
    "id": "a version-4 customer UUID such as 992fae2a-2a17-4b7a-8d9e-e287cf90131b",
    "external_id": "a non-empty external ID, the customer's ID in the seller's own system (e.g. usr_42)",
    "email": "a non-empty email address (exact match, case-insensitive)",
}
ARGUMENT_ALIASES: dict[str, str] = {
    "customer_id": "use id",
    "uuid": "use id",
    "externalId": "use external_id",
    "query": "get_customer needs an exact identifier; list_customers with query finds partial matches",
    "name": "list_customers with query finds customers by name",
}
NO_SUBSCRIPTION_NOTE = (
    "No active or trialing subscription. Past-due subscriptions are not shown here, though "
    "list_customers active=true counts them: do not conclude the customer never paid."
)
NO_PRODUCT_SCOPE_NOTE = "Product names need the products:read scope; product IDs are shown instead."
MAX_CARD_ITEMS = 100  # of each list in a customer's state; a real customer has a handful
CUSTOMER_FIELDS = ("id", "name", "email", "external_id", "type", "country", "created_at", "metadata")


# The keys of each item are listed in the README; here only what a reader of the values must know.
CARD_SCHEMA_DESCRIPTION = "Amounts in minor units; UTC dates."


class CustomerCard(BaseModel):
    """One customer's card: profile, active and trialing subscriptions, benefits by type, meters, notes."""

    model_config = ConfigDict(json_schema_extra={"description": CARD_SCHEMA_DESCRIPTION})

    # Plain objects documented once, above, in words: nested item schemas and a description per field
    # cost every conversation context and every client validation time, and the text carries the facts.
    customer: dict[str, Any]
    subscriptions: list[dict[str, Any]]
    benefits: list[dict[str, Any]]
    meters: list[dict[str, Any]]
    notes: list[str]
    notice: str | None = Field(default=None, json_schema_extra=sample_notice)


def build_card(
    state: dict[str, Any], product_names: dict[str, str], notes: list[str], notice: str | None = None
) -> dict[str, Any]:
    """The card as a dict (a `CustomerCard`)."""
    summary = summarize(state)
    customer = {name: summary.get(name) for name in CUSTOMER_FIELDS}
    notes = list(notes)
    subscriptions = [
        _card_subscription(s, product_names) for s in _bounded(state, "active_subscriptions", notes)
    ]
    card: dict[str, Any] = {
        "customer": customer,
        "subscriptions": subscriptions,
        "benefits": _benefits(_bounded(state, "granted_benefits", notes)),
        "meters": [_meter(m) for m in _bounded(state, "active_meters", notes)],
        "notes": notes,
    }
    if notice is not None:
        card["notice"] = notice
    return card


async def get_customer(
    context: ToolContext,
    id: Annotated[
        # Published as JSON Schema's own `uuid` format (pydantic would write `uuid4`, which validators and
        # model providers do not know); the version-4 check stays here and in the description.
        Annotated[UUID4, WithJsonSchema({"type": "string", "format": "uuid", "maxLength": 36})] | None,
        Field(description="Polar customer ID (a version-4 UUID)."),
    ] = None,
    external_id: Annotated[
        str | None, Field(min_length=1, max_length=500, description="The seller's own ID.")
    ] = None,
    email: Annotated[str | None, Field(min_length=1, max_length=320, description="Exact email.")] = None,
) -> Annotated[CallToolResult, CustomerCard]:
    """One Polar customer with subscriptions, benefits and meters."""
    _check_identifiers({"id": id, "external_id": external_id, "email": email})
    if id is not None:
        state = await context.polar.customer_state(customer_id=str(id))
    elif external_id is not None:
        state = await context.polar.customer_state(external_id=external_id)
    else:
        assert email is not None  # exactly one identifier was checked above
        state = await _state_by_email(context, email)
    names, notes = await _product_names(context, state)
    if not state.get("active_subscriptions"):
        notes.append(NO_SUBSCRIPTION_NOTE)
    card = build_card(state, names, notes, context.notice)
    return CallToolResult(content=[TextContent(type="text", text=render_card(card))], structured_content=card)


TOOL = Tool(
    name=NAME,
    title=TITLE,
    description=DESCRIPTION,
    handler=get_customer,
    view=CUSTOMER_CARD,
    argument_hints=ARGUMENT_HINTS,
    argument_aliases=ARGUMENT_ALIASES,
)


def _check_identifiers(given: dict[str, Any]) -> None:
    """Exactly one identifier, and no blank text: refused before anything is sent."""
    present = [name for name, value in given.items() if value is not None]
    for name in present:
        if isinstance(given[name], str) and not given[name].strip():
            raise ToolError(
                f"Invalid argument {name}: got {given[name]!r}; {name} must be {ARGUMENT_HINTS[name]}.\n"
                f"Nothing was sent to Polar; fix the argument and call {NAME} again."
            )
    if len(present) != 1:
        got = "none of them" if not present else " and ".join(present)
        raise ToolError(
            f"Give exactly one of id, external_id or email (got {got}). list_customers with query finds "
            f"customers by part of their name, email or external ID.\n"
            f"Nothing was sent to Polar; call {NAME} again with one identifier."
        )


async def _state_by_email(context: ToolContext, email: str) -> dict[str, Any]:
    """The state of the one customer with this email; several matches are listed, never guessed."""
    page = await context.polar.list_customers(CustomerQuery(email=email, limit=MAX_EMAIL_MATCHES))
    matches = page.items[:MAX_EMAIL_MATCHES]  # never more than was asked for
    if not matches:
        raise _not_found(context.settings, f"no customer has email {email!r}")
    if len(matches) > 1:
        total = max(page.pagination.total_count, len(matches))
        rows = [_match_row(summarize(match)) for match in matches]
        more = f" (the first {len(matches)} shown)" if total > len(matches) else ""
        raise ToolError(
            f"{total} customers have email {email!r}{more}, in different organizations this token can see. "
            f"Call {NAME} with the id of the one you mean:\n" + "\n".join(rows)
        )
    customer_id = matches[0].get("id")
    if not isinstance(customer_id, str):
        raise _not_found(context.settings, f"no customer has email {email!r}")
    return await context.polar.customer_state(customer_id=customer_id)


def _not_found(settings: Settings, what: str) -> NotFound:
    """No customer has this email: say where it was looked for and how to search instead."""
    return NotFound(
        f"In {settings.environment_label}, {what}. list_customers with query finds customers by part of "
        "their name, email or external ID."
    )


def _match_row(record: dict[str, Any]) -> str:
    fields = [
        f"id {record.get('id')}",
        record.get("name"),
        record.get("external_id") and f"external_id {record['external_id']}",
        record.get("created_at") and f"created {record['created_at']}",
    ]
    return "- " + ", ".join(cell(str(field)) for field in fields if field)


async def _product_names(context: ToolContext, state: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Names for the subscriptions' products in one request; a failure costs the names, not the call."""
    ids = [
        s["product_id"]
        for s in state.get("active_subscriptions") or []
        if isinstance(s, dict) and isinstance(s.get("product_id"), str)
    ]
    if not ids:
        return {}, []
    try:
        return await context.polar.product_names(ids), []
    except ScopeError:
        return {}, [NO_PRODUCT_SCOPE_NOTE]
    except PolarError as exc:
        reason = f"status {exc.status_code}" if exc.status_code else type(exc).__name__
        return {}, [f"Product names could not be fetched ({reason}); product IDs are shown instead."]


def render_card(card: dict[str, Any]) -> str:
    """The text the model reads: the whole card in a few lines, lists said to be empty when they are."""
    customer = card["customer"]
    lines = [card["notice"]] if card.get("notice") else []
    who = [customer.get("name") or "(no name)"]
    who += [customer[key] for key in ("email",) if customer.get(key)]
    who += [f"external_id {customer['external_id']}"] if customer.get("external_id") else []
    who += [customer[key] for key in ("type", "country") if customer.get(key)]
    who += [f"since {customer['created_at']}"] if customer.get("created_at") else []
    lines.append(" · ".join(cell(str(part)) for part in who))
    about = [f"id {customer.get('id')}"]
    if customer.get("metadata"):
        about.append(f"metadata {metadata_text(customer['metadata'])}")
    lines.append(" · ".join(about))
    subscriptions = card["subscriptions"]
    if subscriptions:
        lines.append(f"Subscriptions ({len(subscriptions)}):")
        # With one meter in the card, its ID on the Meters line is enough; with more, each line names its own.
        meter_ids = {m.get("meter_id") for s in subscriptions for m in s.get("meters") or []}
        meter_ids |= {m.get("meter_id") for m in card["meters"]}
        lines.extend(_subscription_line(s, name_meters=len(meter_ids) > 1) for s in subscriptions)
    else:
        lines.append("Subscriptions: none active or trialing.")
    benefits = card["benefits"]
    if benefits:
        total = sum(group["count"] for group in benefits)
        parts = [_benefit_part(group) for group in benefits]
        lines.append(f"Benefits ({total}): " + ", ".join(parts))
    else:
        lines.append("Benefits: none granted.")
    meters = card["meters"]
    if meters:
        lines.append("Meters: " + "; ".join(_meter_part(m) for m in meters))
    else:
        lines.append("Meters: none active.")
    lines.extend(f"Note: {note}" for note in card["notes"])
    return "\n".join(lines)


def _subscription_line(sub: dict[str, Any], *, name_meters: bool) -> str:
    name = cell(sub["product_name"]) if sub.get("product_name") else f"product {sub.get('product_id')}"
    status = sub.get("status")
    period_end = sub.get("current_period_end")
    if status == "trialing":
        then = "then ends" if sub.get("cancel_at_period_end") or sub.get("ends_at") else "then renews"
        phrase = f"trial until {sub.get('trial_end') or period_end}, {then}"
    elif sub.get("cancel_at_period_end"):
        phrase = f"{status}, canceled: ends {sub.get('ends_at') or period_end}, no renewal"
    elif sub.get("ends_at"):
        phrase = f"{status}, ends {sub['ends_at']}"
    else:
        phrase = f"{status}, renews {period_end}"
    line = f"- {name}: {sub.get('price') or 'price unknown'}, {phrase}"
    for meter in sub.get("meters") or []:
        spent = price(meter.get("amount"), sub.get("currency"), None) or "?"
        which = f" {meter.get('meter_id')}" if name_meters else ""
        line += f"; meter{which}: {spent} so far this period"
    return line


def _benefit_part(group: dict[str, Any]) -> str:
    first, last = group.get("first_granted_at"), group.get("last_granted_at")
    when = f"{first}" if first == last else f"{first} to {last}"
    return f"{group['type']} {group['count']}" + (f" (granted {when})" if first else "")


def _meter_part(meter: dict[str, Any]) -> str:
    return (
        f"{meter.get('meter_id')} consumed {_number(meter.get('consumed_units'))}, "
        f"credited {_number(meter.get('credited_units'))}, balance {_number(meter.get('balance'))}"
    )


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int | float) and not isinstance(value, bool) else "?"


def _card_subscription(item: dict[str, Any], product_names: dict[str, str]) -> dict[str, Any]:
    product_id = item.get("product_id")
    return {
        "id": item.get("id"),
        "product_id": product_id,
        "product_name": product_names.get(product_id) if isinstance(product_id, str) else None,
        "status": item.get("status"),
        "amount": item.get("amount"),
        "currency": item.get("currency"),
        "recurring_interval": item.get("recurring_interval"),
        "price": price(item.get("amount"), item.get("currency"), item.get("recurring_interval")),
        "current_period_end": to_date(item.get("current_period_end")),
        "cancel_at_period_end": item.get("cancel_at_period_end") is True,
        "ends_at": to_date(item.get("ends_at")),
        "trial_end": to_date(item.get("trial_end")),
        "meters": [
            {
                "meter_id": meter.get("meter_id"),
                "consumed_units": meter.get("consumed_units"),
                "credited_units": meter.get("credited_units"),
                "amount": meter.get("amount"),
            }
            for meter in _dicts(item.get("meters"))
        ],
    }


def _benefits(grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for grant in grants:
        kind = grant.get("benefit_type")
        item = {"benefit_id": grant.get("benefit_id"), "granted_at": to_date(grant.get("granted_at"))}
        groups.setdefault(kind if isinstance(kind, str) and kind else "unknown", []).append(item)
    result = []
    for kind, items in groups.items():
        dates = sorted(str(item["granted_at"]) for item in items if item["granted_at"])
        result.append(
            {
                "type": kind,
                "count": len(items),
                "first_granted_at": dates[0] if dates else None,
                "last_granted_at": dates[-1] if dates else None,
                "items": items,
            }
        )
    return result


def _meter(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "meter_id": item.get("meter_id"),
        "consumed_units": item.get("consumed_units"),
        "credited_units": item.get("credited_units"),
        "balance": item.get("balance"),
    }


def _bounded(state: dict[str, Any], key: str, notes: list[str]) -> list[dict[str, Any]]:
    """At most `MAX_CARD_ITEMS` of a list, whatever Polar (or something posing as it) sent."""
    items = _dicts(state.get(key))
    if len(items) > MAX_CARD_ITEMS:
        notes.append(f"Only the first {MAX_CARD_ITEMS} of {len(items)} {key.replace('_', ' ')} are shown.")
    return items[:MAX_CARD_ITEMS]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
