"""A headless-Chromium walk through Sentry 23.7.1's console: each page is opened as a user would
open it, every API response the page's scripts get is read from Chromium's own network log
(DevTools `Network.responseReceived`), and a screenshot of each page is saved.

Used by the acceptance modules; the pages are Sentry's navigation (Issues, an issue, Projects,
Performance, Replays, Alerts, Discover, Dashboards, Releases, User Feedback, Stats, Crons) and the
settings pages that read Snuba.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@dataclass
class Visit:
    """One page: what its API requests answered."""

    name: str
    path: str
    api_requests: int = 0
    server_errors: list[tuple[int, str]] = field(default_factory=list)
    screenshot: str = ""


def pages(org: str, project: str, project_id: int, issue_id: int, transaction: str,
          release: str, saved_query_id: int) -> list[tuple[str, str]]:  # fmt: skip
    """(name, path) of every page of the walk."""
    p = f"project={project_id}"
    return [
        ("issues", f"/organizations/{org}/issues/?{p}&statsPeriod=14d"),
        ("issue", f"/organizations/{org}/issues/{issue_id}/?{p}"),
        ("issue-events", f"/organizations/{org}/issues/{issue_id}/events/?{p}"),
        ("issue-tags", f"/organizations/{org}/issues/{issue_id}/tags/?{p}"),
        ("projects", f"/organizations/{org}/projects/"),
        ("project", f"/organizations/{org}/projects/{project}/?{p}"),
        ("performance", f"/organizations/{org}/performance/?{p}&statsPeriod=14d"),
        ("transaction-summary", f"/organizations/{org}/performance/summary/?transaction="
                                f"{quote(transaction, safe='')}&{p}&statsPeriod=14d"),  # fmt: skip
        ("performance-trends", f"/organizations/{org}/performance/trends/?{p}&statsPeriod=14d"),
        ("replays", f"/organizations/{org}/replays/?{p}"),
        ("alerts", f"/organizations/{org}/alerts/rules/"),
        ("discover", f"/organizations/{org}/discover/homepage/"),
        ("discover-saved-query", f"/organizations/{org}/discover/results/?id={saved_query_id}"),
        ("dashboards", f"/organizations/{org}/dashboards/"),
        ("dashboard", f"/organizations/{org}/dashboard/default-overview/"),
        ("releases", f"/organizations/{org}/releases/?{p}"),
        ("release", f"/organizations/{org}/releases/{quote(release, safe='')}/?{p}"),
        ("user-feedback", f"/organizations/{org}/user-feedback/?{p}"),
        ("stats", f"/organizations/{org}/stats/"),
        ("crons", f"/organizations/{org}/crons/"),
        ("settings-project", f"/settings/{org}/projects/{project}/"),
        ("settings-environments", f"/settings/{org}/projects/{project}/environments/"),
        ("settings-tags", f"/settings/{org}/projects/{project}/tags/"),
        ("settings-filters", f"/settings/{org}/projects/{project}/filters/data-filters/"),
    ]


def browser():
    """Debian's Chromium, headless, with the DevTools network log on (the flags that keep it
    off this machine's closed network)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "1")  # never let Selenium Manager download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000", "--lang=en-US", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(90)
    return driver


def log_in(driver, web: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{web}/auth/login/")
    driver.find_element(By.ID, "id_username").send_keys("admin@example.com")
    driver.find_element(By.ID, "id_password").send_keys("admin")
    driver.find_element(By.ID, "id_password").submit()
    deadline = time.monotonic() + 60
    while "/auth/login" in driver.current_url:
        assert time.monotonic() < deadline, "login did not finish"
        time.sleep(0.3)


def _responses(driver, web: str) -> tuple[int, list[tuple[int, str]], bool]:
    """API responses logged since the last call: (count, 5xx ones, any network event at all)."""
    count, errors, events = 0, [], False
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        events |= message["method"].startswith("Network.")
        if message["method"] != "Network.responseReceived":
            continue
        response = message["params"]["response"]
        if "/api/0/" not in response["url"]:
            continue
        count += 1
        if response["status"] >= 500:
            errors.append((response["status"], response["url"][len(web):]))
    return count, errors, events


def visit(driver, web: str, name: str, path: str, artifacts: Path, *, quiet_s: float = 2.5,
          max_s: float = 30.0) -> Visit:  # fmt: skip
    """Opens a page and waits until its requests settle (no network event for `quiet_s`)."""
    _responses(driver, web)  # what earlier pages left in the log
    result = Visit(name=name, path=path)
    driver.get(web + path)
    started = last_event = time.monotonic()
    while time.monotonic() - last_event < quiet_s and time.monotonic() - started < max_s:
        time.sleep(0.5)
        count, errors, events = _responses(driver, web)
        result.api_requests += count
        result.server_errors += errors
        if events:
            last_event = time.monotonic()
    shot = artifacts / f"crawl-{name}.png"
    driver.save_screenshot(str(shot))
    result.screenshot = str(shot)
    return result
