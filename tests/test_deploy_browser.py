"""The web page end to end in a real headless browser (Debian's chromium driven by Playwright).

The test never installs anything: it is skipped, saying what is missing, without the ``playwright`` package
(the ``browser`` extra, part of ``[all]``) or a chromium/chrome binary on PATH. ``.ci/run`` installs both
(Debian ``chromium`` when it runs as root with apt). Playwright's own browser download is never used: it
drives the system chromium. The screenshot of the solved page is written to pytest's temporary directory
(its path is printed) and, if ``TRM_SCREENSHOT_DIR`` is set, copied there.
"""

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
uvicorn = pytest.importorskip(
    "uvicorn", reason="the serve extra is not installed (pip install -e '.[serve]')"
)

from trm.checkpoint import save_model  # noqa: E402
from trm.deploy.server import create_app  # noqa: E402

from .test_deploy_pretrained import make_sudoku_model  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _find_browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@pytest.fixture
def chromium() -> str:
    """The system browser's path; skip (never install) when it or Playwright is missing."""
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[browser]')"
    )
    path = _find_browser()
    if path is None:
        pytest.skip(
            f"no chromium/chrome binary on PATH (looked for {', '.join(BROWSERS)}; "
            "on Debian: apt-get install chromium)"
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(path):
    """``trm serve path`` on a free port, in a thread: its URL."""
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(path), host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


@pytest.fixture
def server(tmp_path):
    model, cfg = make_sudoku_model()
    save_model(tmp_path / "m", model, cfg)
    with serving(tmp_path / "m") as url:
        yield url


def test_page_solves_and_shows_steps(chromium, server, tmp_path):
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "trm-serve-page.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            page.goto(server + "/")
            page.wait_for_selector("body[data-state=ready]", timeout=15_000)
            assert "sudoku6_mlp" in page.text_content("#model-line")
            page.click("#generate")
            page.wait_for_function("document.getElementById('puzzle').value.length > 0", timeout=15_000)
            puzzle = page.input_value("#puzzle")
            assert len("".join(puzzle.split())) == 36
            page.select_option("#mode", "official")
            page.fill("#budget", "0")  # the protocol once: a barely trained model would climb the ladder
            page.click("#solve")
            page.wait_for_selector("body[data-state=done]", timeout=30_000)
            assert page.locator("#grid .cell").count() == 36
            status = page.text_content("#status")
            steps = int(status.split("done: ")[1].split(" ")[0])
            assert steps == 8  # official mode: N_sup steps
            assert page.locator("#conf-chart .bar").count() == steps
            assert page.text_content("#step-line").startswith(f"step {steps} / {steps}")
            verdict = page.text_content("#verdict")
            assert "verifier" in verdict or "no verified answer" in verdict
            flagged = page.locator("#grid .cell.wrong").count()
            if "rejects" in verdict or "no verified answer" in verdict:
                assert flagged > 0 and page.locator("#errors li").count() > 0
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
    if os.environ.get("TRM_SCREENSHOT_DIR"):
        dest = Path(os.environ["TRM_SCREENSHOT_DIR"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, dest / shot.name)
