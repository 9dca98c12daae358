#!/usr/bin/env python3
"""`python3 bench/ab.py BEFORE_DIR AFTER_DIR`: two builds compared fairly.

A refactoring must leave the hot path as fast as it was, and one `make bench`
before and one after differ by more than that on a shared machine. Here both
builds (`tessera` in each directory, release) serve the same PostgreSQL
database of 100k tokens in turns, ABBA order, so drift in the machine's load
falls on both alike. Each turn: the /healthz ceiling with status-shaped
requests, warm verification, token creation; the table gives every turn and
each build's median.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402


def turn(build, tokens, cookie):
    bench.RELEASE = build
    service = bench.Service(bench.database_url("tessera_bench_ab"), bench.PORT)
    try:
        bench.warm_up(bench.PORT, tokens)
        return {
            "ceiling": bench.wrk(bench.PORT, "/healthz", "status.lua", [tokens]),
            "warm": bench.wrk(bench.PORT, "/api/v1/status", "status.lua", [tokens]),
            "create": bench.wrk(bench.PORT, "/api/v1/users/2/api-tokens/create", "create.lua",
                                headers=[f"Cookie: tessera_session={cookie}"]),
        }
    finally:
        service.stop()


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    builds = {"before": Path(sys.argv[1]).resolve(), "after": Path(sys.argv[2]).resolve()}
    for build in builds.values():
        if not (build / "tessera").is_file():
            raise SystemExit(f"ab: no tessera in {build}")
    bench.ensure_tools()
    # Seeding and sessions use the second build's tools; both share the schema.
    bench.RELEASE = builds["after"]
    url = bench.fresh_database("tessera_bench_ab")
    with tempfile.TemporaryDirectory() as work:
        tokens = str(Path(work) / "tokens.txt")
        bench.log(f"seeding {bench.SEED} tokens")
        bench.seed(url, bench.SEED, out=tokens)
        cookie = bench.session(2)
        order = ["before", "after", "after", "before"] * ((bench.ROUNDS + 1) // 2)
        results = {name: [] for name in builds}
        for name in order:
            bench.log(f"turn: {name}")
            results[name].append(turn(builds[name], tokens, cookie))
    bench.psql("DROP DATABASE IF EXISTS tessera_bench_ab WITH (FORCE)")

    print("| build | row | turns (req/s) | median req/s | median p99 ms |")
    print("| --- | --- | --- | --- | --- |")
    for name, turns in results.items():
        for row in ("ceiling", "warm", "create"):
            chosen = bench.median([t[row] for t in turns])
            runs = ", ".join(f"{r:,.0f}" for r in chosen["runs"])
            print(f"| {name} | {row} | {runs} | {chosen['rps']:,.0f} | {chosen['p99']:.2f} |")
    for name, turns in results.items():
        warm = bench.median([t["warm"] for t in turns])["rps"]
        ceiling = bench.median([t["ceiling"] for t in turns])["rps"]
        print(f"{name}: warm / ceiling = {warm / ceiling:.2f}")


if __name__ == "__main__":
    os.chdir(bench.ROOT)
    main()
