"""The prompts a merchant picks from a client's menu: each one a short instruction that names the tools to
call, so the assistant starts from the right data. They call nothing themselves."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.prompts import Prompt
from pydantic import Field

__all__ = ["PROMPTS", "churn_review", "customer_brief", "monthly_revenue_review"]


def monthly_revenue_review(
    month: Annotated[
        str | None, Field(description="The month to review, as YYYY-MM; the last full month if left out.")
    ] = None,
) -> str:
    period = f"the month {month}" if month else "the last full month"
    return (
        f"Review {period} for this Polar organization against the month before. Call get_metrics with "
        "monthly_recurring_revenue, revenue, net_revenue, new_subscriptions and active_subscriptions by "
        "month over both months. Use query_customers for the month's paid orders by product (the orders "
        "table: SUM(net_amount) by product) and the customers created that month. Answer in a few lines "
        "and one small table, and say what the data could not tell."
    )


def churn_review(
    months: Annotated[
        int | None, Field(ge=1, le=24, description="How many months back to look; 3 if left out.")
    ] = None,
) -> str:
    span = months or 3
    return (
        f"Review customer churn for this Polar organization over the last {span} months. Call get_metrics "
        "with churn_rate, canceled_subscriptions, new_subscriptions and active_subscriptions by month. Use "
        "query_customers for the subscriptions canceled or ended in that time (the subscriptions table) by "
        "product and cancellation_reason, and call get_customer for the three largest lost customers. "
        "Answer with the churn per month, its main reasons, and what stands out."
    )


def customer_brief(
    email: Annotated[str, Field(min_length=1, max_length=320, description="The customer's email address.")],
) -> str:
    return (
        f"Brief me on the Polar customer with the email {email}. Call get_customer with that email for "
        "their profile, subscriptions, benefits and meters; if it finds no one, call list_customers with "
        "query set to the email for near matches. In a few lines: who they are, what they pay and since "
        "when, renewal, trial or cancellation dates, and anything unusual."
    )


PROMPTS: tuple[Prompt, ...] = (
    Prompt.from_function(
        monthly_revenue_review,
        name="monthly_revenue_review",
        title="Monthly revenue review",
        description="A month's paid orders by product next to the month before, new and paying customers.",
    ),
    Prompt.from_function(
        churn_review,
        name="churn_review",
        title="Churn review",
        description="Subscriptions lost and started per month, the churn rate, and the largest losses.",
    ),
    Prompt.from_function(
        customer_brief,
        name="customer_brief",
        title="Customer brief",
        description="One customer in a few lines: who they are, what they pay, what comes next.",
    ),
)
