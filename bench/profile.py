#!/usr/bin/env python3
"""`python3 bench/profile.py [SECONDS]`: where a verification's time goes.

Starts the release `tessera` on a fresh SQLite database of 10k seeded tokens
(PROFILE_TOKENS=100000 for as many as `make bench` seeds; bench/bench.toml),
warms its cache, then for warm `/api/v1/status` and for
introspection (RFC 7662, as bench.toml's resource server) runs wrk while
`perf record` samples the service (cpu-clock; the VM has no hardware
counters) and `perf stat` counts its send/receive system calls. Prints each
load's req/s, system calls per request, the share of samples in the kernel,
in the binary and in libc, and the binary's and libc's hottest symbols, so
two paths (or two builds: set BENCH_RELEASE_DIR) can be compared by what
each request costs rather than by throughput alone. The perf data stay in
the printed folder for `perf report -i`.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 6
SYSCALLS = ["syscalls:sys_enter_sendto", "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_epoll_wait"]


def report(data, sort, limit):
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", sort, "--stdio"],
                         capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        match = re.match(r"\s+([\d.]+)%\s+(.*?)\s*$", line)
        if match:
            rows.append((float(match.group(1)), re.sub(r"\s+", " ", match.group(2))[:110]))
    return rows[:limit]


def main():
    if os.environ.get("BENCH_RELEASE_DIR"):
        bench.RELEASE = Path(os.environ["BENCH_RELEASE_DIR"]).resolve()
    work = Path(tempfile.mkdtemp(prefix="tessera-profile-"))
    url = f"sqlite://{work}/profile.db"
    tokens = work / "tokens.txt"
    bench.seed(url, int(os.environ.get("PROFILE_TOKENS", "10000")), out=tokens)
    service = bench.Service(url, bench.PORT)
    try:
        bench.warm_up(bench.PORT, str(tokens))
        loads = (("ceiling (/healthz, status requests)", "/healthz", [str(tokens)]),
                 ("status", "/api/v1/status", [str(tokens)]),
                 ("introspection", "/api/v1/oauth/introspect", [str(tokens), bench.resource_server_basic()]))
        for name, path, args in loads:
            bench.wrk(bench.PORT, path, "status.lua", args, seconds=2)
            data = str(work / f"{name.split()[0]}.data")
            record = subprocess.Popen(["perf", "record", "-F", "1999", "-o", data, "-p", str(service.process.pid),
                                       "--", "sleep", str(SECONDS)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            result = bench.wrk(bench.PORT, path, "status.lua", args, seconds=SECONDS + 1)
            record.wait()
            stat = subprocess.Popen(["perf", "stat", "-x,", "-e", ",".join(SYSCALLS), "-p", str(service.process.pid),
                                     "--", "sleep", str(SECONDS)], stderr=subprocess.PIPE, text=True)
            before = bench.cpu_seconds(service.process.pid)
            counted = bench.wrk(bench.PORT, path, "status.lua", args, seconds=SECONDS + 1)
            user, system = (b - a for a, b in zip(before, bench.cpu_seconds(service.process.pid)))
            _, err = stat.communicate()
            requests = counted["rps"] * SECONDS
            calls = {line.split(",")[2].split("_")[-1]: int(line.split(",")[0])
                     for line in err.splitlines() if line.count(",") >= 2 and line.split(",")[0].isdigit()}
            print(f"\n== {name}: {result['rps']:.0f} req/s, p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms")
            served = max(counted["total"], 1)
            print(f"   CPU per request: user {user / served * 1e6:.2f} µs, kernel {system / served * 1e6:.2f} µs")
            print("   system calls per request: " +
                  ", ".join(f"{call} {count / requests:.2f}" for call, count in calls.items()))
            print("   samples: " + ", ".join(f"{dso} {share:.1f}%" for share, dso in report(data, "dso", 4)))
            for share, symbol in report(data, "dso,symbol", 80):
                if "[k]" not in symbol and share >= 0.25:
                    print(f"   {share:5.2f}%  {symbol}")
        print(f"\nperf data: {work}")
    finally:
        service.stop()


if __name__ == "__main__":
    main()
