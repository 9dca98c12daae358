#!/usr/bin/env python3
"""`python3 bench/cold.py [SECONDS]`: where a cache-disabled verification's
time goes on PostgreSQL, beside `pgbench -S`; and a creation's (64 users),
beside `pgbench` of one INSERT.

Seeds 10k tokens into a fresh database, starts the release `tessera` with
the cache disabled (every verification reads the store), and runs wrk while
counting, from /proc, the CPU time of the service and of every PostgreSQL
process, and with `perf stat` the service's system calls and context
switches. Then the same for `pgbench -S -M prepared` at the same
concurrency. Prints both per request (or per transaction): what the
service spends around each lookup, what PostgreSQL spends answering it,
and how many wake-ups each costs — the figures that decide how the lookup
should reach the database.
"""

import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 8
EVENTS = ["context-switches", "syscalls:sys_enter_futex", "syscalls:sys_enter_sendto",
          "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_poll", "syscalls:sys_enter_epoll_wait"]


def postgres_pids():
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def measured(load, service_pid=None):
    """Runs `load()` (returning a result with a request count) while
    counting CPU of the service and of PostgreSQL, and the service's
    events."""
    stat = None
    if service_pid:
        stat = subprocess.Popen(["perf", "stat", "-x,", "-e", ",".join(EVENTS), "-p", str(service_pid),
                                 "--", "sleep", str(SECONDS - 1)], stderr=subprocess.PIPE, text=True)
    before_service = bench.cpu_seconds(service_pid) if service_pid else (0, 0)
    before_pg = {pid: bench.cpu_seconds(pid) for pid in postgres_pids()}
    # pgbench's backends end with it: PostgreSQL is read while the load
    # still runs, a second before its end, and the result scaled to it.
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(load)
        time.sleep(SECONDS - 1)
        after_pg = {pid: bench.cpu_seconds(pid) for pid in postgres_pids()}
        sampled = time.time() - started
        result = running.result()
    after_service = bench.cpu_seconds(service_pid) if service_pid else (0, 0)
    scale = SECONDS / sampled
    pg = [scale * sum(after_pg[pid][i] - before_pg.get(pid, (0, 0))[i] for pid in after_pg) for i in (0, 1)]
    events = {}
    if stat:
        _, err = stat.communicate()
        for line in err.splitlines():
            parts = line.split(",")
            if len(parts) >= 3 and parts[0].isdigit():
                events[parts[2].split(":")[-1].replace("sys_enter_", "")] = int(parts[0])
    return result, [a - b for a, b in zip(after_service, before_service)], pg, events


def report(name, result, service, pg, events, seconds):
    count = max(result["total"] or result["rps"] * SECONDS, 1)
    print(f"\n== {name}: {result['rps']:.0f} per second, p50 {result['p50']:.2f} ms")
    if service != [0, 0]:
        print(f"   service CPU per request: user {service[0] / count * 1e6:.1f} µs, "
              f"kernel {service[1] / count * 1e6:.1f} µs")
    print(f"   PostgreSQL CPU per request: user {pg[0] / count * 1e6:.1f} µs, kernel {pg[1] / count * 1e6:.1f} µs")
    if events:
        rate = result["rps"] * (seconds - 1)
        print("   service events per request: " +
              ", ".join(f"{name} {value / rate:.2f}" for name, value in events.items()))


def main():
    if os.environ.get("BENCH_RELEASE_DIR"):
        bench.RELEASE = Path(os.environ["BENCH_RELEASE_DIR"]).resolve()
    url = bench.fresh_database("tessera_cold_profile")
    work = Path(tempfile.mkdtemp(prefix="tessera-cold-"))
    tokens = str(work / "tokens.txt")
    try:
        bench.seed(url, 10_000, out=tokens)
        service = bench.Service(url, bench.PORT, bench.NO_CACHE)
        try:
            bench.wrk(bench.PORT, "/api/v1/status", "status.lua", [tokens], seconds=3)
            report("status, cache disabled", *measured(
                lambda: bench.wrk(bench.PORT, "/api/v1/status", "status.lua", [tokens], seconds=SECONDS),
                service.process.pid), SECONDS)
        finally:
            service.stop()
        pgbench_url = bench.fresh_database("tessera_cold_pgbench")
        bench.run(["pgbench", "-q", "-i", "-s", "10", pgbench_url])
        report("pgbench -S -M prepared", *measured(lambda: bench.pgbench(pgbench_url, seconds=SECONDS)), SECONDS)

        creators = work / "creators.txt"
        creators.write_text("".join(f"{user} {bench.session(user)}\n" for user in bench.CREATORS))
        service = bench.Service(url, bench.PORT)
        try:
            create = ("/api/v1/users/2/api-tokens/create", "create.lua", [str(creators)])
            bench.wrk(bench.PORT, *create, seconds=2)
            report(f"create, {len(bench.CREATORS)} users", *measured(
                lambda: bench.wrk(bench.PORT, *create, seconds=SECONDS), service.process.pid), SECONDS)
        finally:
            service.stop()
        report("pgbench, one INSERT", *bench.pgbench_insert(SECONDS, measured), SECONDS)
    finally:
        bench.psql("DROP DATABASE IF EXISTS tessera_cold_pgbench WITH (FORCE)")
        bench.psql("DROP DATABASE IF EXISTS tessera_cold_profile WITH (FORCE)")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
