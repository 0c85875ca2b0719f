# Sourced by the benchmark scripts: `bench_start PRODUCT…` makes a work folder that is removed on exit, builds the
# products in release mode (Swift runtime linked statically, as deployments should be), starts a throwaway
# PostgreSQL in the folder, durable as users run theirs (PostgreSQL's defaults: fsync, synchronous_commit and
# full_page_writes on), exports its PG* variables, and prints the server's settings as the first line of the figures,
# so that every table says what it ran on. BENCH_DURABLE=0 runs on a server with the three off instead (a labelled,
# second set). Sets `root`, `work` and `bin` (the folder of the binaries).
# On exit it first calls the script's `bench_stop`, when the script defines one, to stop the processes it still runs
# (by the pids it started them with: never by name).
# shellcheck shell=bash

bench_start() {
    root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
    cd -- "$root" || exit 1
    work=$(mktemp -d /tmp/pgdaemon-bench.XXXXXX)
    chmod 755 "$work"  # the postgres user runs the server inside it
    trap bench_cleanup EXIT
    echo "==> swift build -c release --static-swift-stdlib" >&2
    local product
    for product in "$@"; do
        swift build -c release --static-swift-stdlib --product "$product" >/dev/null
    done
    # shellcheck disable=SC2034  # for the sourcing script
    bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
    PG_LOCAL_DURABLE=${BENCH_DURABLE:-1} scripts/pg-local start "$work/pg" >/dev/null 2>&1
    set -a
    # shellcheck source=/dev/null
    . "$work/pg/env"
    set +a
    bench_server_settings
}

# bench_needs COMMAND PACKAGE: stops with one sentence when COMMAND is missing, before anything is built or started
# (benchmarks/run checks what its benchmarks need this way, rather than stop at one of them half an hour in).
bench_needs() {
    command -v "$1" >/dev/null || { echo "$(basename -- "$0"): needs $1 (apt-get install -y $2)" >&2; exit 1; }
}

# Prints the line that names the server a benchmark's figures came from.
bench_server_settings() {
    psql -Atc "SELECT 'server: PostgreSQL ' || current_setting('server_version') || ', ' || string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'max_connections', 'shared_buffers')"
}

# Called by the EXIT trap.
# shellcheck disable=SC2317
bench_cleanup() {
    if declare -F bench_stop >/dev/null; then bench_stop; fi
    scripts/pg-local stop "$work/pg" --remove >/dev/null 2>&1 || true
    rm -rf -- "$work"
}
