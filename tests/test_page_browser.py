"""The search page in a real browser (Playwright driving Debian's chromium) against `logvec serve` with a token:
the page asks for the token, shows hits, shows every error and never leaves stale hits under it, takes a pasted
line far longer than a URL, runs under its Content-Security-Policy without a console error, and fits a phone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from logvec.testing import wait_until
from logvec.testing.servers import free_port
from tests.support import PIPELINES, logvec_cli

TOKEN = "page-test-" + "t" * 24
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(tmp_path_factory, hdfs_log):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs chromium for the browser tests (apt-get install chromium; .ci/run does it)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    data = tmp_path_factory.mktemp("page")
    logvec_cli("run", "-p", PIPELINES / "default.yaml", "-i", hdfs_log, "-d", data)
    port = free_port()
    exe = Path(sys.executable).parent / "logvec"
    proc = subprocess.Popen([str(exe), "serve", "-p", str(PIPELINES / "default.yaml"), "-d", str(data),
                             "--port", str(port)], env={**os.environ, "LOGVEC_API_TOKEN": TOKEN},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def ready() -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_until(ready, timeout=60, every=0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser, url: str, width: int = 1366):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    expected = ("status of 401", "status of 413", "status of 422")  # the refusals this test asks for

    def console(m) -> None:
        if m.type == "error" and not any(e in m.text for e in expected):
            problems.append(m.text)

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    return page, problems


def submit(page, q: str, **fields) -> str:
    page.fill("input[name=q]", q)
    for name, value in fields.items():
        page.fill(f"input[name={name}]", value)
    page.click("#f button")
    expect(page.locator("#status")).not_to_have_text("searching…")  # (expect's script runs outside the CSP)
    return page.text_content("#status")


def test_token_hits_errors_and_no_stale_results(server, browser, hdfs_log, tmp_path):
    page, problems = open_page(browser, server)
    line = hdfs_log.read_text().splitlines()[249]
    said = submit(page, line)
    assert "authentication required" in said and page.is_visible("#login")
    page.screenshot(path=str(tmp_path / "login.png"))
    page.fill("#login input[name=token]", TOKEN)
    page.click("#login button")
    expect(page.locator("#status")).to_have_text("20 hits")
    assert page.text_content("#status") == "20 hits" and not page.is_visible("#login")
    assert line.split(" ", 5)[-1] in page.text_content("#hits tr:first-child td.msg")
    assert "q=" in page.url  # the address bar links to the search
    page.screenshot(path=str(tmp_path / "hits.png"))

    said = submit(page, line, since="last tuesday")  # an error: said, and the old hits gone
    assert said.startswith("422:") and "since" in said
    assert page.locator("#hits tr").count() == 0

    pasted = "Receiving block " + "x" * 300_000  # longer than any URL: POSTed, then 413, said plainly
    said = submit(page, pasted, since="")
    assert said.startswith("413:") and "at most" in said and page.locator("#hits tr").count() == 0
    page.screenshot(path=str(tmp_path / "too-long.png"))
    long_but_fine = "Receiving block blk_1 " + "y" * 20_000
    assert submit(page, long_but_fine) == "20 hits" and page.url.endswith("/")  # too long to keep as a link
    assert not problems, problems


def test_a_shared_link_searches_and_the_page_fits_a_phone(server, browser):
    page, problems = open_page(browser, server, width=390)
    page.fill("input[name=q]", "PacketResponder 1 terminating")  # signs in as a user would, then opens a link
    page.click("#f button")
    page.fill("#login input[name=token]", TOKEN)
    page.click("#login button")
    expect(page.locator("#status")).to_have_text("20 hits")
    page.goto(server + "/?q=PacketResponder+1+terminating&k=5")
    expect(page.locator("#hits tr")).to_have_count(5)
    width = page.locator("html").evaluate("e => e.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    assert not problems, problems
