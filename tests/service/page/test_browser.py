"""The page in a real browser: Debian's chromium driven by Playwright, against a real uvicorn.

Without chromium (or Playwright) these tests skip with a one-line reason, except under CI=true, where a missing
browser fails the run (.ci/run installs chromium). TEMPORAL_ORDER_SCREENSHOT_DIR=docs/page also saves what the
browser shows (the README's pictures).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import LiveServer
from training.architectures import ARCHITECTURES

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 60_000


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run; .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _missing("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (the dev extra has it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, curve_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    opened.console_errors = []
    opened.on("console", lambda message: message.type == "error" and opened.console_errors.append(message.text))
    opened.on("pageerror", lambda error: opened.console_errors.append(str(error)))
    opened.goto(f"{curve_server.url}/")
    yield opened
    context.close()


def screenshot(page: Any, name: str, *, full_page: bool = False, selector: str | None = None) -> None:
    directory = os.environ.get("TEMPORAL_ORDER_SCREENSHOT_DIR")
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    target = page.locator(selector) if selector else page
    kwargs = {} if selector else {"full_page": full_page}
    target.screenshot(path=str(Path(directory) / f"{name}.png"), **kwargs)


def test_the_page_loads_with_no_console_errors(page: Any) -> None:
    page.wait_for_selector("#models-body .model")
    assert page.locator("#models-body .model").count() == len(ARCHITECTURES)  # every architecture
    page.wait_for_selector("#report-table")
    assert page.locator("#report-table tbody tr").count() >= 5
    page.wait_for_selector("#jobs-body:not(.loading)")
    page.wait_for_selector("#readiness[data-state='ready']")
    page.locator("#models-body button.link[data-arch='lstm']").first.click()
    page.wait_for_selector("#curve-chart svg path.trial.highlight")
    page.wait_for_selector("#report-curves figure svg path.trial")
    assert page.console_errors == []
    screenshot(page, "page", full_page=True)


def test_a_drawn_sequence_is_classified_with_its_heat_strip(page: Any) -> None:
    page.wait_for_selector("#arch option[value='lstm']", state="attached")
    page.click("#draw")
    page.wait_for_function("document.getElementById('sequence').value.length > 90")
    sequence = page.input_value("#sequence")
    page.select_option("#arch", "lstm")
    page.click("#classify-button")
    page.wait_for_selector("#classify-result:not([hidden])")
    assert page.locator("#heat-strip .cell").count() == len(sequence)
    marks = page.locator("#heat-strip .mark").all_inner_texts()
    assert marks == ["t1", "t2", "t3"]
    marked = [index for index, symbol in enumerate(sequence) if symbol in "XY"]
    assert [page.locator("#heat-strip .cell").nth(index).get_attribute("class") for index in marked] == [
        "cell relevant"
    ] * 3
    assert page.locator("#probabilities .bar").count() == 8
    verdict = page.inner_text("#verdict")
    assert re.search(r"by lstm v\d+", verdict) and "rule label" in verdict
    assert page.console_errors == []
    screenshot(page, "classify", selector="#classify")


def test_a_bad_sequence_shows_the_servers_message(page: Any) -> None:
    page.fill("#sequence", "EabZcdXB")
    page.click("#classify-button")
    page.wait_for_selector("#classify-error:not([hidden])")
    message = page.inner_text("#classify-error")
    assert "422" in message and "unknown symbol 'Z' at position 4" in message
    assert page.locator("#classify-result").is_hidden()


def sequences_of(page: Any, job_id: str) -> int:
    text = page.inner_text(f"tr[data-job-id='{job_id}'] .sequences")
    return int(text.split("/")[0].replace(",", "").strip())


def test_a_job_starts_its_progress_moves_and_it_cancels(page: Any, curve_server: LiveServer) -> None:
    page.wait_for_selector("#job-arch option:text-is('attn_rnn_seed')", state="attached")
    page.fill("#api-key", curve_server.api_key)
    page.select_option("#job-arch", "attn_rnn_seed")  # the seed's attention never meets the criterion: runs on
    page.fill("#job-max", "5000000")
    page.click("#job-start")
    row = page.locator("#jobs-table tbody tr").first
    row.wait_for()
    job_id = row.get_attribute("data-job-id")
    page.wait_for_selector(f"tr[data-job-id='{job_id}'].status-running")
    page.wait_for_function(
        f"parseInt(document.querySelector(\"tr[data-job-id='{job_id}'] .sequences\").textContent.replace(/,/g, '')) > 0"
    )
    first = sequences_of(page, job_id)
    page.wait_for_function(
        f"parseInt(document.querySelector(\"tr[data-job-id='{job_id}'] .sequences\").textContent.replace(/,/g, ''))"
        f" > {first}"
    )
    assert sequences_of(page, job_id) > first
    screenshot(page, "jobs", selector="#jobs")
    page.click(f"tr[data-job-id='{job_id}'] button.cancel")
    page.wait_for_selector(f"tr[data-job-id='{job_id}'].status-cancelled")
    assert page.locator("#job-error").is_hidden()
    assert page.console_errors == []
    assert "api-key" not in page.evaluate("JSON.stringify(Object.keys(localStorage))")


def test_the_models_view_shows_the_activation_history(page: Any, curve_server: LiveServer) -> None:
    with httpx.Client(base_url=curve_server.url, headers=curve_server.auth, timeout=60) as http:
        served = http.get("/models/lstm").json()["active_version"]
        other = next(v["version"] for v in http.get("/models/lstm").json()["versions"] if v["version"] != served)
        assert http.post("/models/lstm/activate", json={"version": other}).status_code == 200
        rolled_back = http.post("/models/lstm/rollback")  # serves `served` again: the other tests' state is kept
        assert rolled_back.status_code == 200 and rolled_back.json()["active_version"] == served
    page.reload()
    history = page.locator("#models-body .model:has(h3 code:text-is('lstm')) details.history")
    history.locator("summary").click()
    rows = history.locator("tbody tr")
    rows.first.wait_for()
    cells = [rows.nth(index).locator("td").all_inner_texts() for index in range(2)]  # newest first
    assert [cells[0][1:3], cells[1][1:3]] == [[str(other), str(served)], [str(served), str(other)]]
    assert cells[0][3].startswith("api rollback (undoes activation ") and cells[1][3] == "api"
    assert page.console_errors == []
    screenshot(page, "history", selector="#models-body .model:has(h3 code:text-is('lstm'))")
