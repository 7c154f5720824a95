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


needs_chromium = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{' and '.join(MISSING)} not found: needs Debian's chromium and chromium-driver "
    "(apt-get install -y chromium chromium-driver)",
)


@pytest.mark.slow
@needs_chromium
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


ATTACK = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> charged twice'
EDGE_CASES = f"""
defaults:
  format: {{one_of: [billing, technical, general, feature_request]}}
cases:
  - id: attack-markup
    input: '{ATTACK}'
    expect: {{label: billing}}
  - id: vague
    input: it does not work
    expect: {{label: technical}}
"""


def _browser(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (*BROWSER_ARGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


@pytest.mark.slow
@needs_chromium
def test_case_table_filters_and_search_in_chromium(compare_suite: pytest.Pytester, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    compare_suite.makefile(".llm.yaml", edge=EDGE_CASES)
    compare_suite.runpytest("--llm-backend=prompt", "--llm-backend=tuned", "--llm-report-html=report.html")
    report = compare_suite.path / "report.html"
    driver = _browser(tmp_path)

    def visible() -> list[list[str]]:
        rows = driver.find_elements(By.CSS_SELECTOR, "#llmgate-cases tbody tr")
        return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]

    def choose(key: str, value: str) -> None:
        Select(driver.find_element(By.ID, f"llmgate-filter-{key}")).select_by_value(value)

    try:
        driver.get(report.as_uri())
        first = driver.find_element(By.CSS_SELECTOR, "body > *:first-child")
        assert first.get_attribute("id") == "llmgate-verdict" and first.text.startswith("llmgate: ")
        everything = visible()
        assert len(everything) == 10  # 5 cases on 2 backends
        assert driver.find_element(By.ID, "llmgate-shown").text == "10 of 10 shown"

        choose("backend", "tuned")
        assert sorted(r[1] for r in visible()) == ["tuned"] * 5
        choose("category", "edge")
        assert sorted(r[0] for r in visible()) == ["edge.llm.yaml::attack-markup", "edge.llm.yaml::vague"]
        choose("backend", "")
        choose("category", "")
        choose("status", "FAIL")
        failed = visible()
        assert failed and {r[3] for r in failed} == {"FAIL"}
        # prompt answers 'billing' for dark mode: its miss is listed, tuned's right answer is not
        assert ["common.llm.yaml::dark-mode", "prompt"] in [r[:2] for r in failed]
        assert ["common.llm.yaml::dark-mode", "tuned"] not in [r[:2] for r in failed]
        assert driver.find_element(By.CSS_SELECTOR, "#llmgate-cases tbody td.fail").text == "FAIL"
        choose("status", "")

        search = driver.find_element(By.ID, "llmgate-search")
        search.send_keys("CRASHES")  # case-insensitive, over every column
        assert sorted((r[0], r[1]) for r in visible()) == [
            ("common.llm.yaml::app-crash", "prompt"),
            ("common.llm.yaml::app-crash", "tuned"),
        ]
        search.clear()
        search.send_keys("onerror")
        attacked = visible()
        assert len(attacked) == 2 and all(r[4] == ATTACK for r in attacked)  # the markup shows as text
        assert driver.execute_script("return window.__pwned === undefined")
        assert driver.find_elements(By.CSS_SELECTOR, "#llmgate-cases img") == []
        search.clear()
        search.send_keys("no such text anywhere")
        assert visible() == []
        assert driver.find_element(By.ID, "llmgate-shown").text == "0 of 10 shown"
    finally:
        driver.quit()
    page = report.read_text()
    assert "<script>window.__pwned" not in page  # escaped in the failures table, \u003c in the JSON block
