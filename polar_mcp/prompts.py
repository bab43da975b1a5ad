"""The prompts a merchant picks from a client's menu: each one a short instruction that names the tools to
call, so the assistant starts from the right data. They call nothing themselves."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.prompts import Prompt
from pydantic import Field

__all__ = ["PROMPTS", "churn_review", "customer_brief", "monthly_revenue_review"]

# The billing tables (orders, subscriptions) come with query_customers' snapshot where the token may
# read them; its description lists the tables it has, so each prompt asks the assistant to read it.
_TABLES = "query_customers (its description lists the tables and columns it has)"


def monthly_revenue_review(
    month: Annotated[
        str | None, Field(description="The month to review, as YYYY-MM; the last full month if left out.")
    ] = None,
) -> str:
    period = f"the month {month}" if month else "the last full month"
    return (
        f"Review {period} for this Polar organization. Use {_TABLES}: total the month's paid orders by "
        "product and compare them with the month before, and count the customers created that month "
        "(created_at). Call list_customers with active=true and limit=1 for how many customers pay now "
        "(total_count). Answer with a few lines and one small table; say what the data could not tell."
    )


def churn_review(
    months: Annotated[
        int | None, Field(ge=1, le=24, description="How many months back to look; 3 if left out.")
    ] = None,
) -> str:
    span = months or 3
    return (
        f"Review customer churn for this Polar organization over the last {span} months. Use {_TABLES}: "
        "count the subscriptions canceled or ended in each month next to those started, and name the "
        "products they were on. Call list_customers with active=true and limit=1 for the active count "
        "today (total_count), and get_customer for the three largest lost customers to read their "
        "cancellation details. Answer with the churn rate per month and what stands out."
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
