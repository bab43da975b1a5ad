"""The views in a real browser: headless Chromium, a host built on the App SDK's app-bridge, the demo server.

What a person sees and does: rows, paging, sorting, search, errors, theme, narrow widths, the keyboard.
In CI (CI=true) a missing browser fails the run; elsewhere these tests skip without Chromium or node tools.
Each view is screenshotted in light and dark; with UPDATE_SCREENSHOTS=1 into docs/screenshots/ (the
README shows those), else into a temporary directory, so a test run leaves the repository as it was.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.browser.harness import ROOT, chromium_path, demo_host, missing_tools

MISSING = missing_tools()
if MISSING and os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
    pytest.fail(f"CI runs the browser tests; missing: {', '.join(MISSING)}", pytrace=False)
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"browser tests need: {', '.join(MISSING)}")

if not MISSING:
    from playwright.sync_api import Browser, FrameLocator, Page, expect, sync_playwright

README_SCREENSHOTS = ROOT / "docs" / "screenshots"
# The phrases the views share with the tools' text (tests/test_views.py holds the text to them).
WORDS: dict[str, str] = json.loads((ROOT / "views" / "src" / "shared" / "words.json").read_text())
TIMEOUT_MS = 15_000  # every wait on the page is bounded by this


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return README_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def host_url() -> Iterator[str]:
    with demo_host() as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, host_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 760, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on(
        "console",
        lambda message: errors.append(message.text) if _is_error(message.type, message.text) else None,
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{host_url}/host.html")
    yield page
    context.close()
    assert errors == [], "the host or a view logged errors"


# The MCP client opens an optional GET stream for server messages; the stateless server answers 405, as
# the protocol allows, and the client goes on without it. The browser still logs every 4xx as an error.
OPTIONAL_STREAM_REFUSED = "the server responded with a status of 405 (Method Not Allowed)"


def _is_error(kind: str, text: str) -> bool:
    return kind == "error" and OPTIONAL_STREAM_REFUSED not in text


def show(
    page: Page, tool: str, arguments: dict[str, Any], theme: str | None = "light", styled: bool = True
) -> FrameLocator:
    """Have the host call `tool` and render its view; returns the view's frame.

    `theme` None is a host that names no theme; `styled` False one that sends no CSS variables.
    """
    options = {"theme": theme, "styled": styled, "timeoutMs": TIMEOUT_MS}
    result = page.evaluate("([t, a, o]) => host.show(t, a, o)", [tool, arguments, options])
    assert isinstance(result, dict)
    return page.frame_locator("iframe")


def structured(page: Page, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The structured result of a call made straight to the server: what the view should show."""
    result = page.evaluate("([t, a]) => host.call(t, a)", [tool, arguments])
    assert not result.get("isError"), result
    content: dict[str, Any] = result["structuredContent"]
    return content


def view_calls(page: Page) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = page.evaluate("() => host.calls")
    return calls


def names_shown(view: FrameLocator) -> list[str]:
    return [
        name.strip()
        for name in view.locator("tbody td.name").evaluate_all(
            "cells => cells.map(cell => cell.firstChild.textContent)"
        )
    ]


def screenshot(page: Page, folder: Path, name: str) -> None:
    """The view as a person sees it, whole: the window grows to the view's height first."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = page.locator("iframe")
    height = frame.evaluate("el => Math.ceil(el.getBoundingClientRect().height)")
    width = page.viewport_size["width"] if page.viewport_size else 760
    page.set_viewport_size({"width": width, "height": height + 40})
    # Two frames inside the view: the resize has been laid out and painted.
    page.frame_locator("iframe").locator("html").evaluate(
        "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )
    path = folder / f"{name}.png"
    frame.screenshot(path=str(path), animations="disabled")
    assert path.read_bytes().startswith(b"\x89PNG")


# --- customers table (list_customers) ---------------------------------------------------------------


def test_table_shows_the_page_with_its_summary_and_the_demo_notice(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 10})
    expect(view.locator("tbody tr")).to_have_count(10)
    expect(view.locator(".summary")).to_have_text("Customers 1-10 of 320 (page 1 of 32).")
    expect(view.get_by_role("note")).to_have_text(
        "DEMO DATA: a made-up sample organization, not your customers."
    )
    expected = structured(page, "list_customers", {"limit": 10})
    assert names_shown(view) == [c["name"] for c in expected["customers"]]
    first = view.locator("tbody tr").first
    expect(first.locator("td.email")).to_have_text(expected["customers"][0]["email"])
    expect(first.locator("td.country")).to_have_text(expected["customers"][0]["country"])


def test_next_page_shows_customers_11_to_20_with_the_same_filters(page: Page) -> None:
    filters = {"limit": 10, "metadata": {"plan": ["free", "pro"]}}
    view = show(page, "list_customers", filters)
    first_page = structured(page, "list_customers", filters)
    expect(view.locator(".summary")).to_contain_text("Customers 1-10 of")
    view.get_by_role("button", name="Next").click()
    total, last = first_page["total_count"], first_page["max_page"]
    expect(view.locator(".summary")).to_have_text(f"Customers 11-20 of {total} (page 2 of {last}).")
    second_page = structured(page, "list_customers", {**filters, "page": 2})
    assert names_shown(view) == [c["name"] for c in second_page["customers"]]
    assert view_calls(page) == [{"name": "list_customers", "arguments": {**filters, "page": 2}}]
    told = page.evaluate("() => host.context")
    assert len(told) == 1 and f"Customers 11-20 of {total}" in told[0], (
        "the model is told what the view shows"
    )
    view.get_by_role("button", name="Previous").click()
    expect(view.locator(".summary")).to_have_text(f"Customers 1-10 of {total} (page 1 of {last}).")
    assert names_shown(view) == [c["name"] for c in first_page["customers"]]


def test_previous_is_disabled_on_the_first_page_and_next_on_the_last(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 100, "page": 4})
    expect(view.locator(".summary")).to_have_text("Customers 301-320 of 320 (page 4 of 4).")
    expect(view.get_by_role("button", name="Next")).to_be_disabled()
    view.get_by_role("button", name="Previous").click()
    expect(view.locator(".summary")).to_have_text("Customers 201-300 of 320 (page 3 of 4).")
    expect(view.get_by_role("button", name="Next")).to_be_enabled()


def test_sorting_by_name_reorders_through_the_tool(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 10})
    newest = names_shown(view)
    view.get_by_role("button", name="Name").click()
    expect(view.locator("th.col-name")).to_have_attribute("aria-sort", "ascending")
    ascending = [
        c["name"] for c in structured(page, "list_customers", {"limit": 10, "sorting": ["name"]})["customers"]
    ]
    assert names_shown(view) == ascending != newest
    view.get_by_role("button", name="Name").click()
    expect(view.locator("th.col-name")).to_have_attribute("aria-sort", "descending")
    descending = [
        c["name"]
        for c in structured(page, "list_customers", {"limit": 10, "sorting": ["-name"]})["customers"]
    ]
    assert names_shown(view) == descending
    assert [call["arguments"]["sorting"] for call in view_calls(page)] == [["name"], ["-name"]]


@pytest.mark.parametrize(
    ("arguments", "headings"),
    [
        ({"limit": 5, "fields": ["name", "country"]}, ["Name", "Country"]),
        (
            {"limit": 5, "response_format": "detailed"},
            ["Name", "Email", "External ID", "Type", "Country", "Created"],
        ),
    ],
    ids=["fields", "detailed"],
)
def test_table_shows_the_columns_the_call_asked_for(
    page: Page, arguments: dict[str, Any], headings: list[str]
) -> None:
    view = show(page, "list_customers", arguments)
    expect(view.locator("thead th")).to_have_text([re.compile(rf"^{heading}") for heading in headings])
    countries = view.locator("tbody td.country").all_inner_texts()
    assert len(countries) == 5 and all(len(country) == 2 for country in countries)


def test_search_box_calls_the_tool_with_query(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 10})
    view.get_by_role("searchbox", name="Search customers").fill("usr_42")
    view.get_by_role("button", name="Search").click()
    expected = structured(page, "list_customers", {"limit": 10, "query": "usr_42", "page": 1})
    expect(view.locator("tbody tr")).to_have_count(len(expected["customers"]))
    assert names_shown(view) == [c["name"] for c in expected["customers"]]
    expect(view.locator("td.external_id").first).to_contain_text("usr_42")


def test_a_search_without_matches_says_so(page: Page) -> None:
    view = show(page, "list_customers", {"query": "nobody-by-this-name"})
    expect(view.get_by_role("status")).to_have_text(WORDS["noCustomers"])
    expect(view.get_by_role("status")).to_have_text("No customers match.")
    expect(view.locator("table")).to_have_count(0)
    expect(view.get_by_text("No customers match.")).to_have_count(1)


def test_a_page_past_the_last_says_which_pages_there_are_as_the_text_does(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 100, "page": 9})
    text = page.evaluate("([t, a]) => host.call(t, a)", ["list_customers", {"limit": 100, "page": 9}])
    phrase = WORDS["pastTheLastPage"].format(page=9, total=320, pages=4, limit=100)
    assert text["content"][0]["text"].splitlines()[1].startswith(phrase)  # after the demo notice
    expect(view.get_by_role("status")).to_have_text(phrase)
    expect(view.locator("table")).to_have_count(0)


def test_a_tool_error_shows_its_message(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 300})
    alert = view.get_by_role("alert")
    expect(alert).to_contain_text("Invalid argument limit: got 300; limit must be an integer from 1 to 100.")
    expect(alert).to_contain_text("fix the argument and call list_customers again")


def test_table_follows_the_host_theme_and_its_changes(page: Page, screenshots: Path) -> None:
    view = show(page, "list_customers", {"limit": 10}, theme="dark")
    expect(view.locator("html")).to_have_attribute("data-theme", "dark")
    expect(view.locator("body")).to_have_css("background-color", "rgb(38, 38, 36)")
    expect(view.locator("body")).to_have_css("color", "rgb(250, 249, 245)")
    screenshot(page, screenshots, "customers-table-dark")
    page.evaluate("() => host.setTheme('light')")
    expect(view.locator("html")).to_have_attribute("data-theme", "light")
    expect(view.locator("body")).to_have_css("background-color", "rgb(250, 249, 245)")
    screenshot(page, screenshots, "customers-table-light")


@pytest.mark.parametrize(
    ("theme", "system", "background", "text"),
    [
        ("dark", "light", "rgb(24, 24, 27)", "rgb(244, 244, 245)"),
        ("light", "dark", "rgb(255, 255, 255)", "rgb(24, 24, 27)"),
        (None, "dark", "rgb(24, 24, 27)", "rgb(244, 244, 245)"),
        (None, "light", "rgb(255, 255, 255)", "rgb(24, 24, 27)"),
    ],
    ids=["host-dark", "host-light", "system-dark", "system-light"],
)
def test_without_the_hosts_colours_the_views_palette_follows_the_host_theme_else_the_systems(
    page: Page, theme: str | None, system: Literal["light", "dark"], background: str, text: str
) -> None:
    page.emulate_media(color_scheme=system)
    view = show(page, "list_customers", {"limit": 5}, theme=theme, styled=False)
    expect(view.locator("tbody tr")).to_have_count(5)
    expect(view.locator("body")).to_have_css("background-color", background)
    expect(view.locator("body")).to_have_css("color", text)
    expect(view.get_by_role("note")).not_to_have_css("background-color", background)


def test_the_sdk_and_the_views_code_share_one_script_and_leave_no_global(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 5})
    expect(view.locator("tbody tr")).to_have_count(5)
    assert view.locator("script:not([data-host])").count() == 1
    assert view.locator("html").evaluate("() => typeof window.polarMcpAppSdk") == "undefined"


@pytest.mark.parametrize("tool", ["list_customers", "get_customer", "query_customers"])
def test_no_view_does_anything_the_specs_default_policy_refuses(page: Page, tool: str) -> None:
    first = structured(page, "list_customers", {"limit": 1})["customers"][0]
    arguments = {
        "list_customers": {"limit": 5},
        "get_customer": {"id": first["id"]},
        "query_customers": {"sql": "SELECT country, COUNT(*) FROM customers GROUP BY 1"},
    }[tool]
    view = show(page, tool, arguments)
    expect(view.locator(".state.loading")).to_have_count(0)
    assert view.locator("html").evaluate("() => window.cspViolations") == []


def test_table_fits_a_narrow_chat_column(page: Page) -> None:
    page.set_viewport_size({"width": 360, "height": 800})
    view = show(page, "list_customers", {"limit": 10})
    expect(view.locator("tbody tr")).to_have_count(10)
    expect(view.locator("th.col-external_id")).to_be_hidden()
    expect(view.locator("th.col-name")).to_be_visible()
    overflow = view.locator("html").evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, "the view scrolls sideways at 360 px"


def test_table_works_from_the_keyboard(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 10})
    expect(view.locator("tbody tr")).to_have_count(10)
    search = view.get_by_role("searchbox", name="Search customers")
    search.focus()
    page.keyboard.type("usr_31")
    page.keyboard.press("Enter")
    expect(view.locator("td.external_id").first).to_contain_text("usr_31")
    expected = structured(page, "list_customers", {"limit": 10, "query": "usr_31", "page": 1})
    expect(view.locator(".summary")).to_have_text(
        f"Customers 1-10 of {expected['total_count']} (page 1 of {expected['max_page']})."
    )
    # Tab from the search field reaches the column headers, then the pager; Enter activates.
    view.get_by_role("button", name="Name").focus()
    page.keyboard.press("Enter")
    expect(view.locator("th.col-name")).to_have_attribute("aria-sort", "ascending")
    view.get_by_role("button", name="Next").focus()
    page.keyboard.press("Enter")
    expect(view.locator(".summary")).to_contain_text("Customers 11-")
    assert view_calls(page)[-1]["arguments"] == {
        "limit": 10,
        "query": "usr_31",
        "page": 2,
        "sorting": ["name"],
    }


# --- customer card (get_customer, and the table's click) ----------------------------------------------


def a_customer_with_subscriptions(page: Page) -> dict[str, Any]:
    """A demo customer with subscriptions and benefits (and meters if any has them), via the tools."""
    found = []
    for customer in structured(page, "list_customers", {"active": True, "limit": 30})["customers"]:
        card = structured(page, "get_customer", {"id": customer["id"]})
        if card["subscriptions"] and card["benefits"]:
            if card["meters"]:
                return card
            found.append(card)
    assert found, "the demo organization has no subscribed customer with benefits"
    return found[0]


def test_card_shows_who_subscriptions_benefits_and_meters(page: Page) -> None:
    card = a_customer_with_subscriptions(page)
    customer = card["customer"]
    view = show(page, "get_customer", {"id": customer["id"]})
    expect(view.get_by_role("heading", level=1)).to_have_text(customer["name"])
    expect(view.get_by_role("note")).to_have_text(
        "DEMO DATA: a made-up sample organization, not your customers."
    )
    expect(view.locator(".who .id")).to_have_text(f"ID {customer['id']}")
    if customer.get("email"):
        expect(view.locator(".who .facts")).to_contain_text(customer["email"])
    subscriptions = view.locator("li.subscription")
    expect(subscriptions).to_have_count(len(card["subscriptions"]))
    for index, sub in enumerate(card["subscriptions"]):
        item = subscriptions.nth(index)
        expect(item.locator(".product")).to_have_text(sub["product_name"] or f"Product {sub['product_id']}")
        expect(item.locator(".sub-price")).to_have_text(sub["price"] or "Price unknown")
        expect(item.locator(".badge")).to_have_text(sub["status"])
    expect(view.locator("li.benefit")).to_have_count(len(card["benefits"]))
    for index, group in enumerate(card["benefits"]):
        expect(view.locator("li.benefit .count").nth(index)).to_have_text(
            f"\N{MULTIPLICATION SIGN} {group['count']}"
        )
    expect(view.locator("table.meters tbody tr")).to_have_count(len(card["meters"]))


def test_clicking_a_row_opens_that_customers_card_and_back_returns(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 10})
    expect(view.locator("tbody tr")).to_have_count(10)
    customers = structured(page, "list_customers", {"limit": 10})["customers"]
    chosen = customers[3]
    view.locator("tbody tr").nth(3).locator("td.email").click()
    expect(view.get_by_role("heading", level=1)).to_have_text(chosen["name"])
    expect(view.locator(".who .id")).to_have_text(f"ID {chosen['id']}")
    assert view_calls(page) == [{"name": "get_customer", "arguments": {"id": chosen["id"]}}]
    view.get_by_role("button", name="Back to customers").click()
    expect(view.locator("tbody tr")).to_have_count(10)
    expect(view.locator(".summary")).to_have_text("Customers 1-10 of 320 (page 1 of 32).")


def test_a_customer_opens_from_the_keyboard(page: Page) -> None:
    view = show(page, "list_customers", {"limit": 5})
    customers = structured(page, "list_customers", {"limit": 5})["customers"]
    view.locator("tbody tr").nth(1).locator("button.open").focus()
    page.keyboard.press("Enter")
    expect(view.get_by_role("heading", level=1)).to_have_text(customers[1]["name"])
    back = view.get_by_role("button", name="Back to customers")
    expect(back).to_be_focused()
    page.keyboard.press("Enter")
    expect(view.locator("tbody tr").nth(1).locator("button.open")).to_be_focused()


def test_card_for_an_unknown_customer_shows_the_tools_message(page: Page) -> None:
    missing = "3f1c6c1e-0000-4000-8000-000000000000"
    view = show(page, "get_customer", {"id": missing})
    result = page.evaluate("([t, a]) => host.call(t, a)", ["get_customer", {"id": missing}])
    assert result["isError"]
    message = result["content"][0]["text"]
    expect(view.get_by_role("alert")).to_contain_text(message.splitlines()[0])


def test_card_follows_the_host_theme_and_fits_a_narrow_column(page: Page, screenshots: Path) -> None:
    card = a_customer_with_subscriptions(page)
    view = show(page, "get_customer", {"id": card["customer"]["id"]}, theme="dark")
    expect(view.locator("body")).to_have_css("background-color", "rgb(38, 38, 36)")
    expect(view.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, screenshots, "customer-card-dark")
    page.evaluate("() => host.setTheme('light')")
    expect(view.locator("body")).to_have_css("background-color", "rgb(250, 249, 245)")
    screenshot(page, screenshots, "customer-card-light")
    page.set_viewport_size({"width": 360, "height": 800})
    expect(view.locator("li.subscription").first).to_be_visible()
    overflow = view.locator("html").evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, "the card scrolls sideways at 360 px"


# --- query chart (query_customers) ---------------------------------------------------------------------

PER_COUNTRY = "SELECT country, COUNT(*) AS customers FROM customers GROUP BY country ORDER BY customers DESC"
PER_MONTH = (
    "SELECT substr(created_at, 1, 7) AS month, COUNT(*) AS n FROM customers GROUP BY month ORDER BY n DESC"
)


def bar_geometry(view: FrameLocator) -> list[dict[str, Any]]:
    bars: list[dict[str, Any]] = view.locator("svg.chart rect").evaluate_all(
        "rects => rects.map(r => ({label: r.dataset.label, value: Number(r.dataset.value),"
        " height: r.getBoundingClientRect().height, bottom: r.getBoundingClientRect().bottom}))"
    )
    return bars


def test_a_per_country_query_draws_one_bar_per_country_with_the_right_heights(page: Page) -> None:
    view = show(page, "query_customers", {"sql": PER_COUNTRY})
    answer = structured(page, "query_customers", {"sql": PER_COUNTRY})
    expect(view.locator("svg.chart rect")).to_have_count(len(answer["rows"]))
    bars = bar_geometry(view)
    assert [(bar["label"], bar["value"]) for bar in bars] == [
        (row[0] or "(none)", row[1]) for row in answer["rows"]
    ]
    tallest = max(bars, key=lambda bar: bar["value"])
    for bar in bars:
        assert bar["height"] == pytest.approx(tallest["height"] * bar["value"] / tallest["value"], abs=0.6)
        assert bar["bottom"] == pytest.approx(tallest["bottom"], abs=0.6), "bars stand on one baseline"
    expect(view.locator("table tbody tr")).to_have_count(len(answer["rows"]))
    expect(view.get_by_role("note")).to_have_text(
        "DEMO DATA: a made-up sample organization, not your customers."
    )
    snapshot = answer["snapshot"]
    rows, customers = answer["row_count"], snapshot["customers"]
    expect(view.locator(".summary")).to_have_text(
        f"{rows} rows. Snapshot of {customers} customers taken {snapshot['taken_at']}."
    )


def test_a_long_answer_says_only_the_first_rows_are_shown_as_the_text_does(page: Page) -> None:
    numbers = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1500) SELECT n FROM r"
    view = show(page, "query_customers", {"sql": numbers})
    answer = structured(page, "query_customers", {"sql": numbers})
    shown = len(answer["rows"])
    assert answer["truncated"] and answer["row_count"] == 1500
    phrase = WORDS["firstRows"].format(shown=f"{shown:,}", total="1,500")
    expect(view.locator(".summary")).to_contain_text(phrase)
    expect(view.locator("table tbody tr")).to_have_count(shown)


def test_a_per_month_query_stands_on_a_time_axis(page: Page) -> None:
    view = show(page, "query_customers", {"sql": PER_MONTH})
    answer = structured(page, "query_customers", {"sql": PER_MONTH})
    expect(view.locator("svg.chart")).to_have_attribute("aria-label", re.compile("in time order"))
    labels = [bar["label"] for bar in bar_geometry(view)]
    assert labels == sorted(row[0] for row in answer["rows"]), "months left to right in time order"


def test_an_answer_that_is_not_one_label_and_one_number_is_a_plain_table(page: Page) -> None:
    sql = "SELECT name, email, country FROM customers ORDER BY name LIMIT 5"
    view = show(page, "query_customers", {"sql": sql})
    expect(view.locator("table tbody tr")).to_have_count(5)
    expect(view.locator("svg.chart")).to_have_count(0)
    expect(view.locator("thead th")).to_have_text(["name", "email", "country"])


def test_a_query_error_shows_its_message(page: Page) -> None:
    view = show(page, "query_customers", {"sql": "DELETE FROM customers"})
    result = page.evaluate(
        "([t, a]) => host.call(t, a)", ["query_customers", {"sql": "DELETE FROM customers"}]
    )
    assert result["isError"]
    expect(view.get_by_role("alert")).to_contain_text(result["content"][0]["text"].splitlines()[0])


def test_an_empty_answer_says_so(page: Page) -> None:
    view = show(
        page, "query_customers", {"sql": "SELECT country, COUNT(*) FROM customers WHERE 0 GROUP BY 1"}
    )
    expect(view.get_by_role("status")).to_have_text(WORDS["noRows"])
    expect(view.get_by_role("status")).to_have_text("(no rows)")


def test_chart_follows_the_host_theme_and_works_narrow_and_from_the_keyboard(
    page: Page, screenshots: Path
) -> None:
    view = show(page, "query_customers", {"sql": PER_COUNTRY}, theme="dark")
    expect(view.locator("body")).to_have_css("background-color", "rgb(38, 38, 36)")
    expect(view.locator("svg.chart rect").first).to_be_visible()
    screenshot(page, screenshots, "query-chart-dark")
    page.evaluate("() => host.setTheme('light')")
    expect(view.locator("body")).to_have_css("background-color", "rgb(250, 249, 245)")
    screenshot(page, screenshots, "query-chart-light")
    first = view.locator("svg.chart g.bar").first
    first.focus()
    expect(first).to_be_focused()
    page.keyboard.press("Tab")
    expect(view.locator("svg.chart g.bar").nth(1)).to_be_focused()
    page.set_viewport_size({"width": 360, "height": 800})
    overflow = view.locator("html").evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, "the chart view scrolls sideways at 360 px (the chart itself may scroll in its box)"
