#!/usr/bin/env python3
"""`python3 bench/instructions.py [REQUESTS]`: instructions per request.

Throughput on a shared 2-core VM moves by 2x between minutes, so a change of
a few percent on the hot path cannot be seen in req/s. Valgrind's callgrind
counts the instructions the service executes instead, which repeat from run
to run within a fraction of a percent. The release `tessera` runs under
callgrind (instrumentation off until measuring) on a fresh SQLite database
of 1,000 seeded tokens (bench/bench.toml). Each load (the `/healthz` ceiling
with status-shaped requests, warm `/api/v1/status`, introspection as
bench.toml's resource server) first sends every token once, so the cache is
filled and each token's use from that place noted and written; then
REQUESTS requests (2,000 by default) of random tokens go over one keep-alive
connection with instrumentation on, and the count is dumped. Prints
instructions per request (the threads that served requests, user space
only: the background threads follow the clock, and the kernel is not
counted) and each load's hottest functions; `callgrind_annotate` reads the
dumps kept in the printed folder. Set BENCH_RELEASE_DIR to measure another
build.

Two distortions to keep in mind: valgrind does not emulate the SHA
extensions, so each HMAC costs ~3,400 instructions here instead of a few
hundred, and `rep stosb`/`movsb` (glibc's memset/memcpy of large blocks)
count one instruction per iteration.
"""

import http.client
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
TOKENS = 1000


def control(pid, *args):
    return subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                          capture_output=True, text=True).stdout


def send(port, requests):
    """Each (method, path, body, headers) once, in order, on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for method, path, body, headers in requests:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{method} {path}: {response.status}")
    connection.close()


def totals(dumps):
    """Instructions in callgrind dumps (one per thread), and the hottest
    functions."""
    total = sum(int(re.search(r"^totals: (\d+)", Path(dump).read_text(), re.M).group(1))
                for dump in dumps)
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=no", *dumps],
                               capture_output=True, text=True).stdout
    hot = []
    for line in annotated.splitlines():
        match = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)$", line)
        if match and "PROGRAM TOTALS" not in line:
            hot.append((int(match.group(1).replace(",", "")), match.group(3)[:120]))
    return total, hot[:25]


def main():
    if os.environ.get("BENCH_RELEASE_DIR"):
        bench.RELEASE = Path(os.environ["BENCH_RELEASE_DIR"]).resolve()
    work = Path(tempfile.mkdtemp(prefix="tessera-instructions-"))
    url = f"sqlite://{work}/instructions.db"
    config = str(bench.BENCH / "bench.toml")
    token_file = work / "tokens.txt"
    bench.seed(url, TOKENS, out=token_file)
    tokens = token_file.read_text().split()
    # What the service would set for itself by starting again, which
    # would leave valgrind.
    env = dict(os.environ, TESSERA__DATABASE__URL=url, TESSERA__SERVER__PORT=str(bench.PORT), RUST_LOG="warn",
               MALLOC_ARENA_MAX="2", MALLOC_MMAP_THRESHOLD_="65536",
               TESSERA__TOKENS__USAGE_FLUSH_SECS="1")
    out = work / "callgrind.out"
    service = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes", f"--callgrind-out-file={out}",
                                str(bench.RELEASE / "tessera"), "--config", config, "serve"],
                               env=env, stdout=subprocess.DEVNULL, stderr=open(work / "valgrind.log", "w"))
    try:
        deadline = time.time() + 120
        while True:
            try:
                send(bench.PORT, [("GET", "/readyz", None, {})])
                break
            except (OSError, http.client.HTTPException):
                if time.time() > deadline or service.poll() is not None:
                    raise SystemExit("the service under valgrind did not become ready")
                time.sleep(0.5)
        basic = bench.resource_server_basic()
        rng = random.Random(16)
        picks = [rng.choice(tokens) for _ in range(REQUESTS)]
        loads = (
            ("ceiling (/healthz, status requests)",
             lambda t: ("GET", "/healthz", None, {"Authorization": f"Bearer {t}"})),
            ("status", lambda t: ("GET", "/api/v1/status", None, {"Authorization": f"Bearer {t}"})),
            ("introspection",
             lambda t: ("POST", "/api/v1/oauth/introspect", f"token={t}",
                        {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"})),
        )
        results, number = [], 0
        for name, request in loads:
            # Every token once first, and its write over: a use from a new
            # place (the resource server) is noted and written, which is
            # not what is measured.
            send(bench.PORT, [request(t) for t in tokens])
            time.sleep(3)
            requests = [request(t) for t in picks]
            control(service.pid, "--instr=on")
            send(bench.PORT, requests)
            control(service.pid, "--instr=off")
            control(service.pid, "--dump")
            number += 1
            # Only the threads that served requests: the background threads'
            # work (polls, flushes) follows the clock, not the requests.
            dumps = [str(d) for d in sorted(work.glob(f"callgrind.out.{number}-*"))
                     if "h1::dispatcher" in d.read_text(errors="replace")]
            total, hot = totals(dumps)
            dump = " ".join(dumps)
            results.append((name, total / REQUESTS))
            print(f"\n== {name}: {total / REQUESTS:,.0f} instructions per request ({dump})")
            for count, function in hot:
                if count / total >= 0.01:
                    print(f"   {100 * count / total:5.1f}%  {count / REQUESTS:8,.0f}  {function}")
        print("\n| load | instructions per request |\n| --- | ---: |")
        for name, per in results:
            print(f"| {name} | {per:,.0f} |")
    finally:
        service.terminate()
        service.wait(timeout=60)


if __name__ == "__main__":
    main()
