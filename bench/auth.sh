#!/usr/bin/env bash
# Throughput and tail latency of Sekisho's `/oauth2/auth` next to a bare hyper server that
# answers 202 to everything (examples/bare_202.rs: the physical limit of this stack), with
# sessions in cookies and in Redis (a redis-server started here on a free port).
#
# One run builds release, starts the servers pinned to one core and wrk pinned to another,
# runs every case once per round (interleaved, order rotated each round) and prints medians.
# Runs disturbed by other processes on the machine are detected and repeated. Only loopback
# traffic. See bench/README.md for how to read the table.
#
# Environment (all optional):
#   BENCH_DURATION=10       seconds per measured run
#   BENCH_ROUNDS=3          rounds; every case runs once per round
#   BENCH_WARMUP=2          seconds of unmeasured load per case before the first round (0: none)
#   BENCH_CONNECTIONS=16    wrk connections
#   BENCH_THREADS=1         wrk threads (all on the one client core)
#   BENCH_SERVER_CPU=0      core the servers are pinned to
#   BENCH_CLIENT_CPU=1      core wrk is pinned to
#   BENCH_MAX_FOREIGN=5     a run during which other processes used more than this % of a core
#                           is repeated (after waiting for the machine to be quiet)
#   BENCH_RETRIES=3         repeats of a disturbed run before keeping it (marked with !)
#   BENCH_QUIET_TIMEOUT=300 seconds to wait for a quiet machine before each run (0: don't wait)
#   BENCH_NO_BUILD=1        skip `cargo build` (use the binaries already built)
#   BENCH_RAW=FILE          also append every measured run (TSV) to FILE
#
# Quick smoke: BENCH_DURATION=3 BENCH_ROUNDS=1 bench/auth.sh
set -euo pipefail

DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-1}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
MAX_FOREIGN=${BENCH_MAX_FOREIGN:-5}
RETRIES=${BENCH_RETRIES:-3}
QUIET_TIMEOUT=${BENCH_QUIET_TIMEOUT:-300}

# Targets, as a percentage of the bare server's median requests/s.
TARGET_SESSION=85
TARGET_TRUSTED=90

# The client address each case claims through X-Forwarded-For. wrk (127.0.0.1) is a trusted
# proxy, so the header is believed; every case sends one, so all requests cost the same to
# resolve.
XFF_TRUSTED=198.51.100.7   # inside trusted_ips
XFF_OTHER=192.0.2.9        # outside trusted_ips

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "$*" >&2; }
for cmd in taskset curl ss awk cargo redis-server; do
    command -v "$cmd" >/dev/null || die "$cmd is required"
done
command -v wrk >/dev/null || die "wrk is not installed: apt-get install wrk"
for v in DURATION ROUNDS CONNECTIONS THREADS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer"
done
for v in WARMUP SERVER_CPU CLIENT_CPU MAX_FOREIGN RETRIES QUIET_TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number"
done
ncpu=$(getconf _NPROCESSORS_ONLN)
(( SERVER_CPU < ncpu && CLIENT_CPU < ncpu )) || die "need cores $SERVER_CPU and $CLIENT_CPU; this machine has $ncpu"
(( SERVER_CPU != CLIENT_CPU )) || note "bench: warning: servers and wrk share core $SERVER_CPU; not comparable with the targets"
CLK_TCK=$(getconf CLK_TCK)

# The servers must see only this script's configuration.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(SEKISHO_|RUST_LOG$)' || true)

# --- processes we start, stopped by PID on exit --------------------------------------------
PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sekisho-bench.XXXXXX")
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
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    note "== cargo build --release --examples --bins"
    cargo build --release --examples --bins >&2
fi
# Honours CARGO_TARGET_DIR and build.target-dir.
TARGET_DIR=$(cargo metadata --no-deps --format-version 1 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
TARGET_DIR=${TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release/sekisho
BARE=$TARGET_DIR/release/examples/bare_202
MINT=$TARGET_DIR/release/examples/mint_session
for b in "$BIN" "$BARE" "$MINT"; do [[ -x $b ]] || die "$b is missing; run without BENCH_NO_BUILD"; done

# --- servers ----------------------------------------------------------------------------------
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

wait_http() { # URL NAME PID
    for _ in $(seq 200); do
        kill -0 "$3" 2>/dev/null || die "$2 exited during startup"
        curl -s -o /dev/null --max-time 1 "$1" && return
        sleep 0.05
    done
    die "$2 did not answer $1"
}

SECRET=$("$BIN" secret)

write_config() { # FILE PORT ACCESS_LOG [REDIS_URL]
    local store="store = \"cookie\""
    if [[ -n ${4:-} ]]; then store="store = \"redis\""$'\n'"redis_url = \"$4\""; fi
    cat >"$1" <<EOF
listen = "127.0.0.1:$2"
public_url = "http://127.0.0.1:$2"
trusted_ips = ["198.51.100.0/24"]
shutdown_timeout = "1s"

[client_ip]
header = "x-forwarded-for"
trusted_proxies = ["127.0.0.1/32"]

[session]
$store
cookie_name = "_sekisho"
secret = "$SECRET"
lifetime = "12h"
secure = false

[log]
format = "text"
level = "info"
access = $3
EOF
    "$BIN" check --config "$1" >/dev/null || die "generated config $1 is invalid"
}

# bare hyper: ephemeral port, printed on stdout
taskset -c "$SERVER_CPU" "$BARE" 127.0.0.1:0 >"$WORK/bare.out" 2>"$WORK/bare.err" &
BARE_PID=$!
PIDS+=("$BARE_PID")
for _ in $(seq 100); do [[ -s $WORK/bare.out ]] && break; sleep 0.05; done
BARE_ADDR=$(head -n1 "$WORK/bare.out")
[[ -n $BARE_ADDR ]] || die "bare_202 did not print its address"
BARE_URL="http://$BARE_ADDR"
wait_http "$BARE_URL/" bare_202 "$BARE_PID"

# sekisho, access log off (the headline numbers)
free_port; PORT_QUIET=$PORT
write_config "$WORK/quiet.toml" "$PORT_QUIET" false
taskset -c "$SERVER_CPU" "$BIN" serve --config "$WORK/quiet.toml" 2>"$WORK/quiet.log" &
QUIET_PID=$!
PIDS+=("$QUIET_PID")
QUIET_URL="http://127.0.0.1:$PORT_QUIET"
wait_http "$QUIET_URL/ping" "sekisho (access log off)" "$QUIET_PID"

# sekisho, access log on, written to /dev/null
free_port; PORT_LOUD=$PORT
write_config "$WORK/loud.toml" "$PORT_LOUD" true
taskset -c "$SERVER_CPU" "$BIN" serve --config "$WORK/loud.toml" 2>/dev/null &
LOUD_PID=$!
PIDS+=("$LOUD_PID")
LOUD_URL="http://127.0.0.1:$PORT_LOUD"
wait_http "$LOUD_URL/ping" "sekisho (access log on)" "$LOUD_PID"

COOKIE=$("$MINT" "$SECRET")
[[ $COOKIE == _sekisho=* ]] || die "mint_session printed no cookie"

# redis-server for the Redis-session case, on the servers' core: Sekisho and Redis share the
# one core the other servers have to themselves, so the case costs what the Redis path costs.
free_port; PORT_REDIS=$PORT
taskset -c "$SERVER_CPU" redis-server --port "$PORT_REDIS" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
REDIS_URL="redis://127.0.0.1:$PORT_REDIS/0"
for _ in $(seq 100); do
    kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited during startup: $(cat "$WORK/redis.log")"
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT_REDIS") 2>/dev/null && break
    sleep 0.05
done

# sekisho, sessions in Redis, access log off
free_port; PORT_REDIS_SK=$PORT
write_config "$WORK/redis.toml" "$PORT_REDIS_SK" false "$REDIS_URL"
taskset -c "$SERVER_CPU" "$BIN" serve --config "$WORK/redis.toml" 2>"$WORK/redis-sekisho.log" &
REDIS_SK_PID=$!
PIDS+=("$REDIS_SK_PID")
REDIS_SK_URL="http://127.0.0.1:$PORT_REDIS_SK"
wait_http "$REDIS_SK_URL/ping" "sekisho (Redis sessions)" "$REDIS_SK_PID"
REDIS_COOKIE=$(MINT_REDIS_URL=$REDIS_URL "$MINT" "$SECRET")
[[ $REDIS_COOKIE == _sekisho=* ]] || die "mint_session stored no session in Redis"

# --- cases ------------------------------------------------------------------------------------
# name | label | server pid | url | expected status | X-Forwarded-For | cookie (0, 1, redis) | helper pid
# A helper's CPU (redis-server's) is counted with the server's.
CASES=(
    "bare|bare hyper 202 (limit)|$BARE_PID|$BARE_URL/oauth2/auth|202|$XFF_OTHER|1"
    "session|sekisho: cookie session|$QUIET_PID|$QUIET_URL/oauth2/auth|202|$XFF_OTHER|1"
    "trusted|sekisho: trusted IP|$QUIET_PID|$QUIET_URL/oauth2/auth|202|$XFF_TRUSTED|0"
    "nosession|sekisho: no session (401)|$QUIET_PID|$QUIET_URL/oauth2/auth|401|$XFF_OTHER|0"
    "session_log|sekisho: session + access log|$LOUD_PID|$LOUD_URL/oauth2/auth|202|$XFF_OTHER|1"
    "redis|sekisho: redis session|$REDIS_SK_PID|$REDIS_SK_URL/oauth2/auth|202|$XFF_OTHER|redis|$REDIS_PID"
)

field() { local IFS='|' F; read -r -a F <<<"$1"; echo "${F[$2]:-}"; }

headers_for() { # CASE -> one header per line
    echo "X-Forwarded-For: $(field "$1" 5)"
    case $(field "$1" 6) in
        1) echo "Cookie: $COOKIE" ;;
        redis) echo "Cookie: $REDIS_COOKIE" ;;
    esac
}

# Every case must answer what it claims to measure before it is measured.
note "== checking each case answers as expected"
for c in "${CASES[@]}"; do
    args=()
    while IFS= read -r h; do args+=(-H "$h"); done < <(headers_for "$c")
    out=$(curl -s -D - -o /dev/null "${args[@]}" "$(field "$c" 3)")
    status=$(awk 'NR == 1 { print $2 }' <<<"$out")
    [[ $status == "$(field "$c" 4)" ]] || die "$(field "$c" 1): expected $(field "$c" 4), got '$status'"
    case $(field "$c" 0) in
        session | session_log | redis)
            grep -qi '^x-auth-request-user: alice' <<<"$out" || die "$(field "$c" 1): 202 without x-auth-request-user" ;;
    esac
    note "   $(printf '%-32s %s' "$(field "$c" 1)" "$status")"
done

# --- measuring --------------------------------------------------------------------------------
# wrk reports through this, in microseconds, exactly (no rounding as in the --latency table).
cat >"$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime+stime
server_ticks() { # PID [HELPER_PID]: the server's ticks, and its helper's
    local t
    t=$(proc_ticks "$1")
    if [[ -n ${2:-} ]]; then t=$(( t + $(proc_ticks "$2") )); fi
    echo "$t"
}
child_ticks() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$1/stat"; } # cutime+cstime
cpu_busy() { awk -v c="cpu$1" '$1 == c { idle = $5 + $6; t = 0; for (i = 2; i <= 9; i++) t += $i; print t - idle, t }' /proc/stat; }
# Busy ticks of the whole machine, counting steal (time the hypervisor gave to another guest).
# Softirq work (loopback TCP) is charged to the process it ran on behalf of, so it is in ours.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# CPU time of processes we can see, "pid ticks comm"; only used to name the culprit. Kernel
# threads are left out (ksoftirqd and kworkers mostly carry our own network traffic).
proc_snapshot() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '{
        pid = $1; comm = $0; sub(/^[0-9]+ \(/, "", comm); sub(/\) [A-Za-z] .*$/, "", comm); gsub(/ /, "_", comm)
        rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
        if (pid != 2 && f[2] != 2) print pid, f[12] + f[13], comm }'
}
top_process() { # BEFORE AFTER: the visible process (not ours) that used most CPU in between
    awk -v ours=" ${PIDS[*]} $$ " '
        NR == FNR { b[$1] = $2; next }
        index(ours, " " $1 " ") == 0 { d = $2 - (($1 in b) ? b[$1] : 0); if (d > 0) by[$3] += d }
        END { top = "nothing visible from here"; m = 0; for (n in by) if (by[n] > m) { m = by[n]; top = n }; print top }' \
        <(echo "$1") <(echo "$2")
}
# Percent of one core used by everything but our server and wrk.
foreign_pct() { # MACHINE_BEFORE MACHINE_AFTER OUR_TICKS SECONDS
    awk -v a="$1" -v b="$2" -v ours="$3" -v tck="$CLK_TCK" -v secs="$4" 'BEGIN {
        f = b - a - ours; printf "%.0f\n", (f > 0 ? f : 0) * 100 / tck / secs }'
}

# Waits until the machine is quiet (everything else together under MAX_FOREIGN% of a core
# over one second), for at most QUIET_TIMEOUT seconds.
wait_quiet() {
    local waited=0 m0 m1 p0 p1 f
    (( QUIET_TIMEOUT > 0 )) || return 0
    while :; do
        p0=$(proc_snapshot); m0=$(machine_ticks); sleep 1; m1=$(machine_ticks); p1=$(proc_snapshot)
        f=$(foreign_pct "$m0" "$m1" 0 1)
        (( f <= MAX_FOREIGN )) && return 0
        if (( waited % 30 == 0 )); then note "   (machine busy: ${f}% of a core in use, top visible process: $(top_process "$p0" "$p1"); waiting)"; fi
        waited=$((waited + 1))
        if (( waited >= QUIET_TIMEOUT )); then note "   (still busy after ${QUIET_TIMEOUT}s; measuring anyway)"; return 0; fi
    done
}

# run_wrk CASE SECONDS -> "rps p99_us p50_us srv_cpu% client_core% status_errors socket_errors
#                          srv_us_per_req foreign% top_visible_process"
# Runs in a subshell; wrk is its only child while measured, so its CPU shows in our cutime.
run_wrk() {
    local c=$1 secs=$2 me=$BASHPID pid helper url args=() h t0 t1 w0 w1 b0 b1 m0 m1 p0 p1 start end foreign wall
    pid=$(field "$c" 2)
    helper=$(field "$c" 7)
    url=$(field "$c" 3)
    while IFS= read -r h; do args+=(-H "$h"); done < <(headers_for "$c")
    kill -0 "$pid" 2>/dev/null || die "$(field "$c" 1): server (pid $pid) is gone"
    p0=$(proc_snapshot)
    t0=$(server_ticks "$pid" "$helper"); w0=$(child_ticks "$me"); b0=$(cpu_busy "$CLIENT_CPU"); m0=$(machine_ticks); start=$(date +%s%N)
    taskset -c "$CLIENT_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --latency -s "$WORK/report.lua" "${args[@]}" "$url" >"$WORK/wrk.out"
    end=$(date +%s%N); m1=$(machine_ticks); b1=$(cpu_busy "$CLIENT_CPU"); w1=$(child_ticks "$me"); t1=$(server_ticks "$pid" "$helper")
    p1=$(proc_snapshot)
    wall=$(awk -v ns=$((end - start)) 'BEGIN { print ns / 1e9 }')
    foreign=$(foreign_pct "$m0" "$m1" $(( (t1 - t0) + (w1 - w0) )) "$wall")
    awk -v t0="$t0" -v t1="$t1" -v tck="$CLK_TCK" -v wall="$wall" -v b0="$b0" -v b1="$b1" \
        -v foreign="$foreign" -v top="$(top_process "$p0" "$p1" | tr ' ' '_')" '
        /^BENCH / {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            split(b0, x, " "); split(b1, y, " ")
            client = (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0
            printf "%.0f %d %d %.0f %.0f %d %d %.2f %d %s\n", v["requests"] / (v["duration_us"] / 1e6), v["p99_us"], v["p50_us"],
                100 * (t1 - t0) / tck / wall, client, v["status_errors"], v["socket_errors"],
                v["requests"] ? (t1 - t0) / tck * 1e6 / v["requests"] : 0, foreign, top
            found = 1
        }
        END { if (!found) exit 1 }' "$WORK/wrk.out" || die "$(field "$c" 1): could not read wrk output:"$'\n'"$(cat "$WORK/wrk.out")"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
best() { tr ' ' '\n' | grep . | sort -g | tail -n1; }

note "== ${ROUNDS} round(s) x ${#CASES[@]} cases x ${DURATION}s; servers on core $SERVER_CPU, wrk -t$THREADS -c$CONNECTIONS on core $CLIENT_CPU"
if (( WARMUP > 0 )); then
    wait_quiet
    for c in "${CASES[@]}"; do result=$(run_wrk "$c" "$WARMUP"); done
fi

declare -A RPS P99 P50 SRV CLI CPUREQ SHOWN
DISTURBED=0
n=${#CASES[@]}
for (( r = 0; r < ROUNDS; r++ )); do
    for (( k = 0; k < n; k++ )); do
        c=${CASES[$(( (k + r) % n ))]}
        name=$(field "$c" 0)
        for (( attempt = 0; ; attempt++ )); do
            wait_quiet
            result=$(run_wrk "$c" "$DURATION")
            read -r rps p99 p50 srv cli serr kerr cpureq foreign top <<<"$result"
            (( foreign <= MAX_FOREIGN )) && break
            if (( attempt >= RETRIES )); then DISTURBED=$((DISTURBED + 1)); break; fi
            note "   round $((r + 1))  $(printf '%-32s' "$(field "$c" 1)") disturbed (${foreign}% of a core used by others; top visible: ${top//_/ }); repeating"
        done
        mark=""; (( foreign <= MAX_FOREIGN )) || mark="!"
        # A 401 case is all "status errors" in wrk's terms; any other case must have none.
        if [[ $(field "$c" 4) == 202 ]] && (( serr > 0 )); then note "bench: warning: $name: $serr non-2xx responses"; fi
        (( kerr == 0 )) || note "bench: warning: $name: $kerr socket errors"
        RPS[$name]+="$rps "; P99[$name]+="$p99 "; P50[$name]+="$p50 "; SRV[$name]+="$srv "; CLI[$name]+="$cli "
        CPUREQ[$name]+="$cpureq "; SHOWN[$name]+="$rps$mark "
        note "   $(printf 'round %d  %-32s %7d req/s  p50 %5d us  p99 %6d us  server cpu %3d%% (%5.2f us/req)  wrk core %3d%%  others %3d%%%s' \
            $((r + 1)) "$(field "$c" 1)" "$rps" "$p50" "$p99" "$srv" "$cpureq" "$cli" "$foreign" "${mark:+ (disturbed, kept)}")"
        if [[ -n ${BENCH_RAW:-} ]]; then
            printf '%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%d\n' "$(date -Is)" $((r + 1)) "$name" "$rps" "$p50" "$p99" "$srv" "$cpureq" "$cli" "$foreign" >>"$BENCH_RAW"
        fi
    done
done

# --- report -----------------------------------------------------------------------------------
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }
bare_rps=$(median <<<"${RPS[bare]}")
bare_best=$(best <<<"${RPS[bare]}")
bare_cpu=$(median <<<"${CPUREQ[bare]}")
echo
printf 'sekisho /oauth2/auth vs bare hyper: medians of %d round(s) x %ds; wrk -t%d -c%d on core %d, servers on core %d\n' \
    "$ROUNDS" "$DURATION" "$THREADS" "$CONNECTIONS" "$CLIENT_CPU" "$SERVER_CPU"
printf 'sekisho %s\n\n' "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '(not a git checkout)')"
row() { printf '%-30s %6s %9s %7s %8s %8s %9s %7s %7s %7s %6s  %s\n' "$@"; }
row case status "req/s" "vs bare" "p50" "p99" "best" "vs bare" "srv cpu" "us/req" "cost" "req/s per round"
row "------------------------------" "------" "---------" "-------" "--------" "--------" "---------" "-------" "-------" "-------" "------" "---------------"
for c in "${CASES[@]}"; do
    name=$(field "$c" 0)
    rps=$(median <<<"${RPS[$name]}")
    top=$(best <<<"${RPS[$name]}")
    cpu=$(median <<<"${CPUREQ[$name]}")
    row "$(field "$c" 1)" "$(field "$c" 4)" "$(printf '%.0f' "$rps")" "$(pct "$rps" "$bare_rps")%" \
        "$(ms "$(median <<<"${P50[$name]}")")" "$(ms "$(median <<<"${P99[$name]}")")" \
        "$top" "$(pct "$top" "$bare_best")%" \
        "$(printf '%.0f' "$(median <<<"${SRV[$name]}")")%" "$(printf '%.2f' "$cpu")" \
        "$(awk -v a="$cpu" -v b="$bare_cpu" 'BEGIN { printf "%.2fx", b ? a / b : 0 }')" "${SHOWN[$name]% }"
done
echo
session_ratio=$(pct "$(median <<<"${RPS[session]}")" "$bare_rps")
trusted_ratio=$(pct "$(median <<<"${RPS[trusted]}")" "$bare_rps")
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "PASS" : "MISS" }'; }
echo "cookie session: ${session_ratio}% of bare (target >= ${TARGET_SESSION}%): $(verdict "$session_ratio" "$TARGET_SESSION")"
echo "trusted IP:     ${trusted_ratio}% of bare (target >= ${TARGET_TRUSTED}%): $(verdict "$trusted_ratio" "$TARGET_TRUSTED")"
redis_rps=$(median <<<"${RPS[redis]}")
echo "redis session:  $(pct "$redis_rps" "$bare_rps")% of bare, $(pct "$redis_rps" "$(median <<<"${RPS[session]}")")% of the cookie session (best vs best: $(pct "$(best <<<"${RPS[redis]}")" "$(best <<<"${RPS[session]}")")%); Sekisho and redis-server share the server core"
awk -v s="$(median <<<"${RPS[session]}")" -v l="$(median <<<"${RPS[session_log]}")" \
    -v cs="$(median <<<"${CPUREQ[session]}")" -v cl="$(median <<<"${CPUREQ[session_log]}")" \
    'BEGIN { if (s && l) printf "access log on (stderr to /dev/null): %+.1f%% req/s, %+.2f us of server CPU per request\n", 100 * (l - s) / s, cl - cs }'
spread=$(for c in "${CASES[@]}"; do
    tr ' ' '\n' <<<"${RPS[$(field "$c" 0)]}" | grep . | sort -g | awk '{ a[NR] = $1 } END { print 100 * (a[NR] - a[1]) / a[NR] }'
done | sort -g | tail -n1)
awk -v s="$spread" 'BEGIN { if (s > 15) printf "\nwarning: runs of one case differ by up to %.0f%%; add rounds (e.g. BENCH_DURATION=5 BENCH_ROUNDS=7) before trusting small differences\n", s }'
if (( DISTURBED > 0 )); then
    echo "warning: $DISTURBED run(s) were disturbed by other processes even after $RETRIES repeats (marked !)"
fi
cat <<'EOT'

req/s, p50, p99: medians over the rounds. best: the highest req/s of any round (interference
only ever slows a run down, so best-vs-best is the least noisy ratio).
srv cpu: user+system CPU of the server process during the run, its share of loopback TCP work
included (100% = its core saturated; less means wrk or the machine was the limit). us/req: that
CPU time per request; cost: us/req relative to the bare server. These two do not depend on how
fast wrk is.
redis session: srv cpu and us/req include redis-server's, which runs on the server core too.
EOT
