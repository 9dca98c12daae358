#!/usr/bin/env bash
# `make deny`: cargo-deny's licence, ban and source checks (deny.toml), and
# its advisory check against the RustSec database when that can be fetched.
# Installs cargo-deny from crates.io when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo deny --version >/dev/null 2>&1; then
    echo "deny.sh: installing cargo-deny"
    cargo install cargo-deny --locked
fi
cargo deny --all-features check --hide-inclusion-graph licenses bans sources
# The advisory database lives on GitHub; a machine that reaches only the
# package registries cannot fetch it.
if timeout 10 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
    cargo deny check --hide-inclusion-graph advisories
else
    echo "deny.sh: advisories NOT checked: the RustSec database (github.com/rustsec/advisory-db) cannot be fetched from here"
fi
