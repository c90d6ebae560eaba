"""The page in a real browser (Playwright driving Debian's chromium) against `logvec serve` with a token, on a
store fitted on a clean hour of shop traffic and fed four later hours holding three incidents: the time
histogram, the incident list, an incident's timeline, templates and similar past incidents, the lines around a
hit, feedback, search grouped by template, every error said, no stale hits, no console error under the page's
Content-Security-Policy, and a phone's width. Screenshots are kept in each test's tmp_path."""

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
from tests.synthetic import incident_logs

TOKEN = "page-test-" + "t" * 24
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
T0 = 1_700_000_000.0
LONG_TOKEN = "X" * 400  # one line carries it: it must wrap, not widen the page
INCIDENTS = [("disk_full", 40, 3, "node-03"), ("db_down", 110, 4, ""), ("disk_full", 200, 3, "node-06")]


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("page-logs")
    clean, _ = incident_logs(60, seed=1, start=T0)
    hours, _ = incident_logs(240, seed=2, start=T0 + 3600, incidents=INCIDENTS)
    hours[5000] = hours[5000] + " trace " + LONG_TOKEN
    (folder / "clean.log").write_text("\n".join(clean) + "\n")
    (folder / "hours.log").write_text("\n".join(hours) + "\n")
    return {"clean": folder / "clean.log", "hours": folder / "hours.log", "line": hours[5000]}


@pytest.fixture(scope="module")
def server(tmp_path_factory, logs):
    data = tmp_path_factory.mktemp("page")
    pipeline = PIPELINES / "default.yaml"
    logvec_cli("fit", "-p", pipeline, "-i", logs["clean"], "-d", data)
    logvec_cli("run", "-p", pipeline, "-i", logs["hours"], "-d", data)
    yield from serving(pipeline, data)


def serving(pipeline: Path, data: Path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs chromium for the browser tests (apt-get install chromium; .ci/run does it)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    port = free_port()
    exe = Path(sys.executable).parent / "logvec"
    proc = subprocess.Popen([str(exe), "serve", "-p", str(pipeline), "-d", str(data), "--port", str(port)],
                            env={**os.environ, "LOGVEC_API_TOKEN": TOKEN},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def ready() -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_until(ready, timeout=90, every=0.3)
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
    expected = ("status of 401", "status of 413", "status of 422")  # the refusals these tests ask for

    def console(m) -> None:
        if m.type == "error" and not any(e in m.text for e in expected):
            problems.append(m.text)

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    return page, problems


def sign_in(page) -> None:
    expect(page.locator("#login")).to_be_visible()
    page.fill("#login input[name=token]", TOKEN)
    page.click("#login button")
    expect(page.locator("#login")).to_be_hidden()


def submit(page, q: str, **fields) -> str:
    page.fill("input[name=q]", q)
    for name, value in fields.items():
        page.fill(f"#f input[name={name}]", value)
    page.click("#f button")
    expect(page.locator("#status")).not_to_have_text("searching…")  # (expect's script runs outside the CSP)
    return page.text_content("#status")


def fits(page, width: int) -> None:
    scroll = page.locator("html").evaluate("e => e.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide on a {width}px screen"


@pytest.mark.parametrize("width", [1366, 390])
def test_incidents_histogram_similar_context_and_feedback(server, browser, tmp_path, width):
    page, problems = open_page(browser, server, width)
    sign_in(page)
    expect(page.locator("#incidents tr.incident")).to_have_count(3)
    expect(page.locator("#status")).to_have_text("3 incidents")  # said once the sessions have loaded too
    expect(page.locator("#histogram canvas").first).to_be_visible()
    legend = page.text_content("#histogram .u-legend")
    assert "lines" in legend and "storage" in legend and "db" in legend  # volume, and anomalies by service
    fits(page, width)
    page.screenshot(path=str(tmp_path / f"incidents-{width}.png"), full_page=True)

    latest = page.locator("#incidents tr.incident").first  # the second disk incident, latest first
    assert "No space left on device" in latest.text_content()
    earliest_id = page.locator("#incidents tr.incident").last.get_attribute("data-id")
    latest.click()
    expect(page.locator("#incident")).to_be_visible()
    expect(page.locator("#similar li").first).to_contain_text("No space left on device")
    first_similar = page.locator("#similar li a").first
    assert first_similar.get_attribute("href") == f"#incident={earliest_id}"
    assert float(first_similar.text_content()) > 0.9
    assert "db" not in page.text_content("#similar li:first-child .why")
    expect(page.locator("#inc-chart canvas").first).to_be_visible()
    assert page.locator("#inc-templates tr").count() >= 2 and "node-06" in page.text_content("#inc-templates")
    fits(page, width)
    page.screenshot(path=str(tmp_path / f"incident-{width}.png"), full_page=True)

    page.locator("#inc-templates button.ctx").first.click()  # the lines around an example, from its file
    expect(page.locator("#context")).to_be_visible()
    assert page.locator("#context-lines li").count() == 11
    assert "No space left on device" in page.text_content("#context-lines li.this")
    assert page.text_content("#status").endswith("from its source")
    fits(page, width)
    page.screenshot(path=str(tmp_path / f"context-{width}.png"), full_page=True)
    page.keyboard.press("Escape")
    expect(page.locator("#context")).to_be_hidden()

    if width == 1366:  # feedback once: it changes the store the other tests read
        page.fill("#resolve input[name=note]", "freed /data on node-06")
        page.click("#resolve button")
        expect(page.locator("#inc-meta")).to_contain_text(": freed /data on node-06")
        assert "resolved by " in page.text_content("#inc-meta")
        page.click("#back")
        expect(page.locator("#incidents tr.incident.resolved")).to_have_count(1)
    assert not problems, problems


def test_search_grouped_with_errors_said_and_no_stale_hits(server, browser, logs, tmp_path):
    page, problems = open_page(browser, server + "/#search")
    line = logs["line"]
    said = submit(page, line)
    assert "authentication required" in said and page.is_visible("#login")
    page.fill("#login input[name=token]", TOKEN)
    page.click("#login button")  # the search asked for runs once signed in
    expect(page.locator("#status")).to_contain_text(" hits in ")
    assert page.locator("#hits tr.group.open").count() == 1
    assert LONG_TOKEN in page.text_content("#hits tr.hit:not([hidden]) .msg >> nth=0")
    assert "q=" in page.url  # the address bar links to the search
    fits(page, 1366)
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)

    said = submit(page, "the disk is full")  # words, not a log line: found by meaning
    assert said.endswith("templates")
    shown = page.locator("#hits tr.hit:not([hidden]) .msg")
    assert sum("No space left on device" in shown.nth(i).text_content() for i in range(min(shown.count(), 5))) >= 3
    page.locator("#hits tr.hit:not([hidden]) button.ctx").first.click()
    expect(page.locator("#context li.this")).to_contain_text("No space left on device")
    page.click("#context-close")

    page.select_option("#f select[name=kind]", "new_template")  # a filter: only anomalies of that kind
    said = submit(page, "could not connect to primary 10.0.0.5:5432: connection refused")
    assert " hits in " in said and page.locator("#hits tr.hit.anomaly").count() == page.locator("#hits tr.hit").count()
    page.select_option("#f select[name=kind]", "")

    assert submit(page, "banana pancake recipe") == "no close match"
    said = submit(page, line, since="last tuesday")  # an error: said, and the old hits gone
    assert said.startswith("422:") and "since" in said
    assert page.locator("#hits tr").count() == 0
    pasted = "write to " + "x" * 300_000  # longer than any URL: POSTed, then 413, said plainly
    said = submit(page, pasted, since="")
    assert said.startswith("413:") and "at most" in said and page.locator("#hits tr").count() == 0
    assert not problems, problems


def test_anomalous_sessions_and_a_sessions_lines(browser, tmp_path, hdfs_log):
    """HDFS with blocks as sessions: the anomalous sessions under the incidents, and one's lines."""
    pipeline = tmp_path / "sessions.yaml"
    pipeline.write_text(f"extends: {PIPELINES / 'default.yaml'}\nsession:\n  key: '(blk_-?\\d+)'\n")
    logvec_cli("run", "-p", pipeline, "-i", hdfs_log, "-d", tmp_path / "d")
    for url in serving(pipeline, tmp_path / "d"):
        page, problems = open_page(browser, url)
        sign_in(page)
        expect(page.locator("#sessions-part")).to_be_visible()
        first = page.locator("#sessions button.session").first
        key = first.get_attribute("data-key")
        first.click()
        expect(page.locator("#context")).to_be_visible()
        expect(page.locator("#context-title")).to_have_text(f"Session {key}")
        lines = page.locator("#context-lines li .msg")
        assert lines.count() >= 2 and all(key in lines.nth(i).text_content() for i in range(lines.count()))
        page.screenshot(path=str(tmp_path / "session.png"))
        assert not problems, problems


def test_a_shared_search_link_and_a_phone(server, browser, tmp_path):
    page, problems = open_page(browser, server + "/#search", width=390)
    page.fill("input[name=q]", "connection refused")  # signs in as a user would, then opens a link
    page.click("#f button")
    sign_in(page)
    expect(page.locator("#status")).to_contain_text(" hits in ")
    page.goto(server + "/?q=could+not+connect+to+primary&k=5#search")
    expect(page.locator("#hits tr.hit")).to_have_count(5)
    fits(page, 390)
    page.screenshot(path=str(tmp_path / "search-390.png"), full_page=True)
    assert not problems, problems
