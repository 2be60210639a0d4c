"""The web page in a real headless Chromium (Playwright): paste, diff, scores, reasons, downloads, keyboard.

Needs the Debian `chromium` package (/usr/bin/chromium) and the `playwright` Python package; the
browser Playwright would download is not used.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from srllm.engine.protocol import WrappedEngine
from srllm.rewrite import RewriteResult
from srllm.serve import create_app
from srllm.serve.keys import KeyStore

CHROMIUM = Path(os.environ.get("SRLLM_CHROMIUM", "/usr/bin/chromium"))
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


class WordGuard(WrappedEngine):
    """Stands in for the guard (verify, flag) over the real Rewriter, with a predictable rewrite to diff."""

    def __init__(self, rewriter: Any) -> None:
        self.rewriter = rewriter

    def rewrite(self, texts: list[str], *, batch_size: int = 8) -> list[dict[str, Any]]:
        rows = []
        for result in self.rewriter.rewrite(texts, batch_size=batch_size):
            row = RewriteResult.to_dict(result)
            row["rewrite"] = re.sub(r"\bidiot\b", "colleague", result.text).replace("always", "sometimes")
            flagged = "stupid" in result.text
            row.update(status="flagged" if flagged else "ok",
                       scores={"toxicity": 0.81 if flagged else 0.04, "bias": 0.12, "similarity": 0.93,
                               "input_stereotype": 0.71, "facts_missing": 1.0 if flagged else 0.0},
                       reasons=["toxicity 0.81 is above 0.5 after 2 tries"] if flagged else [],
                       spans=[{"start": m.start(), "end": m.end(), "label": "toxic", "text": m.group(0), "score": 0.9}
                              for m in re.finditer(r"\bidiot\b", result.text)])
            rows.append(row)
        return rows


@pytest.fixture
def page_server(make_settings, tiny_rewriter, serve_live):
    settings = make_settings(require_key=True)
    token, _ = KeyStore(settings.keys_path).create("browser")
    with serve_live(create_app(settings, WordGuard(tiny_rewriter))) as url:
        yield url, token


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def enter_key_and_rewrite(page: Any, url: str, token: str, lines: list[str]) -> None:
    page.goto(url + "/")
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Use key").click()
    page.get_by_label("Paste text").fill("\n".join(lines))
    page.get_by_label("Paste text").press("Control+Enter")
    page.locator("article.pair").nth(len(lines) - 1).wait_for()


def test_page_rewrites_shows_diff_scores_and_reasons(page_server, browser, tmp_path):
    url, token = page_server
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    enter_key_and_rewrite(page, url, token, ["You idiot, you always break the build.",
                                             "That stupid idiot should be fired."])
    assert page.locator("#summary").inner_text() == "2 texts rewritten, 1 flagged."
    first = page.locator("article.pair").nth(0)
    assert first.locator("del.removed").all_inner_texts() == ["idiot,", "always"]
    assert first.locator("ins.added").all_inner_texts() == ["colleague,", "sometimes"]
    assert first.locator("meter").count() == 4  # facts_missing is a count: a number, no meter
    # One friendly label per score, never the raw key; the direction rides along.
    labels = first.locator(".scores dt").all_inner_texts()
    assert labels == ["Toxicity (Jigsaw)", "Bias (screen)", "Meaning kept", "Original: stereotype", "Facts dropped"]
    assert "lower is better; passes at ≤ 0.5" in first.locator("dt[data-key=toxicity]").get_attribute("title")
    assert "higher is better" in first.locator("dt[data-key=similarity]").get_attribute("title")
    assert first.locator("mark.harm.toxic").all_inner_texts() == ["idiot"]  # the judge's span, at its offsets
    assert "Meaning kept" in first.inner_text() and "0.93" in first.inner_text()
    second = page.locator("article.pair").nth(1)
    assert second.locator(".badge").inner_text() == "flagged"
    assert second.locator(".reasons li").all_inner_texts() == ["toxicity 0.81 is above 0.5 after 2 tries"]
    # Screen readers hear the results; focus moves to them.
    assert page.locator("#results").get_attribute("aria-live") == "polite"
    assert page.evaluate("document.activeElement.id") == "results-heading"
    # The key stays in this tab only.
    assert page.evaluate("sessionStorage.getItem('srllm-api-key')") == token
    assert page.evaluate("localStorage.length") == 0
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    csv_text = Path(download.value.path()).read_text()
    assert csv_text.splitlines()[0].startswith("text,rewrite,status,scores,reasons")
    assert "colleague" in csv_text
    with page.expect_download() as download:
        page.get_by_role("button", name="Download JSONL").click()
    rows = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [row["status"] for row in rows] == ["ok", "flagged"]
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert errors == []


def test_page_shows_a_spinner_while_pasted_text_is_rewritten_and_a_score_legend(page_server, browser):
    url, token = page_server
    page = browser.new_page()
    held: list[Any] = []
    page.route("**/v1/rewrite", lambda route: held.append(route))  # hold the request: the page waits
    page.goto(url + "/")
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Use key").click()
    assert page.locator("#busy").is_hidden()
    page.get_by_label("Paste text").fill("You idiot, you always break the build.")
    page.get_by_role("button", name="Rewrite", exact=True).click()
    page.wait_for_function("document.getElementById('busy').hidden === false")
    assert page.locator("#results").get_attribute("aria-busy") == "true"
    assert page.locator("#summary").inner_text() == "Rewriting 1 text…"
    held[0].continue_()
    page.locator("article.pair").first.wait_for()
    assert page.locator("#busy").is_hidden()
    assert page.locator("#results").get_attribute("aria-busy") == "false"
    page.locator("#score-legend summary").click()
    rows = page.locator("#score-legend-rows tr").all_inner_texts()
    assert any(row.startswith("Stereotype") and "lower is better" in row for row in rows)
    assert any(row.startswith("Meaning kept") and "≥ 0.6" in row for row in rows)


def test_page_works_by_keyboard_and_reports_a_missing_key(page_server, browser):
    url, _ = page_server
    page = browser.new_page()
    page.goto(url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to results"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "api-key"
    for control_id in ("text-input", "file-input"):  # every control has a label
        assert page.locator(f"label[for={control_id}]").count() == 1
    page.locator("#text-input").focus()
    page.keyboard.type("hello there")
    page.keyboard.press("Control+Enter")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "API key" in alert.inner_text()
    assert page.evaluate("document.activeElement.id") == "api-key"


def test_page_uploads_a_file_and_shows_the_job_results(page_server, browser, tmp_path):
    url, token = page_server
    upload = tmp_path / "comments.jsonl"
    upload.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                              for i, t in enumerate(["You idiot.", "Nice work today."])))
    page = browser.new_page()
    page.goto(url + "/")
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Use key").click()
    page.locator("#file-input").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and rewrite").click()
    page.locator("article.pair").nth(1).wait_for(timeout=60_000)
    assert page.locator("article.pair").nth(0).locator("ins.added").all_inner_texts() == ["colleague."]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SRLLM_UPDATE_SCREENSHOT"), reason="set SRLLM_UPDATE_SCREENSHOT=1 to "
                    "retake docs/screenshot-page.png with the default model")
def test_take_the_docs_screenshot_with_the_default_model(make_settings, serve_live, browser):
    from srllm.rewrite import GenerationSettings
    from srllm.rewrite.guard import load_rewriter

    # What `srllm serve` runs by default: the shipped adapter inside the guard.
    rewriter = load_rewriter(guard=True, adapter="auto", settings=GenerationSettings(max_new_tokens=64))
    scorers = ["toxicity", "bias", "similarity"]
    settings = make_settings(require_key=True, request_timeout_s=900, rewrite_scorers=scorers, scorers=scorers)
    token, _ = KeyStore(settings.keys_path).create("screenshot")
    with serve_live(create_app(settings, rewriter)) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(300_000)
        enter_key_and_rewrite(page, url, token, [
            "Old people are too slow to learn our new software, so skip them in the training.",
            "That idiot from accounting broke the printer again, women just can't handle machines.",
        ])
        page.screenshot(path=str(REPO / "docs" / "screenshot-page.png"), full_page=True)


@pytest.mark.parametrize(("path", "title"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")])
def test_api_reference_pages_render_offline_under_their_csp(make_settings, serve_live, browser, path, title):
    page = browser.new_page()
    errors: list[str] = []
    fetched: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("requestfinished", lambda request: fetched.append(request.url))
    with serve_live(create_app(make_settings())) as url:
        page.goto(url + path)
        page.locator(title).first.wait_for(timeout=60_000)
        assert page.locator(title).first.inner_text().startswith("srllm")
        page.wait_for_load_state("networkidle")
    assert [u for u in fetched if not u.startswith((url, "data:", "blob:"))] == []
    # What the CSP refused is the point of it (ReDoc's footer logo on cdn.redoc.ly); nothing else may fail.
    assert [e for e in errors if "Content Security Policy" not in e] == [], errors
    assert all("cdn.redoc.ly" in e for e in errors), errors
