"""The web application in a real browser: Debian's chromium driven by Playwright, against a
real `tickerdesk up` this module starts, at desktop (1280x800) and phone (360x740, touch)
sizes. Elements are found by role and accessible name, as a person or a screen reader
finds them; money is set up through the admin API, as an operator would.

Screenshots are saved under artifacts/web/ (gitignored); docs/web-*.png are two of them.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import _server_url, _with_database
from tickerdesk.entrypoints.http.auth import issue_token

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
TAP = 44  # px, the smallest tap target allowed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """The running `tickerdesk up`, and the operator's side of it (the admin API)."""

    base: str
    secret: str

    def admin(self, method: str, path: str, body: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {issue_token(self.secret, 'ops', admin=True)}"}
        answer = httpx.request(method, self.base + path, json=body, headers=headers, timeout=10)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def fund(self, user_id: str, amount: str) -> None:
        self.admin("POST", "/admin/deposits", {"userId": user_id, "amount": amount})

    def set_price(self, symbol: str, price: str) -> None:
        self.admin("PUT", f"/sim/stocks/{symbol}", {"price": price})

    def place(self, user_id: str, **order: Any) -> Any:
        headers = {"Authorization": f"Bearer {issue_token(self.secret, user_id)}"}
        answer = httpx.post(self.base + "/trade/place", json=order, headers=headers, timeout=10)
        assert answer.status_code == 201, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """`tickerdesk up` as a person runs it (the dev sign-in on because it is `up`), on a
    scratch database of the local server, with the random walk off so prices hold still."""
    database_server = _server_url()
    name = f"tickerdesk_web_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(database_server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    workdir = tmp_path_factory.mktemp("up")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERDESK_")}
    env |= {"TICKERDESK_PRICE_WALK_SECONDS": "0", "TICKERDESK_DATABASE_URL": _with_database(database_server, name)}
    log = workdir / "up.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tickerdesk.entrypoints.cli", "up", "--port", str(port)],
        cwd=workdir, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a cold start on a busy 2-core machine
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("tickerdesk up did not become ready:\n" + log.read_text())
        yield Server(base, (workdir / ".tickerdesk" / "jwt-secret").read_text().strip())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no {CHROMIUM}: run scripts/services.sh as root (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def open_page(browser: Browser, server: Server, viewport: dict[str, int]) -> Page:
    phone = viewport["width"] < 600
    context = browser.new_context(viewport=viewport, has_touch=phone, is_mobile=phone, base_url=server.base,
                                  service_workers="block")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # errors the page's code did not expect, and policy violations (a 4xx the app shows is no error)
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def sign_in(page: Page, user_id: str, *, go: bool = True) -> None:
    if go:
        page.goto("/")
    page.get_by_label("User ID").fill(user_id)
    press(page, page.get_by_role("button", name="Sign in"))
    expect(page.get_by_role("heading", name="Balance")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text=re.compile("^Live$"))).to_be_visible()


def press(page: Page, target: Any) -> None:
    """A tap on a touch screen, a click elsewhere."""
    if page.context.browser and page.viewport_size and page.viewport_size["width"] < 600:
        target.tap()
    else:
        target.click()


def balance(page: Page, label: str) -> Any:
    return page.get_by_role("region", name="Balance").get_by_label(label, exact=True)


def ticket(page: Page) -> Any:
    return page.get_by_role("form", name="Place an order")


def place_limit_buy(page: Page, symbol: str, quantity: str, price: str, tif: str = "Day") -> None:
    form = ticket(page)
    form.get_by_label("Symbol").fill(symbol)
    form.get_by_label("Side").select_option("Buy")
    form.get_by_label("Quantity").fill(quantity)
    form.get_by_label("Order type").select_option("Limit")
    form.get_by_label("Limit price").fill(price)
    form.get_by_label("Time in force").select_option(tif)
    expect(form.get_by_role("status")).to_contain_text("Ready to place")  # the live preview
    press(page, form.get_by_role("button", name="Place order"))
    expect(form.get_by_role("status")).to_contain_text("Placed:")


def open_order(page: Page, text: str) -> Any:
    return page.get_by_role("list", name="Orders").get_by_role("listitem").filter(has_text=text)


def toast(page: Page, text: str) -> Any:
    return page.get_by_role("region", name="Toasts").get_by_text(text)


def check_accessibility(page: Page, name: str) -> None:
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    (ARTIFACTS / f"{name}-axe.txt").write_text(results.generate_report())
    assert not serious, results.generate_report()


def check_phone_layout(page: Page) -> None:
    """No horizontal scrolling, and every control a finger can use is at least 44x44 px."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    small = page.evaluate("""(tap) => [...document.querySelectorAll(
        'a[href], button, input, select, textarea, summary, [role=button], [tabindex]:not([tabindex="-1"])')]
      .filter((el) => el.checkVisibility() && el.getClientRects().length)
      .map((el) => [el, el.getBoundingClientRect()])
      .filter(([el, r]) => r.width < tap || r.height < tap)
      .map(([el, r]) => `${el.tagName} ${el.id || el.textContent.trim().slice(0, 30)} ${r.width}x${r.height}`)""",
                          TAP)
    assert not small, f"tap targets smaller than {TAP}px: {small}"


def screenshot(page: Page, name: str) -> None:
    """What the screen shows (name.png) and the whole page (name-full.png), from the top."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / f"{name}.png")
    page.screenshot(path=ARTIFACTS / f"{name}-full.png", full_page=True)


def test_the_dev_sign_in_is_on_in_up(server):
    answer = httpx.post(server.base + "/dev/sign-in", json={"userId": "someone"})
    assert answer.status_code == 200 and answer.json()["token"]


def test_a_trading_day_on_a_desktop(server, browser):
    """Sign in; funding arrives live; a limit buy holds cash and rests in Open orders; the
    price moves to it and the fill shows as a toast, in Balance and in Portfolio, without a
    reload; a second order is canceled; history pages; a bad quantity shows the API's words."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    user = f"web-{uuid.uuid4().hex[:8]}"
    server.set_price("AAPL", "100")
    page = open_page(browser, server, DESKTOP)
    sign_in(page, user)

    # three columns on a desktop: Balance | Open orders | Prices, side by side
    columns = [page.get_by_role("region", name=name, exact=True).bounding_box()
               for name in ("Balance", "Open orders", "Prices")]
    assert all(box is not None for box in columns)
    assert columns[0]["x"] + columns[0]["width"] <= columns[1]["x"]  # type: ignore[index]
    assert columns[1]["x"] + columns[1]["width"] <= columns[2]["x"]  # type: ignore[index]
    assert abs(columns[0]["y"] - columns[1]["y"]) < 2  # type: ignore[index]

    server.fund(user, "10000")
    expect(balance(page, "Available")).to_have_text("$10,000.00")
    expect(balance(page, "Total")).to_have_text("$10,000.00")

    place_limit_buy(page, "AAPL", "10", "95")
    order = open_order(page, "Buy 10 AAPL at limit $95.00")
    expect(order).to_be_visible()
    expect(order.get_by_role("button", name="Cancel")).to_be_visible()
    expect(balance(page, "Held")).to_have_text("$950.00")
    expect(balance(page, "Available")).to_have_text("$9,050.00")
    expect(page.get_by_role("log")).to_contain_text("Order placed: Buy 10 AAPL at limit $95.00")

    server.set_price("AAPL", "94.5")  # marketable now: fills at the current price, better than the limit
    expect(toast(page, "Filled: bought 10 AAPL at $94.50")).to_be_visible()
    expect(order).to_have_count(0)
    expect(balance(page, "Held")).to_have_text("$0.00")
    expect(balance(page, "Available")).to_have_text("$9,055.00")  # 10,000 - 10 x 94.50
    holding = page.get_by_role("list", name="Holdings").get_by_role("listitem").filter(has_text="AAPL")
    expect(holding).to_contain_text(re.compile(r"Shares\s*10(?!\d)"))
    expect(holding).to_contain_text(re.compile(r"Average price\s*\$94\.50"))
    expect(page.get_by_role("list", name="Allocation by market value")).to_contain_text("AAPL 100.0%")

    # the order's detail shows its execution
    history = page.get_by_role("region", name="History")
    trades = history.get_by_role("list", name="Trades")
    filled = trades.get_by_role("listitem").filter(has_text="Buy 10 AAPL at limit $95.00")
    press(page, filled.get_by_role("button", name="Details"))
    expect(filled.get_by_role("list", name="Executions")).to_contain_text("10 at $94.50")

    place_limit_buy(page, "AAPL", "5", "90", tif="Good till canceled")
    second = open_order(page, "Buy 5 AAPL at limit $90.00")
    expect(balance(page, "Held")).to_have_text("$450.00")
    press(page, second.get_by_role("button", name="Cancel"))
    expect(second).to_have_count(0)
    expect(toast(page, "Canceled: Buy 5 AAPL at limit $90.00")).to_be_visible()
    expect(balance(page, "Held")).to_have_text("$0.00")

    # a bad quantity: the preview asks the API, and its words appear next to the field
    form = ticket(page)
    form.get_by_label("Order type").select_option("Market")
    form.get_by_label("Quantity").fill("0")
    detail = "quantity must be greater than zero"
    expect(form.get_by_label("Quantity")).to_have_accessible_description(detail)
    expect(form.get_by_label("Quantity")).to_have_attribute("aria-invalid", "true")
    press(page, form.get_by_role("button", name="Place order"))
    expect(form.get_by_label("Quantity")).to_be_focused()
    form.get_by_label("Quantity").fill("2.5")
    expect(form.get_by_label("Quantity")).to_have_accessible_description("quantity must be a whole number of shares")
    form.get_by_label("Quantity").fill("")

    # history: 2 trades so far; 10 more market buys make two pages of ten
    for _ in range(10):
        server.place(user, stockSymbol="AAPL", quantity=1, tradeType="buy")
    rows = trades.locator(":scope > li")  # the trades, not the executions inside one
    expect(rows).to_have_count(10)
    expect(history.get_by_text("Page 1")).to_be_visible()
    press(page, history.get_by_role("button", name="Next page"))
    expect(history.get_by_text("Page 2")).to_be_visible()
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Buy 5 AAPL at limit $90.00")  # newest first: the oldest two
    expect(rows.nth(1)).to_contain_text("Buy 10 AAPL at limit $95.00")
    expect(history.get_by_role("button", name="Next page")).to_be_disabled()
    press(page, history.get_by_role("button", name="Previous page"))
    expect(rows).to_have_count(10)
    history.get_by_label("Status").select_option("Canceled")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Buy 5 AAPL at limit $90.00")
    history.get_by_label("Status").select_option("Any")

    expect(rows).to_have_count(10)
    place_limit_buy(page, "AAPL", "1", "80", tif="Good till canceled")  # something open for the picture
    check_accessibility(page, "desktop")
    screenshot(page, "desktop")
    assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_the_same_app_on_a_phone(server, browser):
    """360x740 with touch: everything fits without sideways scrolling, every control is a
    44px target, and an order is placed and canceled by tapping."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    user = f"phone-{uuid.uuid4().hex[:8]}"
    server.set_price("MSFT", "400")
    server.fund(user, "5000")
    page = open_page(browser, server, PHONE)
    page.goto("/")
    check_phone_layout(page)  # the sign-in screen too
    sign_in(page, user, go=False)
    expect(balance(page, "Available")).to_have_text("$5,000.00")

    place_limit_buy(page, "MSFT", "3", "390")
    order = open_order(page, "Buy 3 MSFT at limit $390.00")
    expect(balance(page, "Held")).to_have_text("$1,170.00")
    server.place(user, stockSymbol="MSFT", quantity=2, tradeType="buy")  # a holding, for the portfolio
    expect(toast(page, "Filled: bought 2 MSFT at $400.00")).to_be_visible()
    expect(page.get_by_role("list", name="Holdings").get_by_role("listitem")).to_contain_text("MSFT")
    check_phone_layout(page)
    check_accessibility(page, "phone")
    screenshot(page, "phone")

    press(page, order.get_by_role("button", name="Cancel"))
    expect(order).to_have_count(0)
    expect(balance(page, "Held")).to_have_text("$0.00")
    assert not page.errors, page.errors  # type: ignore[attr-defined]


def test_without_a_websocket_the_app_goes_live_over_server_sent_events(server, browser):
    user = f"sse-{uuid.uuid4().hex[:8]}"
    page = open_page(browser, server, DESKTOP)
    page.route_web_socket(re.compile(r".*/notifications/ws.*"), lambda socket: socket.close())
    sign_in(page, user)
    expect(page.get_by_role("status").filter(has_text="Live")).to_have_attribute(
        "title", "Live over Server-Sent Events")
    server.fund(user, "123.45")
    expect(balance(page, "Available")).to_have_text("$123.45")
    expect(page.get_by_role("log")).to_contain_text("Balance: $123.45 available")


def test_a_dropped_line_is_shown_and_resumed_from_the_last_notification(server, browser):
    """The line drops; the page says so; what happened meanwhile arrives once, by seq."""
    user = f"drop-{uuid.uuid4().hex[:8]}"
    page = open_page(browser, server, DESKTOP)
    line = {"down": False, "urls": [], "sockets": []}

    def on_socket(socket: Any) -> None:
        line["urls"].append(socket.url)
        if line["down"]:
            socket.close()
            return
        socket.connect_to_server()
        line["sockets"].append(socket)

    page.route_web_socket(re.compile(r".*/notifications/ws.*"), on_socket)
    sign_in(page, user)
    server.fund(user, "100")
    expect(page.get_by_role("log")).to_contain_text("Balance: $100.00 available")

    line["down"] = True
    event_stream = re.compile(r".*/notifications/stream.*")
    page.route(event_stream, lambda route: route.abort())  # no fallback either
    line["sockets"][-1].close()
    expect(page.get_by_role("status").filter(has_text="Connection lost. Reconnecting…")).to_be_visible()
    server.fund(user, "50")  # while the line is down
    time.sleep(0.5)
    expect(page.get_by_role("log")).not_to_contain_text("Balance: $150.00 available")

    line["down"] = False
    page.unroute(event_stream)
    expect(page.get_by_role("status").filter(has_text=re.compile("^Live$"))).to_be_visible(timeout=15_000)
    expect(page.get_by_role("log").get_by_text("Balance: $150.00 available")).to_have_count(1)
    expect(balance(page, "Available")).to_have_text("$150.00")
    assert re.search(r"\?after=\d+$", line["urls"][-1]), line["urls"]  # resumed after the last seq seen


def test_the_installed_app_keeps_its_shell_and_never_the_api(server, browser):
    """The service worker (root scope) caches the page and its assets only; offline, the
    app opens from it and says it is not connected, and API requests fail rather than
    being answered from a cache."""
    context = browser.new_context(viewport=DESKTOP, base_url=server.base)
    page = context.new_page()
    sign_in(page, f"pwa-{uuid.uuid4().hex[:8]}")
    scope = page.evaluate("navigator.serviceWorker.ready.then((registration) => registration.scope)")
    assert scope == server.base + "/"
    page.wait_for_function("navigator.serviceWorker.controller !== null")  # claimed at activation
    cached = page.evaluate("""async () => {
      const paths = [];
      for (const name of await caches.keys())
        for (const request of await (await caches.open(name)).keys()) paths.push(new URL(request.url).pathname);
      return paths;
    }""")
    assert "/" in cached and all(p == "/" or p.startswith("/assets/") for p in cached), cached

    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="Balance")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Connection lost. Reconnecting…")).to_be_visible()
    assert page.evaluate("fetch('/balance').then((r) => r.status, () => 'no answer')") == "no answer"
    context.set_offline(False)
    expect(page.get_by_role("status").filter(has_text=re.compile("^Live$"))).to_be_visible(timeout=15_000)
    context.close()
