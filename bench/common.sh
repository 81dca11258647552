# Shared by every script of bench/ (sourced, not run): the repository as working directory,
# messages, the processes a script starts (stopped by PID on exit), the release build, free
# loopback ports, and Sekisho's configuration for the benchmarks.
#
# A script sets BENCH_WORK_NAME (the temporary directory's prefix) before sourcing this.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "$*" >&2; }
for cmd in curl ss awk cargo; do
    command -v "$cmd" >/dev/null || die "$cmd is required"
done
command -v wrk >/dev/null || die "wrk is not installed: apt-get install wrk"

# The servers must see only the script's configuration.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(SEKISHO_|RUST_LOG$)' || true)

# --- processes we start, stopped by PID on exit --------------------------------------------
PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/${BENCH_WORK_NAME:-sekisho-bench}.XXXXXX")
chmod 700 "$WORK"
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ------------------------------------------------------------------------------------
# release_build: builds (unless BENCH_NO_BUILD) and sets BIN and EXAMPLES.
release_build() {
    if [[ -z ${BENCH_NO_BUILD:-} ]]; then
        note "== cargo build --release --examples --bins"
        cargo build --release --examples --bins >&2
    fi
    # Honours CARGO_TARGET_DIR and build.target-dir.
    TARGET_DIR=$(cargo metadata --no-deps --format-version 1 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    TARGET_DIR=${TARGET_DIR:-$ROOT/target}
    BIN=$TARGET_DIR/release/sekisho
    EXAMPLES=$TARGET_DIR/release/examples
    for b in "$BIN" "$EXAMPLES/bare_202" "$EXAMPLES/bare_http1" "$EXAMPLES/mint_session"; do
        [[ -x $b ]] || die "$b is missing; run without BENCH_NO_BUILD"
    done
}

# --- servers ----------------------------------------------------------------------------------
# wait_http URL NAME PID [LOG]: waits until URL answers; dies if the process is gone, showing
# the last lines of LOG when given.
wait_http() {
    for _ in $(seq 200); do
        kill -0 "$3" 2>/dev/null || die "$2 exited during startup${4:+: $(tail -n 5 "$4")}"
        curl -s -o /dev/null --max-time 1 "$1" && return
        sleep 0.05
    done
    die "$2 did not answer $1"
}

# Sets PORT to a loopback port nobody listens on (and that this script has not handed out).
TAKEN=" "
free_port() {
    local port
    for _ in $(seq 200); do
        port=$(( 20000 + RANDOM % 40000 ))
        [[ $TAKEN == *" $port "* ]] && continue
        if ! ss -Htln "sport = :$port" | grep -q .; then
            TAKEN+="$port "
            PORT=$port
            return
        fi
    done
    die "no free port found"
}

# sekisho_config FILE PORT ACCESS_LOG [SESSION_LINES [MORE]]: Sekisho on 127.0.0.1:PORT,
# believing 127.0.0.1 (wrk, nginx) about X-Forwarded-For, 198.51.100.0/24 let in without a
# session, cookies sealed with SECRET; SESSION_LINES go into [session] (the store), MORE after
# everything ([[upstream]] tables). Checked with `sekisho check`.
sekisho_config() {
    cat >"$1" <<EOF
listen = "127.0.0.1:$2"
public_url = "http://127.0.0.1:$2"
trusted_ips = ["198.51.100.0/24"]
shutdown_timeout = "1s"

[client_ip]
header = "x-forwarded-for"
trusted_proxies = ["127.0.0.1/32"]

[session]
${4:-}
cookie_name = "_sekisho"
secret = "$SECRET"
secure = false

[log]
access = $3

${5:-}
EOF
    "$BIN" check --config "$1" >/dev/null || die "generated config $1 is invalid"
}
