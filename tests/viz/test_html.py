"""tg.viz.html: a self-contained page, stepped through in a real browser (headless Chromium).

The browser tests need Chromium (Debian's ``chromium`` package, on the PATH as ``chromium``) and
Graphviz's ``dot`` (Debian's ``graphviz``); Playwright, from the ``test`` extra, drives the system's
Chromium (it downloads no browser of its own). ``bash scripts/test.sh`` installs both as root; without
them these tests fail and say what to install.
"""

from __future__ import annotations

import html
import re
import shutil

import numpy as np
import pytest

import tapegrad as tg

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1280, 720  # a projector's resolution

VISIBLE_GRAPH_TEXT = """() => Array.from(document.querySelectorAll("#graph svg text"))
    .filter(t => getComputedStyle(t).visibility !== "hidden").map(t => t.textContent)"""
VISIBLE_STEPS = """() => Array.from(document.querySelectorAll("#steps li"))
    .filter(li => getComputedStyle(li).display !== "none").map(li => li.textContent)"""
PANEL = """() => Array.from(document.querySelectorAll("#lines div")).map(d => d.textContent)"""
LABEL_SIZES = """() => { const svg = document.querySelector("#graph svg"); const scale = svg.getScreenCTM().a;
    return Array.from(svg.querySelectorAll("text")).map(t => [t.textContent,
        parseFloat(getComputedStyle(t).fontSize) * scale, t.getBoundingClientRect().height]); }"""


def _needs_the_programs():
    if not shutil.which("dot"):
        pytest.fail("this test needs Graphviz's dot program: apt-get install graphviz (or brew install graphviz); "
                    "bash scripts/test.sh installs it")
    if not CHROMIUM:
        pytest.fail("this test needs Chromium on the PATH as 'chromium': apt-get install chromium; "
                    "bash scripts/test.sh installs it")


def _lecture(tmp_path):
    """The Czech lecture's z = (x1 + 3*x2)**2 at x1 = 1, x2 = 2: z = 49, dz/dx1 = 14, dz/dx2 = 42."""
    x1 = tg.tensor(1.0, dtype=np.float64, requires_grad=True, name="x1")
    x2 = tg.tensor(2.0, dtype=np.float64, requires_grad=True, name="x2")
    z = (x1 + 3 * x2) ** 2
    z.name = "z"
    z.backward()
    return z, tg.viz.html(z, tmp_path / "z.html")


def _copy_adds(tmp_path):
    """f = x*y + x at x = 3, y = -4: x is used twice, so its gradient is the sum 1 + (-4) = -3."""
    x = tg.tensor(3.0, dtype=np.float64, requires_grad=True, name="x")
    y = tg.tensor(-4.0, dtype=np.float64, requires_grad=True, name="y")
    f = x * y + x
    f.name = "f"
    f.backward()
    assert x.grad.item() == -3.0 and y.grad.item() == 3.0
    return f, tg.viz.html(f, tmp_path / "f.html")


class Browser:
    """Headless Chromium at 1280x720 on one page, collecting errors and every request it makes."""

    def __init__(self, playwright, path):
        self.browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        self.page = self.browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        self.problems, self.requests = [], []
        self.page.on("console", lambda message: self.problems.append(message.text)
                     if message.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(path.as_uri())

    def graph(self):
        return self.page.evaluate(VISIBLE_GRAPH_TEXT)

    def steps(self):
        return self.page.evaluate(VISIBLE_STEPS)

    def panel(self):
        return self.page.evaluate(PANEL)

    def counter(self):
        return self.page.inner_text("#counter")


@pytest.fixture
def open_page():
    """Opens a page in headless Chromium; closes the browser after the test."""
    from playwright.sync_api import sync_playwright

    _needs_the_programs()
    playwright = sync_playwright().start()
    opened = []

    def open_(path):
        opened.append(Browser(playwright, path))
        return opened[-1]

    yield open_
    for browser in opened:
        browser.browser.close()
    playwright.stop()


def test_the_page_is_one_file_that_loads_nothing(tmp_path):
    z, path = _lecture(tmp_path)
    text = path.read_text()
    walk = tg.viz.walkthrough(z)
    assert "<svg" in text and all(step.text in text for step in walk.steps)
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text)  # no script, style or image from elsewhere
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    assert not list(tmp_path.glob(".z.html.*"))  # the temporary file of the atomic write is gone


def test_stepping_reveals_each_value_then_each_gradient_in_order(tmp_path, open_page):
    z, path = _lecture(tmp_path)
    walk = tg.viz.walkthrough(z)
    texts = [step.text for step in walk.steps]
    browser = open_page(path)
    page = browser.page
    # the start: the graph, its inputs x1 = 1 and x2 = 2 and the constants 3 and 2; nothing computed
    assert browser.counter() == "step 0 of 7"
    numbers = [t for t in browser.graph() if re.fullmatch(r"-?[0-9.]+", t)]
    assert sorted(numbers) == ["1", "2", "2", "3"]  # x1, x2, and the constants 3 and 2 (of y**2)
    assert {"x1", "x2", "z"} <= set(browser.graph())
    assert not [t for t in browser.graph() if t.startswith("dz/")]
    assert browser.steps() == []
    page.screenshot(path=str(tmp_path / "start.png"))

    page.keyboard.press("ArrowRight")  # (1) x2' := 3 * x2 = 6
    assert "6" in browser.graph() and not {"7", "49"} & set(browser.graph())
    assert browser.steps() == texts[:1] and browser.panel() == [texts[0]]
    assert page.locator("#graph g.node.current").count() == 1
    page.keyboard.press("n")  # (2) y := x1 + x2' = 7
    assert {"6", "7"} <= set(browser.graph()) and "49" not in browser.graph()
    page.click("#next")  # (3) z := y**2 = 49
    assert {"6", "7", "49"} <= set(browser.graph())
    assert browser.steps() == texts[:3]
    assert not {"14", "42"} & set(browser.graph()) and browser.graph().count("1") == 1  # no gradient yet
    assert not [t for t in browser.graph() if t.startswith("dz/")]
    page.screenshot(path=str(tmp_path / "forward-done.png"))

    page.keyboard.press("ArrowRight")  # (4) dz/dz := 1: the seed, on the arrow into the output
    assert browser.page.text_content("#phase") == "backward (4)"
    assert browser.graph().count("1") == 2  # x1's value, and now the seed
    assert browser.panel()[0] == "dz/dz = 1"
    page.keyboard.press("ArrowRight")  # (3) dz/dy = dz/dz x 2y = 1 x 14 = 14
    assert browser.graph().count("14") == 1 and "42" not in browser.graph()
    (flow,) = walk.backward[1].flows  # the names and the local derivative's text, as explain writes them
    assert [line.strip() for line in browser.panel()[1:]] == [
        f"dz/d{flow.name} = dz/dz \u00d7 {flow.local}", "= 1 \u00d7 14 = 14"]
    page.screenshot(path=str(tmp_path / "backward-3.png"))
    page.keyboard.press("ArrowRight")  # (2) dz/dx1 = 14 x 1 = 14 and dz/dx2' = 14 x 1 = 14
    assert browser.graph().count("14") == 3 and "dz/dx1 = 14" in browser.graph()
    assert "42" not in browser.graph() and "dz/dx2 = 42" not in browser.graph()
    assert [line.strip() for line in browser.panel() if line.strip().startswith("=")] == [
        "= 14 \u00d7 1 = 14", "= 14 \u00d7 1 = 14"]
    page.keyboard.press("ArrowRight")  # (1) dz/dx2 = dz/dx2' x 3 = 14 x 3 = 42
    assert {"42", "dz/dx2 = 42", "dz/dx1 = 14"} <= set(browser.graph())
    assert browser.panel()[-1].strip() == "= 14 \u00d7 3 = 42"
    assert browser.steps() == texts and browser.counter() == "step 7 of 7"
    page.screenshot(path=str(tmp_path / "backward-done.png"))

    page.keyboard.press("ArrowRight")  # past the end: stays
    assert browser.counter() == "step 7 of 7"
    page.keyboard.press("p")
    assert "42" not in browser.graph() and browser.steps() == texts[:6]  # going back hides again
    page.keyboard.press("Home")
    assert browser.counter() == "step 0 of 7" and "6" not in browser.graph()
    page.keyboard.press("End")
    assert "dz/dx2 = 42" in browser.graph()
    page.click("#first")
    assert browser.steps() == []
    page.click("#last")
    page.click("#prev")
    assert browser.counter() == "step 6 of 7"
    page.locator("#steps li").nth(1).click()  # a step of the list jumps to it
    assert browser.counter() == "step 2 of 7" and "49" not in browser.graph()
    assert not browser.problems
    assert all(url.startswith("file:") for url in browser.requests), browser.requests
    assert (tmp_path / "backward-done.png").read_bytes()[:4] == b"\x89PNG"


def test_a_variable_used_twice_gets_the_sum_when_its_last_use_comes(tmp_path, open_page):
    f, path = _copy_adds(tmp_path)
    browser = open_page(path)
    page = browser.page
    page.keyboard.press("ArrowRight")
    assert "-12" in browser.graph() and "-9" not in browser.graph()  # (1) q = x * y = -12
    page.keyboard.press("ArrowRight")
    assert "-9" in browser.graph()  # (2) f = q + x = -9
    page.keyboard.press("ArrowRight")  # (3) df/df = 1
    page.keyboard.press("ArrowRight")  # (2): x's first share, 1; its box does not show its gradient yet
    assert "df/dx = -3" not in browser.graph() and browser.graph().count("-4") == 1  # only y's value
    page.keyboard.press("ArrowRight")  # (1): x's second share, 1 x y = -4; the sum 1 + -4 = -3 in its box
    graph = browser.graph()
    assert {"df/dx = -3", "df/dy = 3"} <= set(graph) and graph.count("-4") == 2
    panel = [line.strip() for line in browser.panel()]
    assert "= 1 \u00d7 -4 = -4" in panel and "= 1 \u00d7 3 = 3" in panel
    assert "x is used 2 times, so its gradients add up: df/dx = 1 + -4 = -3" in panel
    page.screenshot(path=str(tmp_path / "copy-adds.png"))
    assert not browser.problems


def test_labels_are_at_least_16_px_and_the_graph_fills_the_width_at_1280x720(tmp_path, open_page):
    _, path = _lecture(tmp_path)
    browser = open_page(path)
    page = browser.page
    page.keyboard.press("End")
    sizes = page.evaluate(LABEL_SIZES)
    assert len(sizes) > 20
    small = [(text, px, height) for text, px, height in sizes if px < 16 or height < 16]
    assert not small, small
    width = page.evaluate("() => document.querySelector('#graph svg').getBoundingClientRect().width")
    assert width > 0.9 * WIDTH
    # the current step stays on screen with the graph: no scrolling to read it
    bottom = page.evaluate("() => document.querySelector('#lines').getBoundingClientRect().bottom")
    assert bottom <= HEIGHT
    # a graph too wide to fit at 16 px scrolls sideways instead of shrinking its labels
    x = tg.tensor(0.5, dtype=np.float64, requires_grad=True, name="x")
    y = x
    for _ in range(30):
        y = (y * 1.1).sin()
    y.backward()
    page.goto(tg.viz.html(y, tmp_path / "wide.html").as_uri())
    sizes = page.evaluate(LABEL_SIZES)
    assert min(px for _, px, _ in sizes) >= 16
    assert page.evaluate("() => document.getElementById('graph').scrollWidth") > WIDTH
    assert not browser.problems


def test_before_backward_the_page_has_the_forward_steps_only(tmp_path):
    _needs_the_programs()
    x = tg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, name="x")
    w = tg.tensor(np.array([0.5, 0.3, 1.0]), requires_grad=True, name="w")
    q = (w * x).sum().sigmoid()
    text = tg.viz.html(q, tmp_path / "q.html").read_text()
    assert '"phase": "forward (2)"' in text and '"phase": "backward' not in text
    assert "[0.5, -0.6, 3]" in html.unescape(text)  # w * x on the graph: a vector of three, with its values


def test_bad_arguments_large_graphs_and_leaves_are_refused_clearly(tmp_path):
    x = tg.tensor(1.0, dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(300):
        y = y * 1.0
    with pytest.raises(tg.viz.VizError, match="more than max_nodes=200"):
        tg.viz.html(y, tmp_path / "big.html")
    with pytest.raises(tg.viz.VizError, match="leaf"):
        tg.viz.html(x, tmp_path / "leaf.html")
    with pytest.raises(tg.viz.VizError, match="expected a Tensor"):
        tg.viz.html([1.0], tmp_path / "list.html")
    assert not list(tmp_path.iterdir())


def test_a_missing_dot_program_says_what_to_install_and_writes_nothing(tmp_path, monkeypatch):
    x = tg.tensor(2.0, dtype=np.float64, requires_grad=True, name="x")
    y = x * x
    y.backward()
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on it
    with pytest.raises(tg.viz.VizError, match="apt-get install graphviz"):
        tg.viz.html(y, tmp_path / "y.html")
    assert not (tmp_path / "y.html").exists()
