"""The report page and the balance report page in headless Chromium at 1280 px (issue 27): no
horizontal scroll, every image loaded, the scheme comparison shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_pages import page_check

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(demo_dir: Path) -> Path:
    return demo_dir             # the session's demo folder (tests/conftest.py), read only


@pytest.mark.parametrize("page", ["report/report.html", "balance/knn/report/report.html"])
def test_report_pages_fit_1280_px_and_every_image_loads(demo: Path, page: str) -> None:
    m = page_check(demo / page)
    assert m["scrollWidth"] <= m["clientWidth"], m
    assert not m["scrolling"], m
    assert len(m["images"]) >= 3 and all(i["ok"] for i in m["images"]), m["images"]
    assert all(i["width"] <= m["clientWidth"] for i in m["images"])


def test_the_report_compares_every_weighting_scheme(demo: Path) -> None:
    from avdata.weights import scheme_names

    html = (demo / "report" / "report.html").read_text()
    assert "schemes.png" in html and "Label balance under each weighting scheme" in html
    text = (demo / "report" / "report.txt").read_text()
    line = next(x for x in text.splitlines() if x.startswith("label balance by weighting scheme"))
    assert all(f"{name} " in line for name in scheme_names())
    assert "best for this index: " in text
    assert "segments_per_split</figcaption>" not in html          # captions say what a plot shows



def test_the_model_report_fits_and_shows_its_curves(demo: Path) -> None:
    """issue 19: avdata train's report.html (the demo trains a few epochs) in the browser."""
    m = page_check(demo / "train" / "report.html")
    assert m["scrollWidth"] <= m["clientWidth"], m
    assert len(m["images"]) == 1 and m["images"][0]["ok"], m["images"]
    html = (demo / "train" / "report.html").read_text()
    assert "validation AUC" in html and "261,601 parameters" in html
