"""Every built report in headless Chromium (reports/browser.py): no console error, every
embedded image decodes, and nothing but a table's own scrolling box is wider than 1280 px.
Skips, with its reason, only where no Chromium is installed (.ci/run installs Debian's)."""
from pathlib import Path

import pytest
from PIL import Image

from report_fixture import build_fixture
from reports import browser, build

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = browser.find()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (Debian: "
                                "apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory):
    fixture = build_fixture(tmp_path_factory.mktemp("browser"))
    build.main(fixture["argv"])
    return fixture["base"] / "reports" / "demo.html"


def test_the_fixture_report_loads_cleanly_at_1280_px(fixture_report, tmp_path):
    result = browser.check(fixture_report, tmp_path / "shots")
    assert browser.problems(result) == []
    # every <img> of the page (the count test_report checks), decoded
    assert result["images"] == fixture_report.read_text().count("<img ") == 87
    assert result["width"] <= browser.WIDTH
    assert result["shots"] == list(browser.TARGETS)
    for name in result["shots"]:
        with Image.open(tmp_path / "shots" / f"{name}.png") as shot:
            assert shot.size == (browser.WIDTH, browser.HEIGHT)


BUILT = sorted(p for p in (ROOT / "reports").glob("*.html") if p.name != "template.html")


@pytest.mark.parametrize("page", BUILT, ids=lambda page: page.name)
def test_each_built_report_loads_cleanly_at_1280_px(page):
    result = browser.check(page)
    assert browser.problems(result) == [] and result["images"] > 0


def test_a_broken_page_is_caught(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA" alt="bad">'
                    '<div style="width: 2000px">wide</div>'
                    "<script>console.error('planted')</script></body></html>")
    found = browser.problems(browser.check(page))
    assert any("console.error: planted" in f for f in found)
    assert any("does not decode: image 0 (bad)" in f for f in found)
    assert any("the page is 20" in f and "px wide in a 1280 px window" in f for f in found)
