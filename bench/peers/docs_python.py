# A peer for the benchmarks: coreplus's own Python example (requests +
# PyJWT, a fresh token per request), with only what a benchmark needs around
# it. Run with /usr/bin/python3 (Debian's python3-requests and python3-jwt).
#   docs_python.py MODE N   with COREPLUS_BASE_URL, COREPLUS_CONSUMER_ID,
#   COREPLUS_CONSUMER_SECRET, COREPLUS_ACCESS_TOKEN, COREPLUS_CAFILE set.
# MODE: "new" = requests.get, a new connection per request (the docs' way);
#       "session" = the same through one requests.Session;
#       "pages" / "pages-new" = page through all clients in order, N per
#       page, with a Session / with requests.get (on a 429: wait a second).
# Prints "cpu_seconds wall_seconds requests rows http_429s".
import datetime
import os
import sys
import time

import jwt
import requests

env = os.environ
base_url = env["COREPLUS_BASE_URL"]
end_point = "/API/Core/v2.1/Client/"
# The API refuses generic agents such as python-requests/x.
user_agent = "coreplus-bench-reference/1.0 (bench@example.com)"


def get(http, uri):
    now = datetime.datetime.now(datetime.timezone.utc)
    claims = {
        "iss": "https://bench.example",
        "aud": "https://coreplus.com.au",
        "nbf": now,
        "exp": now + datetime.timedelta(seconds=60),
        "consumerId": env["COREPLUS_CONSUMER_ID"],
        "accessToken": env["COREPLUS_ACCESS_TOKEN"],
        "url": uri,
        "httpMethod": "GET",
    }
    token = jwt.encode(claims, env["COREPLUS_CONSUMER_SECRET"], algorithm="HS256")
    headers = {"Authorization": "JwToken " + token, "content-type": "application/json",
               "User-Agent": user_agent}
    response = http.get(uri, verify=env["COREPLUS_CAFILE"], headers=headers, timeout=45)
    return response.status_code, response.json()


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    http = requests if mode in ("new", "pages-new") else requests.Session()
    requests_sent = rows = throttled = 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    if mode.startswith("pages"):
        page = 1
        while True:
            status, body = get(http, base_url + end_point + "?pageNumber=%d&pageSize=%d" % (page, n))
            requests_sent += 1
            if status == 429:
                throttled += 1
                time.sleep(1)
                continue
            rows += len(body["clients"])
            if rows >= body["paging"]["totalRows"] or not body["clients"]:
                break
            page += 1
    else:
        for _ in range(n):
            status, body = get(http, base_url + end_point + "?pageSize=100")
            requests_sent += 1
            throttled += status == 429
            rows += len(body.get("clients", []))
    print(time.process_time() - cpu0, time.monotonic() - wall0, requests_sent, rows, throttled)


main()
