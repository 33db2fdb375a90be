"""The ui=gradio bake's demo form, used the way a person uses it: in a real (headless) browser.

The bake is installed and trained, served by its own ``serve`` command (uvicorn) on a free port of
127.0.0.1, and the system Chromium (Debian's package, installed by ``.ci/setup-browser.sh``; no
browser is downloaded) opens /ui through selenium: zones picked by name, distance and time typed,
the form submitted, and the prediction read from the page and compared with POST /predict.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from .baking import InstalledProject
from .test_serving import Server, call, start

pytestmark = pytest.mark.slow

# What the form will be given: zones by the names people know, not by number.
PICKUP = ("Newark Airport", 1)
DROPOFF = ("JFK Airport", 132)
DISTANCE = 14.5
PICKUP_TIME = "2024-01-16 17:45"
WAIT_SECONDS = 120
SCREENSHOT = "demo-ui.png"


@pytest.fixture(scope="module")
def ui_server(file_registry_project: InstalledProject, tmp_path_factory) -> Iterator[Server]:
    if not (file_registry_project.root / "models").exists():
        file_registry_project.cli("train")
    server = start(file_registry_project, tmp_path_factory.mktemp("ui") / "serve.log")
    try:
        assert call(f"{server.base}/ready").status == 200, server.log.read_text()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "run .ci/setup-browser.sh (make browser) first"
    options = Options()
    options.binary_location = chromium
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1000")
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield session
    finally:
        session.quit()


def choose_zone(browser: WebDriver, field: str, name: str) -> str:
    """Type a zone's name into a dropdown, click the option it offers; returns the chosen label."""
    box = browser.find_element(By.CSS_SELECTOR, f"#{field} input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(name)
    # The list is re-rendered while it filters: an option read or clicked mid-render is stale,
    # and the wait tries again.
    wait = WebDriverWait(
        browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)
    )

    def click_offered(page: WebDriver) -> bool:
        options = page.find_elements(By.CSS_SELECTOR, "ul.options li")
        matches = [option for option in options if option.text.startswith(f"{name}, ")]
        if len(matches) != 1:
            return False
        matches[0].click()
        return True

    wait.until(click_offered)
    wait.until(lambda _: box.get_attribute("value").startswith(f"{name}, "))
    return box.get_attribute("value")


def replace_text(browser: WebDriver, selector: str, text: str) -> None:

    box = browser.find_element(By.CSS_SELECTOR, selector)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text)


def test_a_person_gets_the_apis_prediction_from_the_form(
    ui_server: Server, browser: WebDriver, tmp_path: Path
):

    browser.get(f"{ui_server.base}/ui/")
    wait = WebDriverWait(browser, WAIT_SECONDS)
    wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "#pickup input")))
    assert browser.title == "Trip duration"

    assert choose_zone(browser, "pickup", PICKUP[0]) == f"{PICKUP[0]}, EWR ({PICKUP[1]})"
    assert choose_zone(browser, "dropoff", DROPOFF[0]) == f"{DROPOFF[0]}, Queens ({DROPOFF[1]})"
    replace_text(browser, "#distance input", str(DISTANCE))
    replace_text(browser, "#pickup-time textarea, #pickup-time input", PICKUP_TIME)
    browser.find_element(By.CSS_SELECTOR, "#predict").click()

    shown = browser.find_element(By.CSS_SELECTOR, "#minutes input")
    wait.until(lambda _: shown.get_attribute("value") not in ("", "0"))
    wait.until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#why canvas, #why svg"))
    )
    trip = {
        "PULocationID": PICKUP[1],
        "DOLocationID": DROPOFF[1],
        "trip_distance": DISTANCE,
        "pickup_datetime": PICKUP_TIME.replace(" ", "T") + ":00",
    }
    api = call(f"{ui_server.base}/predict", trip).json()["predicted_duration_minutes"]
    assert float(shown.get_attribute("value")) == round(api, 2)

    screenshot = tmp_path / SCREENSHOT
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The request went through the service itself: its access log names the form's calls.
    assert "/ui/gradio_api" in ui_server.log.read_text()
