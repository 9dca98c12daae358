#!/usr/bin/env python3
"""`make bench`: Tessera's hot path measured side by side with its limits.

Builds release, starts the real service on PostgreSQL and on SQLite, seeds
100k tokens, drives load with wrk from a separate process on loopback, and
prints one table (also written to bench/results/<date>.md) with requests per
second and p50/p99 latency for: /healthz (the stack's ceiling), status with
random valid Bearer tokens (warm cache, and cache disabled), introspection,
token creation and listing a user's 100 tokens, and a relying service
(examples/relying-service) checking tokens through tessera-client; plus `pgbench -S` on the same
PostgreSQL at the same concurrency, the p50 with 10k against 1M stored
tokens, the resident memory after 1M verifications across 100k tokens, and
how long a revocation takes to reach a second instance.

Only loopback addresses are used. Every load run is bounded in time.
"""

import base64
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RELEASE = ROOT / "target" / "release"
# The users of the many-users creation row: as many as wrk's connections.
CREATORS = range(100, 164)
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
# On a machine of 2+ cores the service runs on one core and the load
# generator on another, so neither steals the other's time slices (which
# otherwise dominates p99). PostgreSQL itself is not pinned.
PIN = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
SERVICE_CPUS = os.environ.get("BENCH_SERVICE_CPUS", "1")
LOAD_CPUS = os.environ.get("BENCH_LOAD_CPUS", "0")
THREADS = int(os.environ.get("BENCH_THREADS", "1" if PIN else "2"))
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
SEED = int(os.environ.get("BENCH_TOKENS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PORT = 18080
# A service with its verification cache off.
NO_CACHE = {"TESSERA__CACHE__MAX_ENTRIES": "0"}
INSERT_ROW = "pgbench: one INSERT with a unique index (tps; p50 = avg)"
COLD = "GET /api/v1/status, Bearer, cache disabled"
PEER_PORT = 18081
RELYING_PORT = 18090
RELYING = "relying service (tessera-client)"


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(cmd, env=None, capture=True, check=True):
    result = subprocess.run(cmd, env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None)
    if check and result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(map(str, cmd))} failed:\n{result.stderr}")
    return result


def database_url(name):
    base, _, query = ADMIN_URL.partition("?")
    authority = base.split("://", 1)[1].split("/", 1)[0]
    url = f"{base.split('://', 1)[0]}://{authority}/{name}"
    return f"{url}?{query}" if query else url


def psql(sql, url=ADMIN_URL):
    return run(["psql", url, "-qtAc", sql]).stdout.strip()


def ensure_tools():
    if shutil.which("wrk") is None:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            log("installing wrk")
            run(["apt-get", "install", "-y", "wrk"], capture=True)
        else:
            raise SystemExit("bench: wrk is missing: sudo apt-get install -y wrk")
    for tool in ("psql", "pgbench"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is missing: sudo apt-get install -y postgresql-client")
    if run(["psql", ADMIN_URL, "-qtAc", "select 1"], check=False).returncode != 0:
        raise SystemExit(f"bench: no PostgreSQL answers at {ADMIN_URL} (make db-up, or set TEST_DATABASE_URL)")


class Service:
    """One `tessera serve` process."""

    def __init__(self, url, port, extra_env=None):
        env = dict(os.environ)
        env.update({
            "TESSERA__DATABASE__URL": url,
            "TESSERA__SERVER__PORT": str(port),
            "RUST_LOG": "warn",
        })
        # Each backend at its configuration's pool size: production's 16 on
        # PostgreSQL, the default 8 on SQLite (docs/decisions.md says why).
        if url.startswith("postgres"):
            env["TESSERA__DATABASE__POOL_SIZE"] = "16"
        env.update(extra_env or {})
        self.process = start_pinned([str(RELEASE / "tessera"), "--config", str(BENCH / "bench.toml"), "serve"], env)

        def ready():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return True
        wait_ready(self, ready, f"the service on port {port}")

    def rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        stop_process(self.process)


def start_pinned(cmd, env):
    """A service process, on the service's CPU where pinning applies."""
    pin = ["taskset", "-c", SERVICE_CPUS] if PIN else []
    return subprocess.Popen([*pin, *cmd], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(service, ready, what):
    """Until `ready()` is true (30 s at most); stops `service` otherwise."""
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if ready():
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    service.stop()
    raise SystemExit(f"bench: {what} did not become ready")


def stop_process(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()


class RelyingService:
    """examples/relying-service, checking tokens with the Tessera on `port`."""

    def __init__(self, tessera_port):
        client_id, secret = resource_server_credentials()
        env = dict(os.environ, TESSERA_URL=f"http://127.0.0.1:{tessera_port}",
                   TESSERA_CLIENT_ID=client_id, TESSERA_CLIENT_SECRET=secret,
                   LISTEN=f"127.0.0.1:{RELYING_PORT}", RUST_LOG="warn")
        self.process = start_pinned([str(RELEASE / "relying-service")], env)
        wait_ready(self, lambda: relying_stats()["fresh"], "the relying service")

    def stop(self):
        stop_process(self.process)


def relying_stats(port=RELYING_PORT):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=1) as answer:
        return json.loads(answer.read())


def relying_rows(tokens):
    """The relying service's warm check (POST /scores through its local
    cache) beside its own ceiling (GET /healthz, same requests), alternating."""
    example = RelyingService(PORT)
    try:
        fill = warm_up(RELYING_PORT, tokens, "/scores", ["POST"],
                       misses_of=lambda port: relying_stats(port)["introspections"])
        log(f"relying service: local cache warm after {fill['seconds']:.0f} s")
        ceilings, warms = [], []
        for _ in range(ROUNDS):
            ceilings.append(wrk(RELYING_PORT, "/healthz", "status.lua", [tokens]))
            warms.append(wrk(RELYING_PORT, "/scores", "status.lua", [tokens, "POST"]))
    finally:
        example.stop()
    return [(RELYING, "GET /healthz, status requests (its ceiling)", median(ceilings)),
            (RELYING, "POST /scores, Bearer, warm local cache", median(warms))], fill


def seed(url, count, out=None, user=None):
    cmd = [str(RELEASE / "tessera-seed"), "--config", str(BENCH / "bench.toml"), "--count", str(count)]
    if out:
        cmd += ["--out", str(out)]
    if user:
        cmd += ["--user", str(user)]
    run(cmd, env=dict(os.environ, TESSERA__DATABASE__URL=url))


def session(user):
    """A session cookie value: signing only, no database involved."""
    return run([str(RELEASE / "tessera"), "--config", str(BENCH / "bench.toml"), "session", "mint",
                "--user", str(user), "--ttl", "7200"]).stdout.strip()


def resource_server_credentials():
    """bench.toml's resource server: the introspection load, the relying service."""
    with open(BENCH / "bench.toml", "rb") as config:
        client = next(c for c in tomllib.load(config)["oauth"]["clients"] if c.get("resource_server"))
    return client["client_id"], client["client_secret"]


def resource_server_basic():
    """`Authorization` of bench.toml's resource server."""
    pair = ":".join(resource_server_credentials()).encode()
    return "Basic " + base64.b64encode(pair).decode()


def fresh_database(name):
    """An empty PostgreSQL database on the admin URL's server; its URL."""
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(f"CREATE DATABASE {name}")
    return database_url(name)


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_latency(text):
    number, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS[unit]


def wrk(port, path, script=None, args=(), seconds=DURATION, headers=()):
    pin = ["taskset", "-c", LOAD_CPUS] if PIN else []
    cmd = [*pin, "wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    if script:
        cmd += ["-s", str(BENCH / script)]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    if args:
        cmd += ["--", *args]
    out = run(cmd).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    # Anchored: "73.50%" in the thread stats must not pass for the 50th percentile.
    p50 = parse_latency(re.search(r"^\s+50%\s+(\S+)\s*$", out, re.M).group(1))
    p99 = parse_latency(re.search(r"^\s+99%\s+(\S+)\s*$", out, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "total": total,
            "errors": int(errors.group(1)) if errors else 0}


def cpu_seconds(pid):
    """User and system CPU seconds of process `pid` so far (/proc/PID/stat);
    (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def median(runs):
    """The run of median throughput, carrying every run's figure."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["runs"] = [r["rps"] for r in runs]
    return chosen


def pgbench(url, *mode, seconds=DURATION):
    """pgbench at the bench's concurrency: `-S` (a primary-key SELECT) unless
    `mode` says otherwise."""
    pin = ["taskset", "-c", LOAD_CPUS] if PIN else []
    out = run([*pin, "pgbench", *(mode or ("-S",)), "-M", "prepared", "-c", str(CONNECTIONS),
               "-j", str(THREADS), "-T", str(seconds), url]).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    latency = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    return {"rps": tps, "p50": latency, "p99": float("nan"), "total": 0, "errors": 0}


def revocation_delay(url, cookie):
    """Milliseconds until a second instance refuses a token deleted on the first."""
    first = Service(url, PORT)
    peer = Service(url, PEER_PORT)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{PORT}/api/v1/users/1/api-tokens/create",
            data=b'{"identifier":"revoked","permissions":[]}', method="POST",
            headers={"Content-Type": "application/json", "Cookie": f"tessera_session={cookie}"})
        with urllib.request.urlopen(request) as reply:
            token = re.search(r'"token":"([^"]+)"', reply.read().decode()).group(1)

        def status(port):
            check = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/status",
                                           headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(check) as reply:
                    return reply.status
            except urllib.error.HTTPError as error:
                return error.code

        assert status(PORT) == 200 and status(PEER_PORT) == 200  # both cache it
        delete = urllib.request.Request(
            f"http://127.0.0.1:{PORT}/api/v1/users/1/api-token/{token}", method="DELETE",
            headers={"Cookie": f"tessera_session={cookie}"})
        with urllib.request.urlopen(delete):
            started = time.perf_counter()
        while status(PEER_PORT) != 401:
            if time.perf_counter() - started > 10:
                return float("inf")
        return (time.perf_counter() - started) * 1000
    finally:
        first.stop()
        peer.stop()


def cache_misses(port):
    """`tessera_token_cache_misses_total` of the service on `port`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = re.search(r"^tessera_token_cache_misses_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else float("nan")


# The warm rows measure a cache that holds the tokens: the warm-up goes on
# until a window of requests is answered almost wholly by the cache. A fixed
# warm-up measured the filling itself on a slower machine (10 s of 12k req/s
# does not reach 100k tokens), so the fill is reported as its own figure.
WARM_WINDOW = 5
WARM_MISS_SHARE = 0.001
WARM_LIMIT = 180


def warm_up(port, tokens, path="/api/v1/status", mode=(), misses_of=cache_misses):
    """Requests until the cache answers; the fill as a row."""
    started, requests, misses = time.time(), 0, misses_of(port)
    first = misses
    while True:
        r = wrk(port, path, "status.lua", [tokens, *mode], seconds=WARM_WINDOW)
        now = misses_of(port)
        requests += r["total"]
        window, misses = now - misses, now
        if window <= WARM_MISS_SHARE * r["total"] or time.time() - started > WARM_LIMIT:
            break
    seconds = time.time() - started
    return {"seconds": seconds, "requests": requests, "misses": misses - first,
            "warm": window <= WARM_MISS_SHARE * r["total"]}


def bench_backend(name, url, work, cookies, cold=True, relying=False):
    creators = {user: cookies[user] for user in CREATORS}
    creators_file = work / "creators.txt"
    creators_file.write_text("".join(f"{user} {cookie}\n" for user, cookie in creators.items()))
    rows = []
    tokens = str(work / f"{name}-tokens.txt")
    log(f"{name}: seeding {SEED} tokens and user 1's 100")
    seed(url, SEED, out=tokens)
    seed(url, 100, user=1)

    service = Service(url, PORT)
    try:
        rows.append((name, "GET /healthz, plain wrk", wrk(PORT, "/healthz")))
        log(f"{name}: warming the cache")
        fill = warm_up(PORT, tokens)
        log(f"{name}: cache warm after {fill['seconds']:.0f} s ({fill['misses']:.0f} misses)")
        # The ceiling: the very requests of the status runs (random Bearer
        # tokens, same Lua generator) sent to /healthz, so the ratio measures
        # what verification costs the service rather than what the scripted
        # generator costs wrk. Ceiling and warm runs alternate, ROUNDS times,
        # and each row is the median: one 10 s run on a shared 2-core
        # machine swings by ±10 %.
        # Introspection joins the rotation: its target is a ratio to the
        # warm status path of the same tokens.
        ceilings, warms, introspections, missed = [], [], [], 0.0
        for _ in range(ROUNDS):
            ceilings.append(wrk(PORT, "/healthz", "status.lua", [tokens]))
            before = cache_misses(PORT)
            warms.append(wrk(PORT, "/api/v1/status", "status.lua", [tokens]))
            missed += cache_misses(PORT) - before
            introspections.append(wrk(PORT, "/api/v1/oauth/introspect", "status.lua",
                                      [tokens, resource_server_basic()]))
        fill["missed_in_warm_runs"] = missed
        fill["warm_requests"] = sum(w["total"] for w in warms)
        rows.append((name, "GET /healthz, status requests (ceiling)", median(ceilings)))
        rows.append((name, "GET /api/v1/status, Bearer, warm cache", median(warms)))
        rows.append((name, "POST /api/v1/oauth/introspect", median(introspections)))
        if relying:
            log(f"{name}: the relying service through tessera-client")
            relying_result, relying_fill = relying_rows(tokens)
            rows += relying_result
            fill["relying"] = relying_fill
        rows.append((name, "GET a user's 100 tokens",
                     wrk(PORT, "/api/v1/users/1/api-tokens", headers=[f"Cookie: tessera_session={cookies[1]}"])))
        rows.append((name, "POST create a token, one user",
                     wrk(PORT, "/api/v1/users/2/api-tokens/create", "create.lua",
                         headers=[f"Cookie: tessera_session={cookies[2]}"])))
        rows.append((name, f"POST create a token, {len(creators)} users",
                     wrk(PORT, "/api/v1/users/2/api-tokens/create", "create.lua", [str(creators_file)])))
    finally:
        service.stop()

    # Memory as the target states it: a fresh instance after a million
    # verifications across the seeded tokens (and nothing else).
    service = Service(url, PORT)
    try:
        verified = 0
        while verified < 1_000_000:
            verified += wrk(PORT, "/api/v1/status", "status.lua", [tokens])["total"]
        rss = service.rss_mib()
    finally:
        service.stop()

    if cold:
        cold_service = Service(url, PORT, NO_CACHE)
        try:
            rows.append((name, COLD, wrk(PORT, "/api/v1/status", "status.lua", [tokens])))
        finally:
            cold_service.stop()
    return rows, rss, verified, fill


def cold_against_pgbench(url, work):
    """Cache-disabled verification on PostgreSQL and `pgbench -S` on the same
    server, alternating ROUNDS times (medians): the pair the 0.5 × target
    compares, measured under the same conditions."""
    pgbench_url = fresh_database("tessera_pgbench")
    run(["pgbench", "-q", "-i", "-s", "10", pgbench_url])
    service = Service(url, PORT, NO_CACHE)
    colds, pgbs = [], []
    try:
        for _ in range(ROUNDS):
            pgbs.append(pgbench(pgbench_url))
            colds.append(wrk(PORT, "/api/v1/status", "status.lua", [str(work / "PostgreSQL-tokens.txt")]))
    finally:
        service.stop()
        psql("DROP DATABASE tessera_pgbench WITH (FORCE)")
    return median(colds), median(pgbs)


def pgbench_insert(seconds=DURATION, measure=lambda load: load()):
    """pgbench inserting one row per transaction into a table with a unique
    index on a 32-byte hash (the shape of a token's row and its fingerprint
    index), at the bench's concurrency: what one INSERT costs PostgreSQL
    here, the creation row's yardstick. `measure` runs the load (given as a
    function) and returns what it likes: its result by default."""
    url = fresh_database("tessera_pgbench_insert")
    psql("CREATE TABLE bench_insert (id bigserial PRIMARY KEY, hash bytea NOT NULL UNIQUE,"
         " created_at bigint NOT NULL)", url)
    script = Path(tempfile.mkdtemp(prefix="tessera-pgbench-")) / "insert.sql"
    script.write_text("INSERT INTO bench_insert (hash, created_at)"
                      " VALUES (sha256((random()::text || clock_timestamp()::text)::bytea), 0);\n")
    try:
        return measure(lambda: pgbench(url, "-n", "-f", str(script), seconds=seconds))
    finally:
        psql("DROP DATABASE tessera_pgbench_insert WITH (FORCE)")
        shutil.rmtree(script.parent, ignore_errors=True)


def scaling(work):
    """p50 of cache-disabled verification with 10k and with 1M stored tokens."""
    url = fresh_database("tessera_bench_scale")
    tokens = str(work / "scale-tokens.txt")
    seed(url, 10_000, out=tokens)
    results = {}
    for label, filler in (("10k", 0), ("1M", 990_000)):
        if filler:
            log("scaling: adding 990k filler tokens")
            psql("INSERT INTO api_tokens (user_id, identifier, token_hash, token_sealed, permissions,"
                 " created_at, public_id) SELECT 5000 + g % 1000, 'filler',"
                 " decode(md5(g::text) || md5((g + 1)::text), 'hex'), '\\x00', '[]', 0,"
                 " gen_random_uuid()::text"
                 f" FROM generate_series(1, {filler}) g", url)
            psql("VACUUM ANALYZE api_tokens", url)
        # The median of ROUNDS runs: one 10 s run on this machine moved
        # the ratio between 0.99 and 1.19 from one `make bench` to the next.
        service = Service(url, PORT, NO_CACHE)
        try:
            results[label] = median([wrk(PORT, "/api/v1/status", "status.lua", [tokens])
                                     for _ in range(ROUNDS)])
        finally:
            service.stop()
    psql("DROP DATABASE tessera_bench_scale WITH (FORCE)")
    return results


def fmt(value, digits=2):
    return "n/a" if value != value else f"{value:.{digits}f}"


def main():
    ensure_tools()
    log("building release")
    run(["cargo", "build", "--release", "-p", "tessera-server", "-p", "relying-service", "--bins"],
        capture=False)
    work = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    sqlite_url = f"sqlite://{work}/bench.db"
    cookies = {user: session(user) for user in (1, 2, *CREATORS)}
    try:
        pg_url = fresh_database("tessera_bench")
        pg_rows, pg_rss, pg_verified, pg_fill = bench_backend("PostgreSQL", pg_url, work, cookies, cold=False,
                                                                      relying=True)
        log("PostgreSQL: cache disabled against pgbench -S")
        cold, pgb = cold_against_pgbench(pg_url, work)
        pg_rows.append(("PostgreSQL", COLD, cold))
        log("PostgreSQL: pgbench of one INSERT with a unique index")
        insert = pgbench_insert()
        sqlite_rows, sqlite_rss, sqlite_verified, sqlite_fill = bench_backend("SQLite", sqlite_url, work, cookies)
        log("scaling 10k → 1M")
        scale = scaling(work)
        log("revocation reaching a second instance")
        delay = revocation_delay(pg_url, cookies[1])
        psql("DROP DATABASE IF EXISTS tessera_bench WITH (FORCE)")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = pg_rows + sqlite_rows + [("PostgreSQL", "pgbench -S -M prepared (tps; p50 = avg)", pgb),
                                    ("PostgreSQL", INSERT_ROW, insert)]
    lines = [
        f"## `make bench` at {datetime.datetime.now().strftime('%H:%M')}",
        "",
        f"`make bench` on {os.cpu_count()} cores; wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s on "
        f"loopback; {SEED} seeded tokens; release build; ceiling/warm and PostgreSQL cache-disabled/pgbench "
        f"rows are medians of {ROUNDS} alternating runs; "
        + (f"service pinned to CPU {SERVICE_CPUS}, wrk and pgbench to CPU {LOAD_CPUS}, PostgreSQL unpinned."
           if PIN else "nothing pinned."),
        "",
        "| backend | load | req/s | p50 ms | p99 ms | non-2xx |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for backend, label, r in rows:
        lines.append(f"| {backend} | {label} | {r['rps']:.0f} | {fmt(r['p50'])} | {fmt(r['p99'])} | {r['errors']} |")

    def by(backend, prefix):
        return next(r for b, label, r in rows if b == backend and label.startswith(prefix))

    lines += ["", "| target | measured | met |", "| --- | --- | --- |"]
    for backend in ("PostgreSQL", "SQLite"):
        warm = by(backend, "GET /api/v1/status, Bearer, warm")
        ceiling = by(backend, "GET /healthz, status requests")
        plain = by(backend, "GET /healthz, plain")
        ratio = warm["rps"] / ceiling["rps"]
        pairs = ", ".join(f"{w / c:.2f}" for w, c in zip(warm["runs"], ceiling["runs"]))
        lines.append(f"| {backend}: warm verification ≥ 0.9 × /healthz | {ratio:.2f} × "
                     f"(medians {warm['rps']:.0f} / {ceiling['rps']:.0f}; rounds {pairs}; "
                     f"{warm['rps'] / plain['rps']:.2f} × plain wrk) "
                     f"| {'yes' if ratio >= 0.9 else 'no'} |")
        lines.append(f"| {backend}: warm p99 ≤ 5 ms at {CONNECTIONS} connections | {warm['p99']:.2f} ms | {'yes' if warm['p99'] <= 5 else 'no'} |")
        introspection = by(backend, "POST /api/v1/oauth/introspect")
        ratio = introspection["rps"] / warm["rps"]
        pairs = ", ".join(f"{i / w:.2f}" for i, w in zip(introspection["runs"], warm["runs"]))
        lines.append(f"| {backend}: introspection ≥ 0.8 × warm verification | {ratio:.2f} × "
                     f"(medians {introspection['rps']:.0f} / {warm['rps']:.0f}; rounds {pairs}) "
                     f"| {'yes' if ratio >= 0.8 else 'no'} |")
    cold = by("PostgreSQL", COLD)
    ratio = cold["rps"] / pgb["rps"]
    pairs = ", ".join(f"{c / p:.2f}" for c, p in zip(cold["runs"], pgb["runs"]))
    lines.append(f"| PostgreSQL: cache disabled ≥ 0.8 × pgbench -S | {ratio:.2f} × (medians {cold['rps']:.0f} / {pgb['rps']:.0f}; rounds {pairs}) | {'yes' if ratio >= 0.8 else 'no'} |")
    create = by("PostgreSQL", "POST create a token, one user")
    many = by("PostgreSQL", f"POST create a token, {len(CREATORS)} users")
    ratio = many["rps"] / insert["rps"]
    lines.append(f"| PostgreSQL: create ≥ 0.6 × pgbench INSERT (many users; one user {create['rps']:.0f}) | "
                 f"{ratio:.2f} × ({many['rps']:.0f} / {insert['rps']:.0f}) | {'yes' if ratio >= 0.6 else 'no'} |")
    growth = scale["1M"]["p50"] / scale["10k"]["p50"]
    lines.append(f"| p50 with 1M tokens ≤ 1.1 × with 10k (cache disabled, PostgreSQL) | {scale['1M']['p50']:.2f} / {scale['10k']['p50']:.2f} ms = {growth:.2f} × | {'yes' if growth <= 1.1 else 'no'} |")
    for backend, rss, verified in (("PostgreSQL", pg_rss, pg_verified), ("SQLite", sqlite_rss, sqlite_verified)):
        lines.append(f"| {backend}: RSS ≤ 64 MiB after {verified} verifications of {SEED} tokens | {rss:.1f} MiB | {'yes' if rss <= 64 else 'no'} |")
    lines.append(f"| revocation seen by a second instance ≤ 1 s | {delay:.0f} ms | {'yes' if delay <= 1000 else 'no'} |")
    client = by(RELYING, "POST /scores")
    own = by(RELYING, "GET /healthz")
    introspection = by("PostgreSQL", "POST /api/v1/oauth/introspect")
    lines.append(f"| relying service: a check through tessera-client's warm cache against one "
                 f"introspection over HTTP | {client['rps']:.0f} vs {introspection['rps']:.0f} req/s = "
                 f"{client['rps'] / introspection['rps']:.2f} ×; p50 {client['p50']:.2f} vs "
                 f"{introspection['p50']:.2f} ms | – |")
    lines.append(f"| relying service: protected route against its own /healthz | "
                 f"{client['rps'] / own['rps']:.2f} × (medians {client['rps']:.0f} / {own['rps']:.0f}) | – |")

    lines += ["", "Filling the cache (a fresh instance, every seeded token read once; the warm-up "
              f"ends when a {WARM_WINDOW} s window misses at most {WARM_MISS_SHARE:.1%} of its requests):", "",
              "| backend | fill time | requests | misses | misses during the warm runs |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for backend, fill in (("PostgreSQL", pg_fill), ("SQLite", sqlite_fill)):
        note = "" if fill["warm"] else f" (not warm after {WARM_LIMIT} s)"
        lines.append(f"| {backend} | {fill['seconds']:.0f} s{note} | {fill['requests']} | {fill['misses']:.0f} | "
                     f"{fill['missed_in_warm_runs']:.0f} of {fill['warm_requests']} |")

    relying_fill = pg_fill["relying"]
    lines += ["", f"The relying service's local cache filled in {relying_fill['seconds']:.0f} s "
              f"({relying_fill['requests']} requests, {relying_fill['misses']:.0f} introspections)."]

    table = "\n".join(lines) + "\n"
    print(table)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    path = results / f"{datetime.date.today().isoformat()}.md"
    # Appended: the day's file also holds profiles and comparisons.
    if path.exists():
        with path.open("a") as day:
            day.write("\n" + table)
    else:
        path.write_text(f"# Benchmarks, {datetime.date.today().isoformat()}\n\n" + table)
    log(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
