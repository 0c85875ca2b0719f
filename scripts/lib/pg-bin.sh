# shellcheck shell=bash
# Finds the PostgreSQL server binaries (initdb, pg_ctl, postgres), so that
# scripts/pg-local and scripts/test search the same places in the same order:
#   1. `pg_config --bindir`, when pg_config works and that folder has the server;
#   2. the newest /usr/lib/postgresql/*/bin (Debian keeps the server off PATH);
#   3. the folder of `initdb` on PATH.
# Source it, then call `pg_bin_find`: it sets PG_BINDIR and returns 0, or returns 1.

# pg_bin_ok FOLDER: true when FOLDER holds all three server programs.
pg_bin_ok() {
    [ -n "$1" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]
}

# PG_BINDIR is read by the scripts that source this file.
# shellcheck disable=SC2034
pg_bin_find() {
    local dir initdb_path
    PG_BINDIR=
    if command -v pg_config >/dev/null 2>&1 \
        && dir=$(pg_config --bindir 2>/dev/null) && pg_bin_ok "$dir"; then
        PG_BINDIR=$dir
        return 0
    fi
    while IFS= read -r dir; do
        if pg_bin_ok "$dir"; then
            PG_BINDIR=$dir
            return 0
        fi
    done < <(shopt -s nullglob; for dir in /usr/lib/postgresql/*/bin; do
                 printf '%s\n' "$dir"; done | sort -rV)
    if initdb_path=$(command -v initdb 2>/dev/null); then
        # Prefer the real folder behind a symlink, then the folder on PATH itself.
        dir=$(dirname -- "$(readlink -f -- "$initdb_path")")
        if pg_bin_ok "$dir"; then PG_BINDIR=$dir; return 0; fi
        dir=$(dirname -- "$initdb_path")
        if pg_bin_ok "$dir"; then PG_BINDIR=$dir; return 0; fi
    fi
    return 1
}
