"""tg.viz.html: a self-contained page, stepped through in a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import tapegrad as tg

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _page(tmp_path):
    x1 = tg.tensor(1.0, dtype=np.float64, requires_grad=True, name="x1")
    x2 = tg.tensor(2.0, dtype=np.float64, requires_grad=True, name="x2")
    z = (x1 + 3 * x2) ** 2
    z.backward()
    return tg.viz.html(z, tmp_path / "z.html")


def test_the_page_is_one_file_that_loads_nothing(tmp_path):
    text = _page(tmp_path).read_text()
    assert "<svg" in text and "x2' := 3 * x2 = 6" in text and "dz/dx2 := dz/dx2' * 3 = 42" in text
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text)  # no script, style or image from elsewhere
    assert "<script src" not in text and "<link" not in text


def test_large_graphs_and_leaves_are_refused_clearly(tmp_path):
    x = tg.tensor(1.0, dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(300):
        y = y * 1.0
    with pytest.raises(tg.viz.VizError, match="more than max_nodes=200"):
        tg.viz.html(y, tmp_path / "big.html")
    with pytest.raises(tg.viz.VizError, match="leaf"):
        tg.viz.html(x, tmp_path / "leaf.html")


def test_stepping_through_in_headless_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Debian's chromium package must be installed (.ci/run installs it)"
    path = _page(tmp_path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        problems = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(path.as_uri())
        assert page.inner_text("#counter") == "step 1 of 7"
        assert page.inner_text("#text") == "(1) x2' := 3 * x2 = 6"
        assert page.locator("g.node.current").count() == 1
        page.click("#next")
        assert page.inner_text("#text") == "(2) y := x1 + x2' = 7"
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        assert page.text_content("#phase") == "backward"
        assert page.inner_text("#text") == "(3) dz/dy := dz/dz * 2y = 14"
        page.click("#prev")
        assert page.inner_text("#text") == "(4) dz/dz := 1"
        page.screenshot(path=str(tmp_path / "page.png"))
        browser.close()
    assert not problems
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG"
