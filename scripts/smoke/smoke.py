#!/usr/bin/env python3
"""The compose stack tried as its users try it, through published ports only.

Run by scripts/smoke.sh once `docker-compose --profile replicas up` is
healthy; it drives the stack (restart, stop, start) with the compose command
it is given. Each step prints one line; any failed expectation stops the run
with exit status 1 and says what was expected and what came back.

Every request has a client-side deadline (REQUEST_TIMEOUT): a hang is a
failure, not a wait. Waits for the stack to change state poll with a deadline
instead of sleeping a fixed time.
"""

import argparse
import json
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

REQUEST_TIMEOUT = 10.0


class SmokeFailure(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise SmokeFailure(message)


class Response:
    def __init__(self, status, headers, body, seconds):
        self.status = status
        self.headers = headers
        self.body = body
        self.seconds = seconds

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"{self.status} {self.body[:300]!r} after {self.seconds:.2f}s"


def request(url, method="GET", body=None, headers=None, timeout=REQUEST_TIMEOUT):
    """One HTTP request; an HTTP error status is a Response, a transport
    failure (refused, reset, timed out) raises OSError."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, resp.headers, resp.read().decode(), time.monotonic() - started)
    except urllib.error.HTTPError as err:
        return Response(err.code, err.headers, err.read().decode(), time.monotonic() - started)


def poll(what, attempt, deadline_s):
    """Calls attempt() until it returns a true value, which is returned with
    the seconds it took; fails after deadline_s."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < deadline_s:
        try:
            last = attempt()
        except OSError as err:
            last = err
            # A refused connection answers at once: do not spin on it.
            time.sleep(0.05)
            continue
        if last:
            return last, time.monotonic() - started
    raise SmokeFailure(f"{what}: not within {deadline_s}s (last: {last!r})")


class Stack:
    def __init__(self, args):
        self.compose = shlex.split(args.compose)
        self.t1 = f"http://127.0.0.1:{args.port}"
        self.t2 = f"http://127.0.0.1:{args.replica_port}"
        self.lb = f"http://127.0.0.1:{args.balancer_port}"
        self.session = None
        self.tokens = []

    def run(self, *args):
        result = subprocess.run(self.compose + list(args), capture_output=True, text=True)
        expect(result.returncode == 0, f"{' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def mint_session(self):
        self.session = self.run("exec", "-T", "tessera", "tessera", "session", "mint", "--user", "1").strip()
        expect(self.session.count(".") == 2, f"session mint printed {self.session!r}")

    def cookie(self):
        return {"Cookie": f"tessera_session={self.session}"}

    def create(self, base, identifier):
        resp = request(f"{base}/api/v1/users/1/api-tokens/create", "POST",
                       {"identifier": identifier, "permissions": ["submit_score"]}, self.cookie())
        expect(resp.status == 200, f"create through {base}: {resp!r}")
        token = resp.json()["token"]
        self.tokens.append(token)
        return token

    def status(self, base, token):
        return request(f"{base}/api/v1/status", headers={"Authorization": f"Bearer {token}"})

    def delete(self, base, token):
        resp = request(f"{base}/api/v1/users/1/api-token/{token}", "DELETE", headers=self.cookie())
        expect(resp.status == 200, f"delete through {base}: {resp!r}")

    def listed(self, base):
        resp = request(f"{base}/api/v1/users/me/api-tokens", headers=self.cookie())
        expect(resp.status == 200, f"list through {base}: {resp!r}")
        return {doc["token"] for doc in resp.json()}

    def valid_verifications(self, base):
        """This instance's count of valid verifications, from /metrics."""
        resp = request(f"{base}/metrics")
        expect(resp.status == 200, f"/metrics: {resp!r}")
        for line in resp.body.splitlines():
            if line.startswith("tessera_token_verifications_total") and 'outcome="valid"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def ready(self, base):
        return request(f"{base}/readyz", timeout=3)


def step(text):
    print(f"  ok  {text}", flush=True)


def wait_ready(stack, base, name, deadline_s=90):
    def attempt():
        return stack.ready(base).status == 200
    _, took = poll(f"{name} /readyz 200", attempt, deadline_s)
    return took


def lifecycle(stack):
    stack.mint_session()
    step("session minted with `tessera session mint` inside the tessera container")
    token = stack.create(stack.t1, "smoke: lifecycle")
    resp = stack.status(stack.t1, token)
    expect(resp.status == 200 and resp.json()["whoami"] == 1, f"status with a new token: {resp!r}")
    step("create → 200; status with the token → 200, whoami 1")
    stack.delete(stack.t1, token)
    resp = stack.status(stack.t1, token)
    expect(resp.status == 401, f"status with a deleted token: {resp!r}")
    step("delete → 200; status with the deleted token → 401")


def deletion_reaches_the_other_replica(stack):
    token = stack.create(stack.t1, "smoke: replicas")
    # Verified (and cached) on the second instance before the deletion.
    for _ in range(3):
        resp = stack.status(stack.t2, token)
        expect(resp.status == 200, f"status on tessera-2: {resp!r}")
    stack.delete(stack.t1, token)
    deleted_at = time.monotonic()

    def refused():
        resp = stack.status(stack.t2, token)
        expect(resp.status in (200, 401), f"status on tessera-2 after the deletion: {resp!r}")
        return resp.status == 401
    poll("tessera-2 refuses a token deleted through tessera", refused, 1.0)
    elapsed = time.monotonic() - deleted_at
    expect(elapsed <= 1.0, f"tessera-2 refused the deleted token only after {elapsed:.2f}s")
    step(f"deleted through tessera, refused by tessera-2 {1000 * elapsed:.0f} ms "
         f"after the deletion's 200 (deadline 1000 ms)")


def restart_keeps_tokens(stack, durable):
    stack.run("restart", "tessera")
    took = wait_ready(stack, stack.t1, "tessera after restart")
    resp = stack.status(stack.t1, durable)
    expect(resp.status == 200, f"status after restart: {resp!r}")
    expect(durable in stack.listed(stack.t1), "the token is missing from the listing after restart")
    step(f"`restart tessera` → ready again in {took:.1f}s; the token still verifies and is listed")


def balancer_survives_a_stopped_replica(stack, durable, workers=4):
    """Load through HAProxy while one instance stops: no request may fail."""
    wait_ready(stack, stack.t2, "tessera-2")
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0}
    failures = []

    def load():
        while not stop.is_set():
            try:
                resp = stack.status(stack.lb, durable)
                good = resp.status == 200
                detail = repr(resp)
            except OSError as err:
                good, detail = False, repr(err)
            with lock:
                if good:
                    counts["ok"] += 1
                else:
                    counts["failed"] += 1
                    failures.append(detail)

    served_before = [stack.valid_verifications(base) for base in (stack.t1, stack.t2)]
    threads = [threading.Thread(target=load, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()

    def warmed():
        with lock:
            return counts["ok"] >= 200
    poll("load through the balancer", warmed, 30)

    # A restarted instance is back in rotation only after HAProxy's checks
    # rise again (2 × 1 s): wait for it, within a deadline.
    def both_serving():
        served = [stack.valid_verifications(base) - old
                  for base, old in zip((stack.t1, stack.t2), served_before)]
        if all(n > 0 for n in served):
            return served
        time.sleep(0.1)
        return None
    try:
        served, _ = poll("both instances serving through the balancer", both_serving, 15)
    except SmokeFailure:
        served = [stack.valid_verifications(base) - old
                  for base, old in zip((stack.t1, stack.t2), served_before)]
        expect(False, f"the balancer did not use both instances: {served}")
    with lock:
        before = counts["ok"]
    stopped_at = time.monotonic()
    stack.run("stop", "tessera-2")
    stop_took = time.monotonic() - stopped_at

    def more():
        with lock:
            return counts["ok"] >= before + 500
    poll("load through the balancer after the stop", more, 30)
    stop.set()
    for thread in threads:
        thread.join(REQUEST_TIMEOUT + 1)
    expect(not failures, f"{len(failures)} failed requests through the balancer, e.g. {failures[:3]}")
    step(f"{counts['ok']} status requests through HAProxy by {workers} clients, both instances serving "
         f"({served[0]:.0f} and {served[1]:.0f} before the stop), while tessera-2 stopped "
         f"(`stop` took {stop_took:.1f}s): {counts['failed']} failed")
    stack.run("start", "tessera-2")


def database_outage(stack, durable):
    stack.run("stop", "postgres")
    # While PostgreSQL is gone every answer is quick and says 503.
    resp = request(f"{stack.t1}/api/v1/users/1/api-tokens/create", "POST",
                   {"identifier": "smoke: outage", "permissions": []}, stack.cookie())
    expect(resp.status == 503, f"create while PostgreSQL is stopped: {resp!r}")
    expect(resp.headers.get("Retry-After") == "1", f"503 without Retry-After: {dict(resp.headers)}")
    step(f"PostgreSQL stopped: create → 503 with Retry-After in {resp.seconds:.2f}s")

    def not_ready():
        resp = stack.ready(stack.t1)
        expect(resp.status in (200, 503), f"/readyz while PostgreSQL is stopped: {resp!r}")
        return resp if resp.status == 503 else None
    resp, _ = poll("/readyz 503 while PostgreSQL is stopped", not_ready, 10)
    step(f"/readyz → 503 {resp.json().get('checks')}")

    def status_unavailable():
        resp = stack.status(stack.t1, durable)
        expect(resp.status in (200, 503), f"status while PostgreSQL is stopped: {resp!r}")
        return resp if resp.status == 503 else None
    resp, took = poll("status of a cached token → 503", status_unavailable, 10)
    step(f"status with a cached token → 503 once the revocation view is stale ({took:.2f}s)")

    stack.run("start", "postgres")
    took = wait_ready(stack, stack.t1, "tessera after PostgreSQL restarts")
    token = stack.create(stack.t1, "smoke: after the outage")
    expect(stack.status(stack.t1, token).status == 200, "a token created after the outage does not verify")
    expect(stack.status(stack.t1, durable).status == 200, "the old token does not verify after the outage")
    step(f"PostgreSQL started: /readyz 200 after {took:.1f}s; create and status → 200")


def no_secret_in_logs(stack):
    logs = stack.run("logs", "--no-color")
    leaked = [token for token in stack.tokens if token in logs]
    expect(not leaked, f"{len(leaked)} token(s) in plain text in the logs")
    expect(stack.session not in logs, "the session cookie is in the logs")
    step(f"no token ({len(stack.tokens)} issued) and no session in {len(logs.splitlines())} log lines")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compose", required=True, help="the compose command, project options included")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--replica-port", type=int, required=True)
    parser.add_argument("--balancer-port", type=int, required=True)
    args = parser.parse_args()
    stack = Stack(args)
    started = time.monotonic()
    try:
        wait_ready(stack, stack.t1, "tessera")
        wait_ready(stack, stack.t2, "tessera-2")
        lifecycle(stack)
        durable = stack.create(stack.t1, "smoke: durable")
        deletion_reaches_the_other_replica(stack)
        restart_keeps_tokens(stack, durable)
        balancer_survives_a_stopped_replica(stack, durable)
        database_outage(stack, durable)
        no_secret_in_logs(stack)
    except SmokeFailure as failure:
        print(f"  FAILED  {failure}", flush=True)
        return 1
    print(f"smoke test passed in {time.monotonic() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
