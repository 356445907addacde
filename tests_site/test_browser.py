"""The built website in a real browser, with no network (``make site-test``; run after ``make book`` and
``make student``).

Headless Chromium (Debian's ``chromium``; Playwright drives it through ``executable_path``, so
``playwright install`` and its download are never needed) loads every page of the site served on
127.0.0.1. Every request to another host is refused and counted as a failure, so a page that needs
the network fails the test. On every page: no console error, no failed request, no HTTP error, every
image loaded, MathJax finished and no raw ``\\(`` or ``$$`` left in the text. Chapter pages: the
exercise blocks are there, with their solutions on the instructor site and none on the student site,
and the Colab and download buttons are well-formed. The search page finds the course's words.
Screenshots are never written into the repository.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="make site-test installs Playwright")

ROOT = Path(__file__).resolve().parents[1]
SITES = {"instructor": Path(os.environ.get("MMCL_EDU_HTML", ROOT / "_build" / "html")),
         "student": Path(os.environ.get("MMCL_EDU_STUDENT_HTML", ROOT / "_student" / "_build" / "html"))}
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Flags that keep Chromium off the network it would otherwise reach for at start (updates, sync, ...).
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions"]
COLAB = re.compile(r"^https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/(?P<branch>[\w.-]+)/"
                   r"book/ch\d\d_\w+\.ipynb$")
RAW_MATH = re.compile(r"\\\(|\\\)|\$\$")


def _pages(site: Path) -> list[str]:
    skip = {"_static", "_sources", "_images", "_sphinx_design_static"}
    def redirect(p):  # the root index.html only forwards to the first page, which is tested itself
        return 'http-equiv="Refresh"' in p.read_text(encoding="utf-8")[:2000]

    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                  if not skip & set(p.relative_to(site).parts) and p.name not in {"genindex.html", "search.html"}
                  and not redirect(p))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module", params=list(SITES))
def site(request):
    name, root = request.param, SITES[request.param]
    if not (root / "index.html").exists():
        pytest.fail(f"the {name} site is not built ({root}): run `make book` and `make student` first")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield name, root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.fail("no Chromium found: install Debian's `chromium` (apt-get install chromium) or set $CHROMIUM")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, base: str, path: str):
    """Load ``path`` with every off-site request refused; return (page, problems)."""
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    problems = []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            r.continue_()
        else:
            problems.append(f"needs the network: {r.request.url}")
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: urlparse(r.url).hostname == "127.0.0.1"
            and problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(f"{base}/{path}", wait_until="load")
    # MathJax 3 typesets asynchronously: wait for it where the page loads it.
    if page.query_selector('script[src*="mathjax"]'):
        page.wait_for_function("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
                               timeout=30_000)
        page.evaluate("() => window.MathJax.startup.promise")
    page.wait_for_load_state("networkidle")
    return context, page, problems


def test_every_page_loads_offline_with_math_and_figures(site, browser):
    name, root, base = site
    pages = _pages(root)
    assert len(pages) >= 10, pages
    failures = {}
    for path in pages:
        context, page, problems = _open(browser, base, path)
        text = page.inner_text("article") if page.query_selector("article") else page.inner_text("body")
        if RAW_MATH.search(text):
            problems.append(f"untypeset math: {RAW_MATH.search(text).group(0)!r} "
                            f"near {text[max(0, RAW_MATH.search(text).start() - 40):][:80]!r}")
        broken = page.evaluate("() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                               ".map(i => i.getAttribute('src'))")
        problems += [f"image not loaded: {src}" for src in broken]
        if "\\(" in (root / path).read_text(encoding="utf-8") and not page.query_selector("mjx-container"):
            problems.append("the page has math but MathJax rendered none")
        if problems:
            failures[path] = problems
        context.close()
    assert not failures, f"{name} site: {failures}"


def test_chapter_pages_have_exercises_solutions_and_launch_links(site, browser):
    name, root, base = site
    chapters = [p for p in _pages(root) if re.match(r"book/ch\d\d_", p)]
    assert chapters, "no chapter pages"
    failures = {}
    for path in chapters:
        context, page, problems = _open(browser, base, path)
        n_ex = len(page.query_selector_all("div.exercise"))
        n_sol = len(page.query_selector_all("div.solution, details.solution"))
        if n_ex == 0:
            problems.append("no exercise block")
        if name == "instructor" and n_sol == 0:
            problems.append("no solution block on the instructor site")
        if name == "student" and n_sol:
            problems.append(f"{n_sol} solution block(s) on the student site")
        links = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
        colab = [h for h in links if "colab.research.google.com" in h]
        want_branch = "student" if name == "student" else "main"
        if not colab:
            problems.append("no Colab launch link")
        for href in colab:
            m = COLAB.match(href)
            if not m or m["branch"] != want_branch or Path(path).stem not in href:
                problems.append(f"malformed Colab link {href!r} (want branch {want_branch}, this chapter)")
        downloads = [h for h in links if h.endswith(".ipynb") and "colab" not in h]
        for href in downloads:
            if urlparse(href).hostname == "127.0.0.1" and not (root / urlparse(href).path.lstrip("/")).exists():
                problems.append(f"download link to a missing file: {href}")
        if problems:
            failures[path] = problems
        context.close()
    assert not failures, f"{name} site: {failures}"


def test_the_root_forwards_to_the_first_page(site, browser):
    name, root, base = site
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/index.html")
    page.wait_for_url("**/book/intro.html", timeout=10_000)
    title = page.title()
    context.close()
    assert "Multimodal Contrastive Learning" in title, title


def test_search_finds_the_course(site, browser):
    name, root, base = site
    context, page, problems = _open(browser, base, "search.html?q=contrastive")
    page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    hits = page.query_selector_all("#search-results ul.search li")
    context.close()
    assert len(hits) >= 3 and not problems, (len(hits), problems)
