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
    # SIGCONT too: a process a script stopped (SIGSTOP) gets the SIGTERM only once resumed.
    for pid in "${PIDS[@]}"; do
        if kill "$pid" 2>/dev/null; then kill -CONT "$pid" 2>/dev/null || true; fi
    done
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

# forget_pid PID: PID has been stopped and waited for by the script itself; it is no longer
# stopped on exit (its number may by then belong to another process).
forget_pid() {
    local kept=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
    PIDS=("${kept[@]}")
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
# everything ([[upstream]] tables). PUBLIC_URL (default http://127.0.0.1:PORT) and
# SHUTDOWN_TIMEOUT (default 1s), when set, replace those settings. Checked with `sekisho check`.
sekisho_config() {
    cat >"$1" <<EOF
listen = "127.0.0.1:$2"
public_url = "${PUBLIC_URL:-http://127.0.0.1:$2}"
trusted_ips = ["198.51.100.0/24"]
shutdown_timeout = "${SHUTDOWN_TIMEOUT:-1s}"

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

# run_redis PORT DIR LOG [ARGS...]: a redis-server on 127.0.0.1:PORT (on the server core when
# SERVER_CPU is set) with its files in DIR and more ARGS; waits until it accepts connections
# and sets REDIS_STARTED_PID. Without ARGS nothing is written to disk.
run_redis() {
    local port=$1 dir=$2 log=$3 pid
    shift 3
    command -v redis-server >/dev/null || die "redis-server is required: apt-get install redis-server"
    (( $# )) || set -- --save "" --appendonly no
    ${SERVER_CPU:+taskset -c "$SERVER_CPU"} redis-server --port "$port" --bind 127.0.0.1 \
        --daemonize no --dir "$dir" "$@" >>"$log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "redis-server exited during startup: $(tail -n 5 "$log")"
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.05
    done
    REDIS_STARTED_PID=$pid
}

# start_redis VAR [ARGS...]: run_redis on a free port, files in $WORK; sets ${VAR}_PID,
# ${VAR}_PORT and ${VAR}_URL.
start_redis() {
    local var=$1
    shift
    free_port
    run_redis "$PORT" "$WORK" "$WORK/redis.log" "$@"
    printf -v "${var}_PID" '%s' "$REDIS_STARTED_PID"
    printf -v "${var}_PORT" '%s' "$PORT"
    printf -v "${var}_URL" '%s' "redis://127.0.0.1:$PORT/0"
}

# --- the test OpenID provider (tests/peers/oidc, the Keycloak look-alike) ----------------------
OIDC_PEER=$ROOT/tests/peers/oidc

# start_oidc_provider JSON: the provider with that configuration (tests/peers/oidc/README.md),
# on the client core when CLIENT_CPU is set; output appended to $WORK/oidc.out and .err. Sets
# OIDC_PID and ISSUER.
start_oidc_provider() {
    local lines
    command -v node >/dev/null || die "node is required for the test OpenID provider: see tests/peers/oidc/README.md"
    [[ -d $OIDC_PEER/node_modules/oidc-provider ]] || die "the test OpenID provider is not installed: npm ci --prefix tests/peers/oidc"
    touch "$WORK/oidc.out"
    lines=$(wc -l <"$WORK/oidc.out")
    ${CLIENT_CPU:+taskset -c "$CLIENT_CPU"} node "$OIDC_PEER/server.js" "$1" >>"$WORK/oidc.out" 2>>"$WORK/oidc.err" &
    OIDC_PID=$!
    PIDS+=("$OIDC_PID")
    ISSUER=
    for _ in $(seq 200); do
        ISSUER=$(tail -n +"$((lines + 1))" "$WORK/oidc.out" | sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p')
        [[ -n $ISSUER ]] && return
        kill -0 "$OIDC_PID" 2>/dev/null || break
        sleep 0.05
    done
    die "the test OpenID provider did not start: $(tail -n 5 "$WORK/oidc.err")"
}

# sign_in_attempt BASE COOKIE_NAME: signs alice in at the provider through BASE/oauth2/start,
# as a browser would. On success sets SIGN_IN_COOKIE to the Cookie header value made of the
# cookies named COOKIE_NAME (or its numbered chunks) that BASE set; otherwise sets
# SIGN_IN_FAILURE and returns 1: `start_CODE` (no login form: BASE answered CODE, e.g. its
# "sign-in unavailable" page), `provider_no_answer` (BASE sent the browser to the provider,
# which did not answer) or `callback_CODE` (the form was sent, but no session came of it).
sign_in_attempt() {
    local base=$1 name=$2 jar action code rc=0
    SIGN_IN_COOKIE='' SIGN_IN_FAILURE=''
    jar=$(mktemp "$WORK/jar.XXXXXX")
    code=$(curl -s -L --max-time 20 -c "$jar" -b "$jar" -o "$jar.form" -w '%{http_code}' "$base/oauth2/start?rd=%2F") || rc=$?
    action=$(sed -n 's/.*id="kc-form-login"[^>]* action="\([^"]*\)".*/\1/p' "$jar.form" 2>/dev/null | head -n1)
    if [[ -z $action ]]; then
        if (( rc != 0 )) && [[ $code == 3* ]]; then SIGN_IN_FAILURE=provider_no_answer; else SIGN_IN_FAILURE="start_$code"; fi
    else
        code=$(curl -s -L --max-time 20 -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' \
            -d username=alice -d password=alice-password "${action//&amp;/&}" || true)
        SIGN_IN_COOKIE=$(awk -F'\t' -v n="$name" 'NF >= 7 && ($6 == n || $6 ~ "^" n "_[0-9]+$") { printf "%s%s=%s", sep, $6, $7; sep = "; " }' "$jar")
        [[ -n $SIGN_IN_COOKIE ]] || SIGN_IN_FAILURE="callback_$code"
    fi
    rm -f "$jar" "$jar.form"
    [[ -z $SIGN_IN_FAILURE ]]
}

# sign_in BASE COOKIE_NAME: sign_in_attempt that prints the cookie; dies when there was no
# login form, prints nothing when the sign-in gave no cookie.
sign_in() {
    if ! sign_in_attempt "$1" "$2" && [[ $SIGN_IN_FAILURE != callback_* ]]; then
        die "sign-in through $1: no login form at the provider ($SIGN_IN_FAILURE)"
    fi
    printf '%s' "$SIGN_IN_COOKIE"
}
