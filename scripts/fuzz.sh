#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target of fuzz/ for FUZZ_SECONDS each
# (default 60) and prints, per target, the executions and the time taken.
# Needs the nightly toolchain (libFuzzer's instrumentation) and cargo-fuzz,
# which it installs from crates.io when missing. A crash fails the run and
# leaves the input under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${FUZZ_SECONDS:-60}
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: the nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

summary=()
for target in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
    log=$(mktemp)
    echo "== $target: ${seconds} s"
    if ! cargo +nightly fuzz run --fuzz-dir fuzz "$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz.sh: $target failed; the input is under fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n1 || true)
    summary+=("$target: ${runs:-no summary}")
    rm -f "$log"
done
echo; printf '%s\n' "${summary[@]}"
