#!/usr/bin/env python3
"""`python3 bench/alternate.py create|cold ROUNDS DIR [DIR…]`: two or more
builds compared on one database, round by round, as CPU per operation.

On a shared 2-core machine throughput moves by a factor of two between
minutes and by three between days, so a change worth 10 % cannot be seen by
running one build and then the other. Here each round runs every build in
turn (a fresh `tessera serve` from DIR, which holds `tessera` and
`tessera-seed`, e.g. a copy of target/release), and each run reports, beside
its rate, the thread CPU (/proc/<pid>/stat) the service and the database's
PostgreSQL backends spent per operation: figures that follow the work done,
whatever the machine's speed that minute.

- `create`: creations by 64 users (`create.lua`), 8 s after a 2 s warm-up.
- `cold`: `/api/v1/status` with the cache disabled over 20k seeded tokens.

Prints each run and, per build, the medians over the rounds.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

DATABASE = "tessera_alternate"


def backend_cpu():
    """CPU seconds of the PostgreSQL backends serving DATABASE."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if DATABASE not in (entry / "cmdline").read_text():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("create", "cold"):
        raise SystemExit(__doc__)
    load, rounds, builds = sys.argv[1], int(sys.argv[2]), [Path(d) for d in sys.argv[3:]]
    work = Path(tempfile.mkdtemp(prefix="tessera-alternate-"))
    url = bench.fresh_database(DATABASE)
    bench.RELEASE = builds[0]
    if load == "create":
        users = {user: bench.session(user) for user in bench.CREATORS}
        creators = work / "creators.txt"
        creators.write_text("".join(f"{user} {cookie}\n" for user, cookie in users.items()))
        bench.seed(url, 100, user=1)
        path, script, args, env = "/api/v1/users/2/api-tokens/create", "create.lua", [str(creators)], {}
    else:
        tokens = work / "tokens.txt"
        bench.seed(url, 20_000, out=tokens)
        path, script, args, env = "/api/v1/status", "status.lua", [str(tokens)], bench.NO_CACHE
    runs = {build: [] for build in builds}
    try:
        for round_ in range(rounds):
            for build in builds:
                bench.RELEASE = build
                service = bench.Service(url, bench.PORT, env)
                try:
                    bench.wrk(bench.PORT, path, script, args, seconds=2)
                    db, own = backend_cpu(), sum(bench.cpu_seconds(service.process.pid))
                    result = bench.wrk(bench.PORT, path, script, args, seconds=8)
                    db, own = backend_cpu() - db, sum(bench.cpu_seconds(service.process.pid)) - own
                finally:
                    service.stop()
                done = max(result["total"], 1)
                run = (result["rps"], own / done * 1e6, db / done * 1e6)
                runs[build].append(run)
                print(f"round {round_} {build}: {run[0]:.0f}/s, service {run[1]:.1f} µs, "
                      f"PostgreSQL {run[2]:.1f} µs per operation", flush=True)
    finally:
        bench.psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")

    def median(values):
        return sorted(values)[len(values) // 2]
    for build, measured in runs.items():
        print(f"{build}: median {median([r[0] for r in measured]):.0f}/s, "
              f"service {median([r[1] for r in measured]):.1f} µs, "
              f"PostgreSQL {median([r[2] for r in measured]):.1f} µs")


if __name__ == "__main__":
    main()
