"""The HTML report opened in headless Chromium: charts render offline with no console errors."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# The browser and its driver, each or both missing; CI (.ci/run) installs both, so a skip there is a defect.
MISSING = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", Path(CHROMEDRIVER))) if not path.exists()]
CHARTS = ("llmgate-accuracy", "llmgate-cost", "llmgate-latency")
BROWSER_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,2400",
)


@pytest.mark.slow
@pytest.mark.skipif(
    bool(MISSING),
    reason=f"{' and '.join(MISSING)} not found: needs Debian's chromium and chromium-driver "
    "(apt-get install -y chromium chromium-driver)",
)
def test_html_report_renders_in_chromium(compare_suite: pytest.Pytester, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    compare_suite.runpytest("--llm-backend=prompt", "--llm-backend=tuned", "--llm-report-html=report.html")
    report = compare_suite.path / "report.html"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (*BROWSER_ARGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(report.as_uri())
        rendered = "return " + " && ".join(f"!!document.querySelector('#{chart} svg.main-svg')" for chart in CHARTS)
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(rendered))
        for chart in CHARTS:
            marks = driver.find_elements(By.CSS_SELECTOR, f"#{chart} svg.main-svg g.trace")
            assert marks, f"chart {chart} drew no traces"
        console = driver.get_log("browser")
        screenshot = tmp_path / "report.png"
        assert driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    assert [entry for entry in console if entry["level"] == "SEVERE"] == []
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 1000 and height >= 1000
    assert len(data) > 50_000  # a blank page compresses to a few kilobytes
