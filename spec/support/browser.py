#!/usr/bin/python3
"""A person at the booking page, in headless Chromium (Debian's chromium,
chromium-driver and python3-selenium). Run by spec/browser_spec.lua:

    browser.py SCENARIO --url http://127.0.0.1:PORT/ --shots DIR --last NAME [--no-js] [--width W]

Scenarios: book, cancel, double, clash. Each prints one JSON object on
stdout (what the browser saw) and saves a PNG of every page under DIR; the
spec asserts on both, and on what reached the mock.

The robot keeps the booking page's contract for robots: at every step it
picks the first offered choice, fills in what is required, and submits.
"""
import argparse
import atexit
import json
import os
import re
import shutil
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

# Chromium on this closed network: no sandbox as root, and no background
# traffic (update checks, sync), which would only be refused.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--lang=en-AU"]

MAX_PAGES = 12


def browser(width, height, js, eager=False):
    opts = webdriver.ChromeOptions()
    if eager:  # a click returns at once instead of waiting for the next page
        opts.page_load_strategy = "none"
    opts.binary_location = "/usr/bin/chromium"
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument("--window-size=%d,%d" % (width, height))
    profile = tempfile.mkdtemp(prefix="coreplus-chromium.")  # a new, empty profile
    atexit.register(shutil.rmtree, profile, True)
    opts.add_argument("--user-data-dir=" + profile)
    if not js:
        opts.add_argument("--blink-settings=scriptEnabled=false")
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(60)
    d.wanted_size = (width, height)
    return d


def scripts_run(d):
    """Whether this browser runs page scripts (checked on a page of its own)."""
    d.get("data:text/html,<title>off</title><script>document.title='on'</script>")
    return d.title == "on"


class Visit:
    """One person's pages: their URLs, headings and screenshots."""

    def __init__(self, d, name):
        self.d, self.name, self.pages = d, name, []

    def page(self):
        d = self.d
        h1 = d.find_elements(By.TAG_NAME, "h1")
        info = {"url": d.current_url, "title": d.title, "h1": h1[0].text if h1 else "",
                "text": d.find_element(By.TAG_NAME, "body").text}
        title = info["title"].split(" - ")[0]
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "page"
        info["shot"] = os.path.join(ARGS.shots, "%s-%02d-%s.png" % (self.name, len(self.pages) + 1, slug))
        self.shot(info["shot"])
        self.pages.append(info)
        return info

    def shot(self, path):
        d = self.d
        w, h = d.wanted_size
        full = d.execute_script("return document.documentElement.scrollHeight") if ARGS.js else None
        if full is None:  # without scripts: the body's height as layout reports it
            full = d.find_element(By.TAG_NAME, "html").size["height"]
        d.set_window_size(w, max(h, int(full) + 120))
        d.save_screenshot(path)
        d.set_window_size(w, h)

    def submit(self, button=None):
        """Clicks the form's button and waits for the next page."""
        d = self.d
        old = d.find_element(By.TAG_NAME, "html")
        (button or d.find_element(By.CSS_SELECTOR, "form button[type=submit]")).click()
        wait_new_page(d, old)
        return self.page()


def wait_new_page(d, old, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            old.tag_name  # raises once the old document is gone
        except Exception:
            wait_loaded(d, max(0, end - time.time()))
            return
        time.sleep(0.05)
    raise TimeoutError("no new page after submitting")


def wait_loaded(d, timeout=60):
    end = time.time() + timeout
    while ARGS.js and d.execute_script("return document.readyState") != "complete" and time.time() < end:
        time.sleep(0.05)


def fill_required(d, last):
    """The first choice of every radio group, and a value in every required field."""
    form = d.find_element(By.CSS_SELECTOR, "form")
    done = set()
    for r in form.find_elements(By.CSS_SELECTOR, "input[type=radio]"):
        name = r.get_attribute("name")
        if name in done:
            continue
        done.add(name)
        if not form.find_elements(By.CSS_SELECTOR, "input[type=radio][name='%s']:checked" % name):
            d.find_element(By.CSS_SELECTOR, "label[for='%s']" % r.get_attribute("id")).click()
    for i in form.find_elements(By.CSS_SELECTOR, "input[required]:not([type=radio])"):
        if i.get_attribute("value"):
            continue
        label = d.find_element(By.CSS_SELECTOR, "label[for='%s']" % i.get_attribute("id")).text.lower()
        if "last" in label:
            value = last
        elif "day" in label:
            value = "14"
        elif "month" in label:
            value = "6"
        elif "year" in label:
            value = "1984"
        elif i.get_attribute("type") == "email":
            value = "robin@example.com"
        else:
            value = "Robin"
        i.send_keys(value)


def first_choice_to(v, stop, last):
    """Pages from the start page on, first choices, until `stop(page)`."""
    v.d.get(ARGS.url)
    wait_loaded(v.d)
    page = v.page()
    while not stop(page) and len(v.pages) < MAX_PAGES:
        fill_required(v.d, last)
        page = v.submit()
    return page


def on_details(page):
    return page["h1"] == "Your details"


def booked(page):
    return page["h1"] == "Booked"


def result(v, **extra):
    out = {"pages": [{k: p[k] for k in ("url", "title", "h1", "shot")} for p in v.pages],
           "last_text": v.pages[-1]["text"] if v.pages else ""}
    links = v.d.find_elements(By.LINK_TEXT, "Cancel this appointment")
    if links:
        out["cancel_url"] = links[0].get_attribute("href")
    m = re.search(r"Reference\s+(\S+)", out["last_text"])
    if m:
        out["reference"] = m.group(1)
    out.update(extra)
    return out


def scenario_book(d):
    v = Visit(d, ARGS.prefix)
    first_choice_to(v, booked, ARGS.last)
    return result(v, scripts=ARGS.scripts_seen)


def scenario_cancel(d):
    v = Visit(d, ARGS.prefix)
    first_choice_to(v, booked, ARGS.last)
    old = d.find_element(By.TAG_NAME, "html")
    d.find_element(By.LINK_TEXT, "Cancel this appointment").click()
    wait_new_page(d, old)
    v.page()
    v.submit()  # "Yes, cancel it"
    return result(v)


def scenario_double(d):
    """"Book appointment" clicked again while the first click is still being
    answered (booking takes a few coreplus calls): the browser drops the
    first navigation and sends the form a second time. Chromium folds a
    double click into one submission, so the second click comes 0.3 s later
    (this browser's clicks do not wait for the next page)."""
    v = Visit(d, ARGS.prefix)
    first_choice_to(v, on_details, ARGS.last)
    fill_required(d, ARGS.last)
    old = d.find_element(By.TAG_NAME, "html")
    button = d.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", button) if ARGS.js else None
    r = button.rect
    x, y = r["x"] + r["width"] / 2, r["y"] + r["height"] / 2
    if ARGS.js:
        y -= d.execute_script("return window.scrollY")
    for i in range(2):  # the mouse itself (WebDriver refuses an element of a page being left)
        for kind in ("mousePressed", "mouseReleased"):
            d.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                           "clickCount": 1})
        if i == 0:
            time.sleep(0.3)
    wait_new_page(d, old)
    v.page()
    return result(v)


def scenario_clash(d):
    """Two people on the same time: the second is told it was just taken,
    picks the first other time offered, and books that."""
    other = browser(*d.wanted_size, ARGS.js)
    try:
        a, b = Visit(other, ARGS.prefix + "-first"), Visit(d, ARGS.prefix)
        first_choice_to(a, on_details, ARGS.last + "first")
        first_choice_to(b, on_details, ARGS.last)
        fill_required(other, ARGS.last + "first")
        a.submit()
        fill_required(d, ARGS.last)
        taken = b.submit()
        fill_required(d, ARGS.last)
        b.submit()
        return result(b, first=result(a)["pages"][-1], taken=taken["h1"], taken_text=taken["text"])
    finally:
        other.quit()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["book", "cancel", "double", "clash"])
    p.add_argument("--url", required=True)
    p.add_argument("--shots", required=True)
    p.add_argument("--last", required=True)
    p.add_argument("--prefix")
    p.add_argument("--no-js", dest="js", action="store_false")
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--height", type=int, default=768)
    ARGS = p.parse_args()
    ARGS.prefix = ARGS.prefix or ARGS.scenario
    os.makedirs(ARGS.shots, exist_ok=True)
    d = browser(ARGS.width, ARGS.height, ARGS.js, eager=ARGS.scenario == "double")
    try:
        ARGS.scripts_seen = scripts_run(d)
        out = globals()["scenario_" + ARGS.scenario](d)
        out["scripts"] = ARGS.scripts_seen
    except Exception as e:  # the spec reads the failure and the last page
        out = {"error": "%s: %s" % (type(e).__name__, e), "url": d.current_url,
               "text": d.find_element(By.TAG_NAME, "body").text[:2000]}
    finally:
        d.quit()
    print(json.dumps(out))
    return 0


ARGS = None
if __name__ == "__main__":
    sys.exit(main())
