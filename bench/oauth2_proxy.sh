#!/usr/bin/env bash
# Sekisho next to oauth2-proxy, in one run, on the same harness as bench/auth.sh: servers on
# one core, wrk on the other, the same requests to both, interleaved rounds.
#
#   direct:        wrk -> /oauth2/auth of each (trusted IP, cookie session, Redis session,
#                  no session)
#   nginx chain:   wrk -> nginx (auth_request -> each) -> app, with a cookie session
#   reverse proxy: wrk -> each, proxying to the app, with a cookie session
#
# oauth2-proxy runs as the story configures it (`--reverse-proxy
# --real-client-ip-header=X-Forwarded-For --trusted-ip=198.51.100.0/24
# --upstream=static://202`, identity headers with --set-xauthrequest, its logging off as
# Sekisho's access log is); as a reverse proxy, with the app as its upstream. Both sign alice in
# for real at the test OpenID provider (tests/peers/oidc, the Keycloak look-alike) and use the
# cookie they were given; the Redis cases share one redis-server (separate databases).
#
# Every case is measured at two connection counts (BENCH_CONNECTION_COUNTS, default "16 256").
# Then the memory of each program alone: resident set size idle (signed in, before any load)
# and with 10,000 kept-alive connections open, each having made one signed-in request
# (BENCH_OPEN_CONNECTIONS).
#
# Environment: as bench/auth.sh (BENCH_DURATION, BENCH_ROUNDS, BENCH_WARMUP, BENCH_THREADS,
# BENCH_SERVER_CPU, BENCH_CLIENT_CPU, BENCH_MAX_FOREIGN, BENCH_RETRIES, BENCH_QUIET_TIMEOUT,
# BENCH_NO_BUILD, BENCH_RAW), plus
#   BENCH_CONNECTION_COUNTS="16 256"  wrk connections, one full set of rounds for each
#   BENCH_OPEN_CONNECTIONS=10000      connections held open for the memory figure (0: skip)
#   OAUTH2_PROXY_BINARY=PATH          the oauth2-proxy to run (default: the one
#                                     `scripts/gateways oauth2-proxy` builds under target/tools)
#   NGINX_BINARY=PATH                 as bench/proxy.sh
#
# Quick smoke: BENCH_DURATION=2 BENCH_ROUNDS=1 BENCH_WARMUP=0 BENCH_OPEN_CONNECTIONS=1000 bench/oauth2_proxy.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

# Goals: Sekisho's throughput per core at least this many times oauth2-proxy's on every row,
# and its memory at most 1/MEMORY_GOAL of oauth2-proxy's.
THROUGHPUT_GOAL=3
MEMORY_GOAL=3

COUNTS=${BENCH_CONNECTION_COUNTS:-16 256}
OPEN=${BENCH_OPEN_CONNECTIONS:-10000}
[[ $OPEN =~ ^[0-9]+$ ]] || die "BENCH_OPEN_CONNECTIONS must be a whole number"
for n in $COUNTS; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONNECTION_COUNTS: '$n' is not a positive integer"; done

O2P_VERSION=$(sed -n 's/^OAUTH2_PROXY_VERSION=//p' "$ROOT/scripts/gateways")
O2P=${OAUTH2_PROXY_BINARY:-$TARGET_DIR/tools/oauth2-proxy-$O2P_VERSION/oauth2-proxy}
[[ -x $O2P ]] || die "oauth2-proxy $O2P_VERSION is not installed at $O2P: run scripts/gateways oauth2-proxy, or set OAUTH2_PROXY_BINARY"
command -v python3 >/dev/null || die "python3 is required to hold connections open"

XFF_TRUSTED=198.51.100.7   # inside trusted_ips
XFF_OTHER=192.0.2.9        # outside trusted_ips
PATH_ASKED=/projects/42/issues?state=open

# --- the OpenID provider, on the client core (it only signs in, before measuring) ------------
start_oidc_provider '{"access_token_ttl":86400,"refresh_token_ttl":86400,"log_requests":false}'

start_redis REDIS
start_app

# --- Sekisho: one for the cookie session (also the proxy and the chain's backend), one for
# Redis sessions --------------------------------------------------------------------------------
SECRET=$("$BIN" secret)
OIDC_SECTION="[oidc]
issuer_url = \"$ISSUER\"
client_id = \"sekisho\"
client_secret = \"sekisho-secret\""
free_port; SK_PORT=$PORT
sekisho_config "$WORK/sekisho.toml" "$SK_PORT" false "" "$OIDC_SECTION

[[upstream]]
host = \"*\"
url = \"$APP_URL\""
start_sekisho "$WORK/sekisho.toml" SK
free_port
sekisho_config "$WORK/sekisho-redis.toml" "$PORT" false "store = \"redis\"
redis_url = \"$REDIS_URL\"" "$OIDC_SECTION"
start_sekisho "$WORK/sekisho-redis.toml" SK_REDIS

# --- oauth2-proxy: the story's (static://202), with Redis sessions, and as the app's proxy ----
O2P_SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
# start_o2p VAR FLAGS...: oauth2-proxy on the server core on a free port.
start_o2p() {
    local var=$1 pid url
    shift
    free_port
    url="http://127.0.0.1:$PORT"
    taskset -c "$SERVER_CPU" "$O2P" --http-address="127.0.0.1:$PORT" \
        --provider=oidc --oidc-issuer-url="$ISSUER" --client-id=sekisho --client-secret=sekisho-secret \
        --redirect-url="$url/oauth2/callback" --cookie-secret="$O2P_SECRET" --cookie-secure=false \
        --email-domain='*' --reverse-proxy --real-client-ip-header=X-Forwarded-For \
        --trusted-ip=198.51.100.0/24 --set-xauthrequest \
        --request-logging=false --auth-logging=false \
        "$@" >"$WORK/$var.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_http "$url/ping" "oauth2-proxy ($var)" "$pid" "$WORK/$var.log"
    printf -v "${var}_PID" '%s' "$pid"
    printf -v "${var}_URL" '%s' "$url"
}
start_o2p O2P --upstream=static://202
start_o2p O2P_REDIS --upstream=static://202 --session-store-type=redis \
    --redis-connection-url="${REDIS_URL%/0}/1"
start_o2p O2P_PROXY --upstream="$APP_URL/"

# --- the nginx chains ---------------------------------------------------------------------------
# Sekisho's as config/nginx/auth_request.conf has it (its cookies kept from the app);
# oauth2-proxy's as its documentation has it (the Cookie header passed on as it came).
start_front front-sekisho FRONT_SK "$SK_PORT" _sekisho
start_front front-o2p FRONT_O2P "${O2P_URL##*:}"

# --- signing in ---------------------------------------------------------------------------------
SK_COOKIE=$(sign_in "$SK_URL" _sekisho)
SK_REDIS_COOKIE=$(sign_in "$SK_REDIS_URL" _sekisho)
O2P_COOKIE=$(sign_in "$O2P_URL" _oauth2_proxy)
O2P_REDIS_COOKIE=$(sign_in "$O2P_REDIS_URL" _oauth2_proxy)
for v in SK_COOKIE SK_REDIS_COOKIE O2P_COOKIE O2P_REDIS_COOKIE; do
    [[ -n ${!v} ]] || die "signing in gave no cookie ($v)"
done

# --- memory ---------------------------------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# hold_open URL COOKIE COUNT: opens COUNT connections to URL, makes one request with COOKIE on
# each and keeps them all open until stdin closes; prints "open N" once they are.
cat >"$WORK/hold_open.py" <<'EOF'
import resource, socket, sys
from urllib.parse import urlsplit
url, cookie, count = urlsplit(sys.argv[1]), sys.argv[2], int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
request = (f"GET {url.path or '/'} HTTP/1.1\r\nHost: {url.netloc}\r\nX-Forwarded-For: 192.0.2.9\r\n"
           f"Cookie: {cookie}\r\n\r\n").encode()
held, failed = [], 0
for _ in range(count):
    s = socket.create_connection((url.hostname, url.port))
    s.sendall(request)
    held.append(s)
for s in held:
    head = s.recv(65536)
    if not head.startswith(b"HTTP/1.1 202"):
        failed += 1
print(f"open {len(held)} failed {failed}", flush=True)
sys.stdin.read()
EOF
declare -A RSS_IDLE RSS_OPEN OPEN_FAILED
measure_memory() { # NAME PID URL COOKIE
    local name=$1 pid=$2 url=$3 cookie=$4 holder line
    RSS_IDLE[$name]=$(rss_kb "$pid")
    (( OPEN > 0 )) || return 0
    coproc HOLD { taskset -c "$CLIENT_CPU" python3 "$WORK/hold_open.py" "$url" "$cookie" "$OPEN"; }
    holder=$HOLD_PID
    read -r line <&"${HOLD[0]}" || die "$name: holding $OPEN connections open failed"
    [[ $line == "open $OPEN failed 0" ]] || note "bench: warning: $name: $line"
    OPEN_FAILED[$name]=${line##* }
    sleep 1
    RSS_OPEN[$name]=$(rss_kb "$pid")
    exec {HOLD[1]}>&-
    wait "$holder" 2>/dev/null || true
    sleep 1
}
note "== memory: idle, then with $OPEN connections open"
# Sekisho lets connections.max (10,000 by default) be open at once; the bench's are all of them.
measure_memory sekisho "$SK_PID" "$SK_URL/oauth2/auth" "$SK_COOKIE"
measure_memory oauth2-proxy "$O2P_PID" "$O2P_URL/oauth2/auth" "$O2P_COOKIE"

# --- cases ------------------------------------------------------------------------------------
# name | label | server pids | url | expected status | X-Forwarded-For | the variable holding the
# cookie (oauth2-proxy's values contain `|`) | user the app must see
# Rows come in pairs: sk_X and o2p_X. The Redis cases' CPU includes redis-server's; the chains'
# and proxies' include nginx's and the app's.
CASES=(
    "sk_trusted|sekisho: trusted IP|$SK_PID|$SK_URL/oauth2/auth|202|$XFF_TRUSTED||"
    "o2p_trusted|oauth2-proxy: trusted IP|$O2P_PID|$O2P_URL/oauth2/auth|202|$XFF_TRUSTED||"
    "sk_session|sekisho: cookie session|$SK_PID|$SK_URL/oauth2/auth|202|$XFF_OTHER|SK_COOKIE|"
    "o2p_session|oauth2-proxy: cookie session|$O2P_PID|$O2P_URL/oauth2/auth|202|$XFF_OTHER|O2P_COOKIE|"
    "sk_redis|sekisho: redis session|$SK_REDIS_PID $REDIS_PID|$SK_REDIS_URL/oauth2/auth|202|$XFF_OTHER|SK_REDIS_COOKIE|"
    "o2p_redis|oauth2-proxy: redis session|$O2P_REDIS_PID $REDIS_PID|$O2P_REDIS_URL/oauth2/auth|202|$XFF_OTHER|O2P_REDIS_COOKIE|"
    "sk_nosession|sekisho: no session (401)|$SK_PID|$SK_URL/oauth2/auth|401|$XFF_OTHER||"
    "o2p_nosession|oauth2-proxy: no session (401)|$O2P_PID|$O2P_URL/oauth2/auth|401|$XFF_OTHER||"
    "sk_chain|nginx chain -> sekisho: session|$FRONT_SK_PID $SK_PID $APP_PID|$FRONT_SK_URL$PATH_ASKED|200|$XFF_OTHER|SK_COOKIE|alice"
    "o2p_chain|nginx chain -> oauth2-proxy: session|$FRONT_O2P_PID $O2P_PID $APP_PID|$FRONT_O2P_URL$PATH_ASKED|200|$XFF_OTHER|O2P_COOKIE|alice"
    "sk_proxy|sekisho proxy: session|$SK_PID $APP_PID|$SK_URL$PATH_ASKED|200|$XFF_OTHER|SK_COOKIE|alice"
    "o2p_proxy|oauth2-proxy proxy: session|$O2P_PROXY_PID $APP_PID|$O2P_PROXY_URL$PATH_ASKED|200|$XFF_OTHER|O2P_COOKIE|alice"
)
KINDS=(trusted session redis nosession chain proxy)

headers_for() { # CASE -> one header per line
    echo "X-Forwarded-For: $(field "$1" 5)"
    local cookie
    cookie=$(field "$1" 6)
    [[ -z $cookie ]] || echo "Cookie: ${!cookie}"
}

# Each case answers what it claims to measure: the identity where a session is used (from the
# auth server, or as the app saw it), and 401 for the same request without the session.
note "== checking each case answers as expected"
for c in "${CASES[@]}"; do
    out=$(check_status "$c")
    user=$(field "$c" 7)
    if [[ -n $user ]]; then
        # oauth2-proxy's user is the subject; both pass the preferred username on.
        seen=$(awk 'tolower($1) ~ /^x-seen-(forwarded-)?username:$/ && NF > 1 { sub(/\r$/, "", $2); print $2; exit }' <<<"$out")
        [[ $seen == "$user" ]] || die "$(field "$c" 1): the app saw user '$seen', not '$user'"
    elif [[ -n $(field "$c" 6) ]]; then
        grep -qi '^x-auth-request-preferred-username: alice' <<<"$out" || die "$(field "$c" 1): 202 without x-auth-request-preferred-username: alice"
    fi
    if [[ $(field "$c" 4) != 401 ]]; then
        refused=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Forwarded-For: $XFF_OTHER" -H 'Accept: application/json' "$(field "$c" 3)")
        [[ $refused == 401 || $refused == 403 ]] || die "$(field "$c" 1): without a session: expected 401 or 403, got $refused"
    fi
done

declare -A RESULT_RPS RESULT_P99 RESULT_CPU RESULT_BEST
for CONNECTIONS in $COUNTS; do
    RPS=(); P50=(); P99=(); SRV=(); CLI=(); CPUREQ=(); SHOWN=()
    measure_all
    for c in "${CASES[@]}"; do
        name=$(field "$c" 0)
        RESULT_RPS[$name/$CONNECTIONS]=$(median <<<"${RPS[$name]}")
        RESULT_BEST[$name/$CONNECTIONS]=$(best <<<"${RPS[$name]}")
        RESULT_P99[$name/$CONNECTIONS]=$(median <<<"${P99[$name]}")
        RESULT_CPU[$name/$CONNECTIONS]=$(median <<<"${CPUREQ[$name]}")
    done
done

# --- report -----------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
echo
printf 'sekisho vs oauth2-proxy %s: medians of %d round(s) x %ds; wrk -t%d on core %d, servers on core %d\n' \
    "$O2P_VERSION" "$ROUNDS" "$DURATION" "$THREADS" "$CLIENT_CPU" "$SERVER_CPU"
printf 'sekisho %s, %s\n' "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '(not a git checkout)')" "$("$NGINX" -v 2>&1)"
for n in $COUNTS; do
    echo
    echo "-- $n connections"
    row() { printf '%-38s %9s %9s %9s %8s %10s  %s\n' "$@"; }
    row case "req/s" "best" "p99" "us/req" "req/s x" "us/req ratio, oauth2-proxy / sekisho"
    for kind in "${KINDS[@]}"; do
        for who in sk o2p; do
            c=""
            for x in "${CASES[@]}"; do [[ $(field "$x" 0) == "${who}_$kind" ]] && c=$x; done
            k=${who}_$kind/$n
            if [[ $who == sk ]]; then
                row "$(field "$c" 1)" "$(printf '%.0f' "${RESULT_RPS[$k]}")" "${RESULT_BEST[$k]}" "$(ms "${RESULT_P99[$k]}")" \
                    "$(printf '%.2f' "${RESULT_CPU[$k]}")" \
                    "$(ratio "${RESULT_RPS[$k]}" "${RESULT_RPS[o2p_$kind/$n]}")x" \
                    "$(ratio "${RESULT_CPU[o2p_$kind/$n]}" "${RESULT_CPU[$k]}")x"
            else
                row "$(field "$c" 1)" "$(printf '%.0f' "${RESULT_RPS[$k]}")" "${RESULT_BEST[$k]}" "$(ms "${RESULT_P99[$k]}")" \
                    "$(printf '%.2f' "${RESULT_CPU[$k]}")" "" ""
            fi
        done
    done
done
echo
if (( OPEN > 0 )); then
    printf '%-14s %12s %22s\n' "memory (RSS)" "idle" "$OPEN connections open"
    for who in sekisho oauth2-proxy; do
        printf '%-14s %9d KiB %19d KiB\n' "$who" "${RSS_IDLE[$who]}" "${RSS_OPEN[$who]}"
    done
    printf '%-14s %12s %22s\n' "ratio" "$(ratio "${RSS_IDLE[sekisho]}" "${RSS_IDLE[oauth2-proxy]}")" \
        "$(ratio "${RSS_OPEN[sekisho]}" "${RSS_OPEN[oauth2-proxy]}")"
fi
echo
worst=$(for n in $COUNTS; do for kind in "${KINDS[@]}"; do
    ratio "${RESULT_CPU[o2p_$kind/$n]}" "${RESULT_CPU[sk_$kind/$n]}"; echo " $kind/$n"
done; done | sort -g | head -n1)
echo "throughput per core (server CPU per request, oauth2-proxy / sekisho), lowest row: ${worst% *}x at ${worst#* } (goal >= ${THROUGHPUT_GOAL}x): $(verdict "${worst% *}" "$THROUGHPUT_GOAL")"
if (( OPEN > 0 )); then
    m=$(ratio "${RSS_OPEN[oauth2-proxy]}" "${RSS_OPEN[sekisho]}")
    echo "memory with $OPEN connections open, oauth2-proxy / sekisho: ${m}x (goal >= ${MEMORY_GOAL}x): $(verdict "$m" "$MEMORY_GOAL")"
fi
spread_warning
cat <<'EOT'

req/s, p99: medians over the rounds; best: the highest req/s of any round. us/req: CPU time of
every server the case runs through (the auth server, and redis-server, nginx and the app where
the case uses them) per request, loopback TCP work included; all of them share one core, so
its inverse is the throughput per core. req/s x: Sekisho's req/s over oauth2-proxy's. With
256 connections wrk itself may be the limit; us/req does not depend on that.
Memory: VmRSS of the auth server process alone, signed in and idle, then with the connections
open (each made one signed-in request to /oauth2/auth and stays open).
EOT
