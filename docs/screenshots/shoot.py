"""Takes the screenshots of docs/screenshots from a running vestibule
(see make.sh, which starts it): python3 shoot.py PUBLIC_URL ADMIN_URL OUT_DIR

Only the standard library: visitors are urllib clients with their own
cookie jars, and headless chromium is driven over WebDriver (chromedriver)
with the DevTools protocol for a true 390-pixel layout and full-page
pictures.
"""

import base64
import http.cookiejar
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

BASE, ADMIN, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
WIDTH, HEIGHT = 390, 844


def visitor():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))


def get(opener, path, accept="text/html"):
    req = urllib.request.Request(BASE + path, headers={"Accept": accept})
    try:
        return opener.open(req, timeout=10).read()
    except urllib.error.HTTPError as e:
        return e.read()


def fill(room, sessions, ahead):
    """`sessions` visitors on the site, then `ahead` in line, checked in."""
    for _ in range(sessions):
        v = visitor()
        get(v, "/" + room)
        get(v, "/" + room)  # back with the cookie: the admission holds
    for _ in range(ahead):
        v = visitor()
        get(v, "/" + room)
        get(v, "/_vestibule/status?room=" + room, "application/json")


class Driver:
    def __init__(self):
        self.proc = subprocess.Popen(
            ["chromedriver", "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for line in self.proc.stdout:
            if "successfully on port " in line:
                self.base = "http://127.0.0.1:" + line.split("successfully on port ")[1].strip(" .\n")
                break
        self.profile = tempfile.mkdtemp()
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars",
                     "--user-data-dir=" + self.profile],
        }}}}
        self.session = self.call("POST", "/session", caps, top=True)["sessionId"]
        self.cdp("Emulation.setDeviceMetricsOverride",
                 {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": True})
        self.cdp("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})

    def call(self, method, path, body=None, top=False):
        url = self.base + (path if top else "/session/" + self.session + path)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=60).read())["value"]

    def cdp(self, cmd, params):
        return self.call("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params})

    def script(self, body):
        return self.call("POST", "/execute/sync", {"script": body, "args": []})

    def open(self, path, javascript=True, settle=0.0):
        self.cdp("Emulation.setScriptExecutionDisabled", {"value": not javascript})
        self.call("POST", "/url", {"url": BASE + path})
        if not javascript:
            self.cdp("Emulation.setScriptExecutionDisabled", {"value": False})
            # Hold still (the meta refresh), and show <noscript> as a
            # visitor without JavaScript sees it: chromium lays it out only
            # while scripts cannot run.
            self.script("window.stop(); document.querySelectorAll('body noscript').forEach(function (n) {"
                        " var d = document.createElement('div');"
                        " while (n.firstChild) d.appendChild(n.firstChild); n.replaceWith(d); })")
        time.sleep(settle)

    def shoot(self, name):
        height = self.script("return document.documentElement.scrollHeight")
        shot = self.cdp("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": max(height, HEIGHT), "scale": 1},
        })
        with open(os.path.join(OUT, name + ".png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print("wrote", name + ".png", file=sys.stderr)

    def close(self):
        try:
            self.call("DELETE", "")
        finally:
            self.proc.kill()


def main():
    fill("line", 5, 146)
    fill("notice", 5, 23)
    fill("paused", 5, 8)
    fill("countdown", 0, 311)
    fill("draw", 0, 4)
    req = urllib.request.Request(ADMIN + "/api/rooms/paused/pause", data=b"", method="POST")
    urllib.request.urlopen(req, timeout=10)

    d = Driver()
    try:
        # The page polls once (a new ticket checks in within two seconds)
        # and writes the time in the browser's own zone.
        d.open("/line", settle=3)
        d.shoot("waiting")
        d.open("/notice", settle=3)
        d.shoot("waiting-notice")
        d.open("/paused", settle=3)
        d.shoot("waiting-paused")
        d.open("/countdown", settle=3)
        d.shoot("waiting-countdown")
        d.open("/draw", settle=3)
        d.shoot("waiting-draw")
        d.open("/line", javascript=False)
        d.shoot("waiting-no-javascript")
        # A second tab of the same browser: the first says so.
        d.open("/line", settle=1)
        first = d.call("GET", "/window")
        second = d.call("POST", "/window/new", {"type": "tab"})["handle"]
        d.call("POST", "/window", {"handle": second})
        d.open("/line", settle=1)
        d.call("POST", "/window", {"handle": first})
        time.sleep(1)
        d.shoot("waiting-other-tab")
        d.call("POST", "/window", {"handle": second})
        d.call("DELETE", "/window")
        d.call("POST", "/window", {"handle": first})
        # A form sent from a page while in line: refused, nothing sent.
        d.open("/line", settle=0.5)
        d.script("var f = document.createElement('form'); f.method = 'post'; f.action = '/line/submit';"
                 "document.body.appendChild(f); f.submit();")
        time.sleep(1)
        d.shoot("refused")
        d.open("/closed")
        d.shoot("closed")
        d.open("/down")
        d.shoot("error-502")
        d.open("/slow")
        d.shoot("error-504")
        d.open("/_vestibule/nothing")
        d.shoot("not-found")
        # Last: ?lang= is remembered in a cookie.
        d.open("/line?lang=fr", settle=3)
        d.shoot("waiting-fr")
    finally:
        d.close()


main()
