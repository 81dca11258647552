#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind (callgrind): the `/oauth2/auth`
# cases of bench/auth.sh (both bare servers included) and two requests through Sekisho's own
# proxy to an app (bare_http1, outside callgrind), but a count that does not move when the
# machine is busy, so it is the number to compare before and after a change on a shared or
# noisy machine. Kernel work (syscalls, TCP) is not counted; bench/auth.sh and bench/proxy.sh
# measure that.
#
# Each server runs under callgrind twice, loaded by wrk with one connection for a short and a
# long run; the difference of the two instruction totals divided by the difference of the two
# request counts is the cost of one request, free of start-up and shut-down. Repeats agree to
# about +-1%.
#
# Environment (all optional):
#   BENCH_SHORT=2 BENCH_LONG=8  the two run lengths, seconds
#   BENCH_NO_BUILD=1            skip `cargo build`
#   BENCH_ONLY="trusted session"  run only these cases (names as in BENCH_KEEP; the
#                               reference bare_h1 always runs)
#   BENCH_KEEP=DIR              keep both callgrind profiles of every case and their request
#                               counts in DIR, for `bench/per_function.sh DIR CASE` or
#                               `callgrind_annotate DIR/session.long.out` (build with
#                               CARGO_PROFILE_RELEASE_DEBUG=true to see source lines)
set -euo pipefail

SHORT=${BENCH_SHORT:-2}
LONG=${BENCH_LONG:-8}
BENCH_WORK_NAME=sekisho-instr
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v redis-server >/dev/null || die "redis-server is required"
command -v valgrind >/dev/null || die "valgrind is not installed: apt-get install valgrind"
if ! [[ $SHORT =~ ^[1-9][0-9]*$ && $LONG =~ ^[1-9][0-9]*$ ]] || (( LONG <= SHORT )); then
    die "BENCH_SHORT and BENCH_LONG must be whole seconds, BENCH_LONG the larger"
fi
PIN_SERVER=(); PIN_CLIENT=()
if command -v taskset >/dev/null && (( $(getconf _NPROCESSORS_ONLN) > 1 )); then
    PIN_SERVER=(taskset -c 0); PIN_CLIENT=(taskset -c 1)
fi

release_build
BARE=$EXAMPLES/bare_202
BARE_H1=$EXAMPLES/bare_http1
MINT=$EXAMPLES/mint_session
if [[ -n ${BENCH_KEEP:-} ]]; then mkdir -p "$BENCH_KEEP"; fi


SECRET=$("$BIN" secret)
COOKIE=$("$MINT" "$SECRET")

# A redis-server (not under callgrind: only Sekisho's instructions are counted) and a session
# minted into it, for the Redis-session case.
free_port; REDIS_PORT=$PORT; REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break
    sleep 0.05
done
REDIS_COOKIE=$(MINT_REDIS_URL=$REDIS_URL "$MINT" "$SECRET")
[[ $REDIS_COOKIE == _sekisho=* ]] || die "mint_session stored no session in Redis: $(cat "$WORK/redis.log")"

# The app behind Sekisho's proxy in the proxy cases: bare_http1, outside callgrind.
APP_ADDR_FILE=$WORK/app.addr
"$BARE_H1" 127.0.0.1:0 >"$APP_ADDR_FILE" 2>/dev/null &
PIDS+=("$!")
for _ in $(seq 100); do [[ -s $APP_ADDR_FILE ]] && break; sleep 0.05; done
APP_ADDR=$(head -n1 "$APP_ADDR_FILE")
[[ -n $APP_ADDR ]] || die "bare_http1 (the app) did not print its address"

write_config() { # FILE PORT ACCESS_LOG [REDIS_URL | proxy]
    if [[ ${4:-} == proxy ]]; then
        sekisho_config "$1" "$2" "$3" "" "[[upstream]]"$'\n'"host = \"*\""$'\n'"url = \"http://$APP_ADDR\""
    elif [[ -n ${4:-} ]]; then
        sekisho_config "$1" "$2" "$3" "store = \"redis\""$'\n'"redis_url = \"$4\""
    else
        sekisho_config "$1" "$2" "$3"
    fi
}

# count NAME SECONDS KIND HEADERS...: KIND is true|false (sekisho with that access log), redis
# (Redis sessions), proxy (Sekisho's reverse proxy in front of bare_http1; requests for
# /app/x instead of /oauth2/auth), bare (bare_202) or bare_h1 (bare_http1).
# Sets REQUESTS and INSTRUCTIONS. Runs in this shell, so the EXIT trap can stop the server.
count() {
    local name=$1 secs=$2 kind=$3 pid url out cmd args=() h
    shift 3
    free_port
    url="http://127.0.0.1:$PORT/oauth2/auth"
    if [[ $kind == bare ]]; then
        cmd=("$BARE" "127.0.0.1:$PORT")
    elif [[ $kind == bare_h1 ]]; then
        cmd=("$BARE_H1" "127.0.0.1:$PORT")
    elif [[ $kind == proxy ]]; then
        write_config "$WORK/$name.toml" "$PORT" false proxy
        cmd=("$BIN" serve --config "$WORK/$name.toml")
        url="http://127.0.0.1:$PORT/app/x?y=1"
    elif [[ $kind == redis ]]; then
        write_config "$WORK/$name.toml" "$PORT" false "$REDIS_URL"
        cmd=("$BIN" serve --config "$WORK/$name.toml")
    else
        write_config "$WORK/$name.toml" "$PORT" "$kind"
        cmd=("$BIN" serve --config "$WORK/$name.toml")
    fi
    out=$WORK/$name.$secs.out
    "${PIN_SERVER[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" >/dev/null 2>"$WORK/$name.$secs.log" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || die "$name: server exited during startup:"$'\n'"$(tail -n 20 "$WORK/$name.$secs.log")"
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/" && break
        sleep 0.1
    done
    for h in "$@"; do args+=(-H "$h"); done
    REQUESTS=$("${PIN_CLIENT[@]}" wrk -t1 -c1 -d"${secs}s" "${args[@]}" "$url" | awk '/requests in/ { print $1 }')
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    [[ -s $out ]] || die "$name: callgrind wrote no profile"
    INSTRUCTIONS=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
    [[ -n $REQUESTS && -n $INSTRUCTIONS ]] || die "$name: no request or instruction count"
    # quanta (the metrics clock) calibrates itself once for a set time, so its instruction
    # count differs between the two runs by more than a hundred instructions per request of
    # the difference: it is taken out.
    local calibration
    calibration=$(callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
        awk '/quanta::Calibration::calibrate/ && !n { gsub(",", "", $1); print $1; n = 1 }')
    INSTRUCTIONS=$(( INSTRUCTIONS - ${calibration:-0} ))
    if [[ -n ${BENCH_KEEP:-} ]]; then
        local which=short
        [[ $secs == "$LONG" ]] && which=long
        cp "$out" "$BENCH_KEEP/$name.$which.out"
        echo "$REQUESTS" >"$BENCH_KEEP/$name.$which.requests"
    fi
}

declare -A IR
per_request() { # NAME KIND HEADERS... -> IR[NAME]
    local name=$1 kind=$2 r1 i1
    shift 2
    if [[ -n ${BENCH_ONLY:-} && $name != bare_h1 && " $BENCH_ONLY " != *" $name "* ]]; then return; fi
    count "$name" "$SHORT" "$kind" "$@"; r1=$REQUESTS; i1=$INSTRUCTIONS
    count "$name" "$LONG" "$kind" "$@"
    (( REQUESTS > r1 )) || die "$name: the long run served no more requests than the short one ($r1, $REQUESTS)"
    IR[$name]=$(awk -v a="$i1" -v b="$INSTRUCTIONS" -v r="$r1" -v s="$REQUESTS" 'BEGIN { printf "%.0f\n", (b - a) / (s - r) }')
    note "   $name: ${IR[$name]}"
}

XFF_OTHER="X-Forwarded-For: 192.0.2.9"
XFF_TRUSTED="X-Forwarded-For: 198.51.100.7"
ROWS=("bare_h1|bare hyper http1 (reference)" "bare|bare hyper auto 202" "session|sekisho: cookie session"
    "trusted|sekisho: trusted IP" "nosession|sekisho: no session (401)" "session_log|sekisho: session + access log"
    "redis|sekisho: redis session" "proxy_session|sekisho proxy: cookie session" "proxy_trusted|sekisho proxy: trusted IP")
note "== callgrind, 1 connection, ${SHORT}s and ${LONG}s per case (about $(( ${#ROWS[@]} * (SHORT + LONG + 8) ))s in all)"
per_request bare_h1 bare_h1 "$XFF_OTHER" "Cookie: $COOKIE"
per_request bare bare "$XFF_OTHER" "Cookie: $COOKIE"
per_request session false "$XFF_OTHER" "Cookie: $COOKIE"
per_request trusted false "$XFF_TRUSTED"
per_request nosession false "$XFF_OTHER"
per_request session_log true "$XFF_OTHER" "Cookie: $COOKIE"
per_request redis redis "$XFF_OTHER" "Cookie: $REDIS_COOKIE"
per_request proxy_session proxy "$XFF_OTHER" "Cookie: $COOKIE"
per_request proxy_trusted proxy "$XFF_TRUSTED"

echo
printf 'user-space instructions per request (callgrind, 1 connection); sekisho %s\n\n' \
    "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '(not a git checkout)')"
printf '%-34s %12s %8s %8s\n' case "instr/req" "vs h1" "vs auto"
printf '%-34s %12s %8s %8s\n' "----------------------------------" "------------" "--------" "--------"
for row in "${ROWS[@]}"; do
    [[ -n ${IR[${row%%|*}]:-} ]] || continue
    n=${IR[${row%%|*}]}
    printf '%-34s %12d %7.2fx %7.2fx\n' "${row#*|}" "$n" "$(awk -v a="$n" -v b="${IR[bare_h1]}" 'BEGIN { print a / b }')" \
        "$(awk -v a="$n" -v b="${IR[bare]:-0}" 'BEGIN { print b ? a / b : 0 }')"
done
echo
echo "vs h1: against bare_http1 (plain hyper HTTP/1); vs auto: against bare_202 (the HTTP/1+2 builder Sekisho uses)."
echo "proxy rows: GET /app/x?y=1 through Sekisho's [[upstream]] to bare_http1 (the app's instructions not counted)."
[[ -z ${IR[redis]:-} || -z ${IR[session]:-} ]] ||
    awk -v r="${IR[redis]}" -v c="${IR[session]}" 'BEGIN { printf "\nredis session: %.2fx the cookie session'"'"'s instructions (Redis itself not counted)\n", r / c }'
