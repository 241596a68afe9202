"""The built documentation site, opened in a headless Chromium.

Run after building the site (README, "Documentation"):

    python -m pytest docs/tests

It is not part of the main test suite (``python -m pytest`` collects ``tests/`` only). The
site is looked for in ``docs/_build/html`` (or the directory in ``WIDENET_DOCS_HTML``) and
Chromium as ``chromium`` on the path (or the program in ``WIDENET_CHROMIUM``); the
screenshots of the index and of a gallery page go to ``docs/_build/screenshots``.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("WIDENET_DOCS_HTML", DOCS / "_build" / "html"))
SCREENSHOTS = SITE.parent / "screenshots"
API_PAGE = "api/generated/widenet.ShallowNetwork.html"
GALLERY_PAGE = "experiments/figure-11-3.html"
PUBLIC_MODULES = ("widenet", "widenet.predict", "widenet.distributed")


class _Page(HTMLParser):
    """What a test needs from a page's DOM: its navigation, search box, images and definitions."""

    def __init__(self) -> None:
        super().__init__()
        self.navigation = 0
        self.search_boxes = 0
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "nav" or "sidebar-tree" in classes:
            self.navigation += 1
        if tag == "input" and attributes.get("name") == "q":
            self.search_boxes += 1
        if tag == "img" and attributes.get("src"):
            self.images.append(attributes["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _chromium() -> str:
    program = os.environ.get("WIDENET_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if program is None:
        pytest.fail("Chromium is not installed (Debian: apt-get install chromium)")
    return program


def _run_chromium(tmp_path: Path, *arguments: str) -> str:
    """Run headless Chromium with ``arguments``; return what it printed on stdout."""
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _page(name: str) -> Path:
    path = SITE / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the site first (README, 'Documentation')")
    return path


def _rendered(tmp_path: Path, name: str) -> _Page:
    """Open the page ``name`` in the browser, scripts run; return its DOM's parts."""
    dom = _run_chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", _page(name).as_uri())
    parsed = _Page()
    parsed.feed(dom)
    return parsed


def _screenshot(tmp_path: Path, name: str, target: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / target
    path.unlink(missing_ok=True)
    _run_chromium(tmp_path, "--window-size=1280,1400", "--virtual-time-budget=5000", f"--screenshot={path}",
                  _page(name).as_uri())
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000, "the screenshot is (nearly) blank"


def _assert_figure(page: _Page, name: str) -> None:
    """At least one image, every image a file of the site."""
    assert page.images, f"{name} shows no figure"
    for source in page.images:
        assert not source.startswith(("http:", "https:", "//")), source
        assert (SITE / name).parent.joinpath(source.split("#")[0]).resolve().is_file(), source


@pytest.mark.parametrize("name", ["index.html", API_PAGE, GALLERY_PAGE])
def test_page_renders_with_navigation_and_search(tmp_path: Path, name: str) -> None:
    page = _rendered(tmp_path, name)
    assert page.navigation, f"{name} has no navigation"
    assert page.search_boxes, f"{name} has no search box"
    _assert_figure(page, name)


def test_api_page_documents_the_class(tmp_path: Path) -> None:
    page = _rendered(tmp_path, API_PAGE)
    text = re.sub(r"\s+", " ", " ".join(page.text))
    assert "ShallowNetwork" in text and "Parameters" in text and "Examples" in text
    # the examples that use the class, as a gallery of their figures' thumbnails
    assert "Examples using ShallowNetwork" in text
    thumbnails = [source for source in page.images if source.endswith("_thumb.png")]
    assert thumbnails, page.images


@pytest.mark.parametrize(("name", "target"), [("index.html", "index.png"), (GALLERY_PAGE, "gallery.png")])
def test_screenshot(tmp_path: Path, name: str, target: str) -> None:
    _screenshot(tmp_path, name, target)


def test_every_experiment_has_a_gallery_page_with_its_figure() -> None:
    from widenet.app.experiments import EXPERIMENTS

    for name in EXPERIMENTS:
        page = _Page()
        page.feed(_page(f"experiments/{name}.html").read_text(encoding="utf-8"))
        _assert_figure(page, f"experiments/{name}.html")


def test_every_public_name_has_a_page() -> None:
    missing = []
    for module in PUBLIC_MODULES:
        for name in importlib.import_module(module).__all__:
            page = SITE / "api" / "generated" / f"{module}.{name}.html"
            if not page.is_file():
                missing.append(f"{module}.{name}")
    assert not missing, missing


def test_nothing_is_loaded_from_the_web() -> None:
    """Scripts, stylesheets, fonts and images come from the site itself, so it opens offline."""
    remote = re.compile(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?//""", re.IGNORECASE)
    loaded = [f"{page.relative_to(SITE)}: {match.group(0)}" for page in SITE.rglob("*.html")
              for match in remote.finditer(page.read_text(encoding="utf-8"))]
    assert not loaded, loaded[:10]
    styles = [path for path in SITE.rglob("*.css") if re.search(r"@import\s+url\(\s*['\"]?https?:",
                                                                path.read_text(encoding="utf-8"))]
    assert not styles, styles
