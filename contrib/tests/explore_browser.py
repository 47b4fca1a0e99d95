#!/usr/bin/env python3
"""Drives an Explore session in headless Chromium (Debian's chromium + chromedriver, through selenium) as a
consumer, and prints what it saw as one JSON object on stdout. The Swift test Tests/NodeTests/ExploreTests.swift
starts the session on the devnet, runs this script and asserts on the JSON; this script only observes (it exits
non-zero when it cannot drive the page at all).

TLS: the plane's certificate is issued by a test CA, which Chromium trusts through an NSS database in a private
HOME (browser_trust.py); no certificate error is ignored. The script's own HTTPS requests trust the same CA
file and nothing else.

What it does:
1. opens the one-time URL and waits for JupyterLab's launcher (the sign-in exchanged the ticket for a cookie);
2. creates a notebook and runs a cell that reads the sample at /data with pandas;
3. runs a cell that tries to open a socket to an outside address, and lists the interfaces;
4. saves the notebook;
5. replays the used ticket, and presents this session's cookie on another session's path (both must be
   refused), outside the browser.

Usage: explore_browser.py --url ONE_TIME_URL --ca CA.pem --home DIR --table NAME [--other PATH]
       [--screenshots DIR]
"""

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from browser_trust import trust_ca


def fetch(url, ca, cookie=None):
    """(status, body) of a GET that trusts only CA and follows no redirect."""
    context = ssl.create_default_context(cafile=ca)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect)
    request = urllib.request.Request(url)
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(4096).decode("utf-8", "replace")


def run_cell(driver, wait, code, marker):
    """Types CODE into the last cell, runs it, and returns the output text of that cell once it shows MARKER."""
    cells = driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")
    editor = cells[-1].find_element(By.CSS_SELECTOR, ".cm-content")
    editor.click()
    # One line at a time: CodeMirror auto-indents after a newline typed by send_keys.
    editor.send_keys(code)
    editor.send_keys(Keys.SHIFT, Keys.ENTER)
    index = len(cells) - 1

    def output(d):
        cell = d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")[index]
        text = " ".join(o.text for o in cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output"))
        return text if marker in text else False

    return wait.until(output)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--table")
    parser.add_argument(
        "--launcher-only", action="store_true", help="stop at the launcher: time the load, run no notebook"
    )
    parser.add_argument("--other", help="another session's path prefix, /explore/<id>/")
    parser.add_argument("--screenshots")
    args = parser.parse_args()

    trust_ca(args.home, args.ca)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(flag)
    report = {}
    started = time.time()
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        wait = WebDriverWait(driver, 90)
        # The browser's own start is not the Lab's: the load is timed from the sign-in link on.
        report["browserStartSeconds"] = round(time.time() - started, 2)
        opened = time.time()
        driver.get(args.url)
        card = wait.until(
            EC.element_to_be_clickable((By.CSS_SELECTOR, '.jp-LauncherCard[data-category="Notebook"]'))
        )
        report["launcherSeconds"] = round(time.time() - started, 2)
        report["labLoadSeconds"] = round(time.time() - opened, 2)
        # Where the load went (resource timing, from the navigation's start): requests, bytes, the slowest.
        report["labResources"] = driver.execute_script(
            "const r = performance.getEntriesByType('resource');"
            "const n = performance.getEntriesByType('navigation')[0];"
            "return {count: r.length, bytes: r.reduce((a, e) => a + (e.encodedBodySize || 0), 0),"
            " documentMs: Math.round(n.responseEnd), domReadyMs: Math.round(n.domContentLoadedEventEnd),"
            " lastResponseMs: Math.round(Math.max(...r.map(e => e.responseEnd))),"
            " api: r.filter(e => !e.name.includes('/static/'))"
            "   .map(e => [e.name.replace(/^.*\\/explore\\/[^/]+/, ''), Math.round(e.startTime), Math.round(e.duration)]),"
            " slowest: r.sort((a, b) => b.duration - a.duration).slice(0, 6)"
            "   .map(e => [e.name.replace(/^.*\\/explore\\/[^/]+/, ''), Math.round(e.startTime), Math.round(e.duration)])};"
        )
        report["landed"] = urlparse(driver.current_url).path
        if args.launcher_only:
            print(json.dumps(report))
            return 0
        cookies = driver.get_cookies()
        report["cookies"] = sorted(c["name"] for c in cookies)
        session_cookie = next((c for c in cookies if c["name"] == "dl_explore"), None)
        if session_cookie:
            report["cookie"] = {
                "value": session_cookie["value"],
                "httpOnly": session_cookie.get("httpOnly"),
                "secure": session_cookie.get("secure"),
                "sameSite": session_cookie.get("sameSite"),
                "path": session_cookie.get("path"),
            }
        card.click()
        wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell .cm-content")))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-status="idle"]')))
        time.sleep(1)
        report["pandas"] = run_cell(
            driver,
            wait,
            "import os, pandas as pd; df = pd.read_csv('/data/%s'); "
            "print('ROWS', len(df), 'COLUMNS', list(df.columns), 'FILES', sorted(os.listdir('/data')))"
            % args.table,
            "ROWS",
        )
        report["network"] = run_cell(
            driver,
            wait,
            "import socket\n"
            "try: socket.create_connection(('192.0.2.1', 80), timeout=3); print('NET-OPEN')\n"
            "except OSError as e: print('NET-BLOCKED', type(e).__name__, e.errno)\n"
            "print('IFACES', socket.if_nameindex(), 'UID', os.getuid())",
            "IFACES",
        )
        # Save (Ctrl+S on the focused notebook) and wait for the file to be written: the dirty marker goes away.
        # File > Save Notebook (the menu command docmanager:save).
        for item in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item"):
            if item.text.strip() == "File":
                item.click()
                break
        wait.until(
            EC.element_to_be_clickable((By.CSS_SELECTOR, '.lm-Menu-item[data-command="docmanager:save"]'))
        ).click()
        # JupyterLab 4 asks for a name on an untitled notebook's first save: keep the one it proposes.
        try:
            WebDriverWait(driver, 5).until(
                EC.element_to_be_clickable((By.CSS_SELECTOR, ".jp-Dialog .jp-Dialog-button.jp-mod-accept"))
            ).click()
        except Exception:
            pass
        try:
            WebDriverWait(driver, 30).until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".jp-mod-dirty"))
            report["saved"] = True
        except Exception:
            report["saved"] = False
        tabs = driver.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel")
        report["notebook"] = tabs[0].text if tabs else ""
        if args.screenshots:
            driver.save_screenshot(os.path.join(args.screenshots, "explore-lab.png"))
    finally:
        driver.quit()

    # Outside the browser: the used ticket, and this session's cookie on another session's path.
    report["ticketReplay"] = fetch(args.url, args.ca)
    origin = "{0.scheme}://{0.netloc}".format(urlparse(args.url))
    if args.other and "cookie" in report:
        report["otherSession"] = fetch(
            origin + args.other + "api/contents", args.ca, "dl_explore=" + report["cookie"]["value"]
        )
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
