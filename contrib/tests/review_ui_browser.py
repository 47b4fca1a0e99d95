#!/usr/bin/env python3
"""Drives the Computing Plane's review page in headless Chromium (Debian's chromium + chromedriver, through
selenium) as a reviewer with a wallet, and prints what it saw as one JSON object on stdout. The Swift test
Tests/NodeTests/ReviewUITests.swift brings real jobs into review on the devnet, runs this script and asserts
on the JSON; this script only observes (it exits non-zero when it cannot drive the page at all).

The wallet: an EIP-1193 provider (window.ethereum) injected before any page script runs
(Page.addScriptToEvaluateOnNewDocument). Its request() queues the call in the page; this script polls the
queue, signs with the test key through eth-account (personal_sign, eth_signTypedData_v4) and resolves the
promise. The key never enters the page or the server.

TLS: the plane's certificate is issued by a test CA, which Chromium trusts through an NSS database in a
private HOME (browser_trust.py); no certificate error is ignored.

Usage: review_ui_browser.py --url https://HOST:PORT --ca CA.pem --home DIR --key KEYFILE --approve JOB --reject JOB
       [--screenshots DIR]
"""

import argparse
import json
import sys
import time

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from browser_trust import trust_ca

WALLET = r"""
(() => {
  const pending = new Map();
  let next = 1;
  window.__walletQueue = [];
  window.__walletResolve = (id, error, result) => {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (error) p.reject(Object.assign(new Error(error), { code: 4001 })); else p.resolve(result);
  };
  window.ethereum = {
    isDeLongTestWallet: true,
    request: ({ method, params }) => new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      window.__walletQueue.push({ id, method, params: params || [] });
    })
  };
})();
"""

# Payload markers the test's output files try to set; none may be set on the page.
PWNED = ["pwned", "pwned2", "pwned3", "pwned4", "pwned5"]


def browser(wallet):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(20)
    if wallet:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WALLET})
    return driver


class Wallet:
    def __init__(self, key):
        self.account = Account.from_key(key)
        self.requests = []

    def serve(self, driver):
        """Answers every queued wallet request; returns how many."""
        queue = driver.execute_script("const q = window.__walletQueue || []; window.__walletQueue = []; return q;")
        for item in queue or []:
            method, params = item["method"], item["params"]
            self.requests.append(method)
            error, result = None, None
            try:
                if method in ("eth_requestAccounts", "eth_accounts"):
                    result = [self.account.address]
                elif method == "personal_sign":
                    data, address = params[0], params[1]
                    assert address.lower() == self.account.address.lower(), "personal_sign for another account"
                    signed = self.account.sign_message(encode_defunct(hexstr=data))
                    result = "0x" + signed.signature.hex().removeprefix("0x")
                elif method == "eth_signTypedData_v4":
                    address, typed = params[0], json.loads(params[1])
                    assert address.lower() == self.account.address.lower(), "signTypedData for another account"
                    signed = self.account.sign_message(encode_typed_data(full_message=typed))
                    result = "0x" + signed.signature.hex().removeprefix("0x")
                else:
                    error = f"unsupported method {method}"
            except Exception as e:  # the page sees a wallet error, the report says which
                error = f"{type(e).__name__}: {e}"
            driver.execute_script("window.__walletResolve(arguments[0], arguments[1], arguments[2]);",
                                  item["id"], error, result)
        return len(queue or [])

    def pump(self, driver, done, timeout=20.0):
        """Serves the wallet until done(driver) is true; returns its value (or None at the timeout)."""
        end = time.time() + timeout
        while time.time() < end:
            self.serve(driver)
            value = done(driver)
            if value:
                return value
            time.sleep(0.1)
        return None


def text(driver, selector):
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else ""


def fetch(driver, path, method="GET", body=None, headers=None):
    """A same-origin fetch from the page (with its cookies); returns [status, body text]."""
    return driver.execute_async_script(
        """
        const [path, method, body, headers, done] = arguments;
        fetch(path, { method, headers: Object.assign({'Content-Type': 'application/json'}, headers || {}),
                      body: body === null ? undefined : JSON.stringify(body), credentials: 'same-origin' })
          .then(async r => done([r.status, await r.text()])).catch(e => done([0, String(e)]));
        """, path, method, body, headers)


def headers(driver, path, method="GET", body=None, extra=None):
    """The security headers of one answer, read by a same-origin fetch."""
    return driver.execute_async_script(
        """
        const [path, method, body, extra, done] = arguments;
        fetch(path, { method, headers: Object.assign({'Content-Type': 'application/json'}, extra || {}),
                      body: body === null ? undefined : JSON.stringify(body), credentials: 'same-origin' })
          .then(r => done({ status: r.status, csp: r.headers.get('content-security-policy'),
                            nosniff: r.headers.get('x-content-type-options'),
                            referrer: r.headers.get('referrer-policy'), cache: r.headers.get('cache-control') }))
          .catch(e => done({ status: 0, error: String(e) }));
        """, path, method, body, extra)


def pwned(driver):
    return driver.execute_script("return arguments[0].map(n => window[n] === undefined ? null : String(window[n]));",
                                 PWNED)


def sign_decision(account, case, approve, reason, decided_at):
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            "DeLongReview": [{"name": "jobId", "type": "bytes32"}, {"name": "outputDigest", "type": "bytes32"},
                             {"name": "approve", "type": "bool"}, {"name": "reason", "type": "string"},
                             {"name": "decidedAt", "type": "uint64"}],
        },
        "primaryType": "DeLongReview",
        "domain": case["domain"],
        "message": {"jobId": case["job"], "outputDigest": case["outputDigest"], "approve": approve,
                    "reason": reason, "decidedAt": decided_at},
    }
    return "0x" + account.sign_message(encode_typed_data(full_message=typed)).signature.hex().removeprefix("0x")


def open_case(wallet, driver, job):
    driver.find_element(By.CSS_SELECTOR, f"button.open-case[data-job='{job}']").click()
    ok = wallet.pump(driver, lambda d: d.execute_script(
        "const c = document.getElementById('case'); return c && !c.hidden && c.dataset.job === arguments[0];", job))
    if not ok:
        raise RuntimeError(f"case {job} did not open: {text(driver, '#status')}")
    return driver.execute_script("""
        const files = [...document.querySelectorAll('#case section.file')].map(f => ({
          path: f.querySelector('h3').textContent,
          findings: [...f.querySelectorAll('tr.finding')].map(r => [...r.cells].map(c => c.textContent)),
          flaggedCells: [...f.querySelectorAll('td.flag, th.flag, tr.flag > td, tr.flag > th')].map(c => c.textContent),
          flaggedLines: [...f.querySelectorAll('li.flag')].map(c => c.textContent),
          lines: [...f.querySelectorAll('ol.lines li')].map(c => c.textContent),
          images: f.querySelectorAll('img').length,
          noPreview: f.querySelectorAll('.nopreview').length
        }));
        return { files, inlineScripts: document.querySelectorAll('script:not([src])').length,
                 scripts: document.querySelectorAll('script').length,
                 images: document.querySelectorAll('img').length,
                 iframes: document.querySelectorAll('iframe, object, embed, svg').length };
    """)


def decide(wallet, driver, approve, reason):
    driver.find_element(By.ID, "reason").send_keys(reason)
    driver.find_element(By.ID, "approve" if approve else "reject").click()
    done = wallet.pump(driver, lambda d: text(d, "#decision-result") or
                       (d.find_element(By.ID, "status").get_attribute("class") == "error" and "error"))
    return {
        "result": text(driver, "#decision-result"),
        "status": text(driver, "#status"),
        "done": bool(done),
        "log": driver.execute_script(
            "return [...document.querySelectorAll('#log li')].map(li => ({kind: li.dataset.kind, text: li.textContent}));"),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--approve", required=True)
    parser.add_argument("--reject", required=True)
    parser.add_argument("--screenshots")
    args = parser.parse_args()
    key = open(args.key).read().strip()
    trust_ca(args.home, args.ca)
    report = {}
    wallet = Wallet(key)
    report["reviewer"] = wallet.account.address

    a = browser(wallet=True)
    b = None
    try:
        a.get(args.url + "/review/")
        report["title"] = a.title
        a.find_element(By.ID, "signin").click()
        signed = wallet.pump(a, lambda d: "Signed in as" in text(d, "#who") or None)
        report["signedIn"] = text(a, "#who") if signed else None
        report["signInStatus"] = text(a, "#status")
        cookies = [c for c in a.get_cookies() if c.get("name") == "dl_review"]
        report["cookie"] = cookies[0] if cookies else None
        wallet.pump(a, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue tbody tr"), timeout=10)
        report["queue"] = a.execute_script(
            "return [...document.querySelectorAll('#queue tbody tr')].map(r => ({job: r.dataset.job,"
            " cells: [...r.cells].map(c => c.textContent)}));")

        # The approved case: the findings in place, then a signed approval in the log.
        report["approveCase"] = open_case(wallet, a, args.approve)
        report["pwnedAfterOpen"] = pwned(a)
        if args.screenshots:
            a.save_screenshot(args.screenshots + "/case.png")
        report["approve"] = decide(wallet, a, True, "aggregates only; checked in the browser")

        # A forged POST from the signed-in page without the CSRF header, carrying a valid signature.
        status, body = fetch(a, f"/review/api/cases/{args.reject}")
        case = json.loads(body) if status == 200 else {}
        decided_at = int(time.time())
        forged = {"approve": True, "reason": "forged", "decidedAt": decided_at,
                  "signature": sign_decision(wallet.account, case, True, "forged", decided_at) if case else "0x"}
        report["forgedNoCSRF"] = fetch(a, f"/review/api/cases/{args.reject}/decision", "POST", forged)
        report["forgedBadCSRF"] = fetch(a, f"/review/api/cases/{args.reject}/decision", "POST", forged,
                                        {"X-CSRF-Token": "0" * 64})

        # The rejected case, from the queue.
        a.get(args.url + "/review/")
        a.find_element(By.ID, "signin").click()
        wallet.pump(a, lambda d: d.find_elements(By.CSS_SELECTOR, f"button.open-case[data-job='{args.reject}']"))
        report["rejectCase"] = open_case(wallet, a, args.reject)
        report["reject"] = decide(wallet, a, False, "a file names a person; not releasable")
        report["pwnedAtEnd"] = pwned(a)
        if args.screenshots:
            a.save_screenshot(args.screenshots + "/decided.png")

        # A second browser with no session: the API refuses it, whatever it sends.
        b = browser(wallet=False)
        b.get(args.url + "/review/")
        report["otherQueue"] = fetch(b, "/review/api/queue")
        report["otherCase"] = fetch(b, f"/review/api/cases/{args.approve}")
        report["otherDecision"] = fetch(b, f"/review/api/cases/{args.approve}/decision", "POST", forged,
                                        {"X-CSRF-Token": "0" * 64})
        zero = "0x" + "0" * 64
        report["headers"] = {
            "page": headers(b, "/review/"), "index": headers(b, "/review/index.html"),
            "script": headers(b, "/review/app.js"), "style": headers(b, "/review/app.css"),
            "queue (no session)": headers(b, "/review/api/queue"),
            "message (bad address)": headers(b, "/review/api/message?address=nope"),
            "message": headers(b, "/review/api/message?address=" + wallet.account.address),
            "signin (bad)": headers(b, "/review/api/signin", "POST", {"message": "x", "signature": "0x"}),
            "case (no session)": headers(b, f"/review/api/cases/{zero}"),
            "decision (no session)": headers(b, f"/review/api/cases/{zero}/decision", "POST", {}),
            "queue (session)": headers(a, "/review/api/queue"),
            "case (session)": headers(a, f"/review/api/cases/{args.approve}"),
            "log (session)": headers(a, f"/review/api/cases/{args.approve}/log"),
        }
        # Sign-out ends the first browser's session.
        report["signOut"] = a.execute_async_script("""
            const done = arguments[0];
            document.getElementById('signout').click();
            setTimeout(() => fetch('/review/api/queue').then(r => done(r.status)), 500);
        """)
        report["walletRequests"] = wallet.requests
    finally:
        a.quit()
        if b:
            b.quit()
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
