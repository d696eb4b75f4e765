"""The storefront in a real browser (Debian's Chromium, headless, driven by Playwright) against
the whole cluster: a person shops, pays, watches the saga, cancels, reads the mail; a declined
card; a double-clicked checkout; the staff's pages.

A failing test leaves a screenshot of its page under ``.run/screenshots/``. With
``SHOP_SCREENSHOTS=docs`` the tests also save the README's pictures there.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import ROOT
from tests.e2e.conftest import ADMIN
from tests.e2e.test_orders import new_product

CHROMIUM = "/usr/bin/chromium"
SETTLE_MS = 30_000
FAILURES = ROOT / ".run" / "screenshots"


@pytest.fixture(scope="package")
def browser():
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (make test does it)")
    # Not stopped: under eventlet's monkey-patching Playwright's stop() waits for ever. Its
    # driver ends with this process (its input closes).
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def page(browser, cluster, request):
    context = browser.new_context(base_url=cluster, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(FAILURES / f"{request.node.name}.png"), full_page=True)
    context.close()


def picture(page: Page, name: str) -> None:
    """Save the README's picture of this page, when asked to."""
    folder = os.environ.get("SHOP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def sign_up(page: Page) -> str:
    email = f"b.{uuid.uuid4().hex[:10]}@example.com"
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill("Bea Browser")
    page.get_by_label("Password").fill("browser-pw-1")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return email


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def add_to_cart(page: Page, product: dict, quantity: int = 1) -> None:
    page.goto(f"/products/{product['id']}")
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()


def check_out(page: Page, card: str) -> None:
    page.get_by_label(card).check()
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Order "))).to_be_visible()


def test_a_person_shops_pays_watches_the_order_cancels_it_and_reads_the_mail(page, admin):
    word = f"kettle{uuid.uuid4().hex[:6]}"
    kettle = new_product(admin, stock=5, price_cents=3450)
    admin.patch(f"/api/v1/products/{kettle['id']}", json={"name": f"Copper {word}"})
    cups = new_product(admin, stock=9, price_cents=600)
    sign_up(page)

    page.get_by_label("Search the catalogue").fill(f"copper {word}")
    page.get_by_role("button", name="Search").click()
    results = page.locator(".products li")
    expect(results).to_have_count(1)
    picture(page, "catalogue")
    results.get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"Copper {word}")).to_be_visible()

    add_to_cart(page, kettle)
    add_to_cart(page, cups, 2)
    page.get_by_label(re.compile(r"^Quantity of Thing")).fill("3")
    page.locator(f'tr[data-product="{cups["id"]}"]').get_by_role("button", name="Update").click()
    expect(page.locator(".total")).to_have_text("52.50")  # 34.50 + 3 × 6.00
    picture(page, "cart")

    check_out(page, "Card that is approved")
    expect(page.locator("#status")).to_have_text("confirmed", timeout=SETTLE_MS)
    expect(
        page.get_by_role("cell", name=f"Copper {word}")
    ).to_be_visible()  # named, not "Product 7"
    picture(page, "order")
    page.get_by_role("button", name="Cancel this order").click()
    expect(page.locator("#status")).to_have_text("cancelled", timeout=SETTLE_MS)
    expect(page.locator("#refund")).to_have_text("Refunded 52.50 to your card.")

    page.get_by_role("link", name="Mail").click()
    expect(page.get_by_role("heading", name="Mail the shop sent you")).to_be_visible()
    for subject in ("Welcome to the shop", "is confirmed", "was cancelled"):
        for _ in range(30):  # mail is sent after the events: look again until it is there
            if page.get_by_text(subject).count():
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(page.get_by_text(subject).first).to_be_visible()


def test_a_declined_card_shows_why_and_keeps_the_cart(page, admin):
    lamp = new_product(admin, stock=3, price_cents=1999)
    sign_up(page)
    add_to_cart(page, lamp)
    check_out(page, "Card that is declined")
    expect(page.locator("#status")).to_have_text("cancelled", timeout=SETTLE_MS)
    expect(page.locator("#reason")).to_have_text("The card was declined: nothing was charged.")
    page.get_by_role("link", name="Cart").click()
    expect(page.locator(f'tr[data-product="{lamp["id"]}"]')).to_be_visible()


def test_a_double_clicked_checkout_places_one_order(page, admin):
    mug = new_product(admin, stock=5)
    sign_up(page)
    add_to_cart(page, mug)
    page.get_by_role("button", name="Place order").dblclick()
    expect(page.get_by_role("heading", name=re.compile(r"^Order "))).to_be_visible()
    page.get_by_role("link", name="Orders").click()
    expect(page.locator(".orders li")).to_have_count(1)


def test_the_staff_add_a_product_that_a_customer_then_finds(page, browser, cluster):
    word = f"teapot{uuid.uuid4().hex[:6]}"
    sign_in(page, ADMIN["email"], ADMIN["password"])
    page.get_by_role("link", name="Admin").click()
    page.get_by_label("SKU", exact=True).fill(f"TEA-{word}")
    page.get_by_label("Name", exact=True).fill(f"Cast iron {word}")
    page.get_by_label("Price in cents", exact=True).fill("4200")
    page.get_by_label("Stock", exact=True).fill("7")
    page.get_by_role("button", name="Add product").click()
    expect(page.get_by_role("cell", name=f"Cast iron {word}", exact=True)).to_be_visible()
    page.get_by_label(f"Price of Cast iron {word} in cents").fill("3900")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label(f"Price of Cast iron {word} in cents")).to_have_value("3900")

    page.get_by_role("link", name="Sales report").click()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    page.get_by_label("From").fill(today)
    page.get_by_label("To").fill(today)
    page.get_by_role("button", name="Show").click()
    # Earlier tests confirmed orders today: a bar for the day, drawn on the server.
    expect(page.locator("svg.chart rect")).to_have_count(1)

    customer = browser.new_context(base_url=cluster).new_page()
    customer.goto(f"/?q={word}")
    expect(customer.locator(".products li")).to_have_count(1)
    expect(customer.locator(".products .price")).to_have_text("39.00")
    customer.context.close()


def test_a_customer_cannot_open_the_staff_pages(page):
    sign_up(page)
    for path in ("/admin", "/admin/sales"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403
        expect(page.get_by_text("This page is for the shop's staff.")).to_be_visible()


def test_the_api_docs_render_from_the_gateway_alone(page, cluster):
    loaded = []  # what was fetched (ReDoc's "powered by" logo is asked for, and refused by CSP)
    page.on("response", lambda response: loaded.append(response.url))
    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name=re.compile("Place an order"))).to_be_visible()
    assert any("redoc.standalone.js" in url for url in loaded), loaded
    assert all(url.startswith((cluster, "blob:", "data:")) for url in loaded), loaded
