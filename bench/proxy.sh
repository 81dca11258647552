#!/usr/bin/env bash
# Sekisho's own reverse proxy next to the nginx chain it replaces, in front of the same app:
#
#   nginx chain:   wrk -> nginx (auth_request -> Sekisho /oauth2/auth) -> app
#   Sekisho proxy: wrk -> Sekisho ([[upstream]]) -> app
#
# The app is an nginx that answers `200 ok` to everything and echoes the identity it was
# given (X-Auth-Request-User) in a response header, so a check before measuring shows that
# each case really went through a session. The front nginx is configured as
# config/nginx/auth_request.conf documents (identity headers, Sekisho's cookies stripped for
# the app), with kept-alive connections to Sekisho and to the app. Every server is pinned to
# one core (nginx with one worker, no master process; Sekisho with one tokio worker), wrk to
# another; each round runs every case once, interleaved, as bench/auth.sh does, and takes the
# CPU of every server a case runs through as the servers' CPU. Only loopback traffic.
#
# Environment: as bench/auth.sh (BENCH_DURATION, BENCH_ROUNDS, BENCH_WARMUP, BENCH_CONNECTIONS,
# BENCH_THREADS, BENCH_SERVER_CPU, BENCH_CLIENT_CPU, BENCH_MAX_FOREIGN, BENCH_RETRIES,
# BENCH_QUIET_TIMEOUT, BENCH_NO_BUILD, BENCH_RAW), plus
#   NGINX_BINARY=PATH       the nginx to run (default: nginx on $PATH, or /usr/sbin/nginx)
#   BENCH_BASELINE=DIR      also measure DIR/sekisho (another build) as the proxy, in the same
#                           rounds
#
# Quick smoke: BENCH_DURATION=3 BENCH_ROUNDS=1 bench/proxy.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Target: Sekisho's proxy serves at least this many times the nginx chain's requests/s.
TARGET_PERCENT=120

source "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

XFF_TRUSTED=198.51.100.7   # inside trusted_ips
XFF_OTHER=192.0.2.9        # outside trusted_ips

start_app

# One Sekisho: the proxy for the app, and the auth_request backend of the chain.
SECRET=$("$BIN" secret)
free_port; SK_PORT=$PORT
sekisho_config "$WORK/sekisho.toml" "$SK_PORT" false "" "[[upstream]]
host = \"*\"
url = \"$APP_URL\""
start_sekisho "$WORK/sekisho.toml" SK
if [[ -n $BASELINE ]]; then
    free_port
    sed "s/127.0.0.1:$SK_PORT/127.0.0.1:$PORT/g" "$WORK/sekisho.toml" >"$WORK/baseline.toml"
    start_sekisho "$WORK/baseline.toml" BASE "$WORK/baseline.log" "$BASELINE"
fi
COOKIE=$("$EXAMPLES/mint_session" "$SECRET")
[[ $COOKIE == _sekisho=* ]] || die "mint_session printed no cookie"

# The front nginx, as config/nginx/auth_request.conf has it.
start_front front FRONT "$SK_PORT" _sekisho

# --- cases ------------------------------------------------------------------------------------
# name | label | server pids | url | expected status | X-Forwarded-For | cookie (0, 1) | user the app must see
PATH_ASKED=/projects/42/issues?state=open
CASES=(
    "app|app alone (nginx return 200)|$APP_PID|$APP_URL$PATH_ASKED|200|$XFF_OTHER|1|"
    "chain_session|nginx chain: cookie session|$FRONT_PID $SK_PID $APP_PID|$FRONT_URL$PATH_ASKED|200|$XFF_OTHER|1|alice"
    "proxy_session|sekisho proxy: cookie session|$SK_PID $APP_PID|$SK_URL$PATH_ASKED|200|$XFF_OTHER|1|alice"
    "chain_trusted|nginx chain: trusted IP|$FRONT_PID $SK_PID $APP_PID|$FRONT_URL$PATH_ASKED|200|$XFF_TRUSTED|0|"
    "proxy_trusted|sekisho proxy: trusted IP|$SK_PID $APP_PID|$SK_URL$PATH_ASKED|200|$XFF_TRUSTED|0|"
)
if [[ -n $BASELINE ]]; then
    CASES+=(
        "base_session|baseline proxy: cookie session|$BASE_PID $APP_PID|$BASE_URL$PATH_ASKED|200|$XFF_OTHER|1|alice"
        "base_trusted|baseline proxy: trusted IP|$BASE_PID $APP_PID|$BASE_URL$PATH_ASKED|200|$XFF_TRUSTED|0|"
    )
fi

headers_for() { # CASE -> one header per line
    echo "X-Forwarded-For: $(field "$1" 5)"
    if [[ $(field "$1" 6) == 1 ]]; then echo "Cookie: $COOKIE"; fi
}

# Each case answers 200 from the app, with the identity it claims; the same request without
# the session, or from outside trusted_ips, is refused, so the 200 is not an open door.
note "== checking each case answers as expected"
for c in "${CASES[@]}"; do
    out=$(check_status "$c")
    user=$(awk 'tolower($1) == "x-seen-user:" { sub(/\r$/, "", $2); print $2 }' <<<"$out")
    [[ $user == "$(field "$c" 7)" ]] || die "$(field "$c" 1): the app saw user '$user', not '$(field "$c" 7)'"
    if [[ $(field "$c" 0) != app ]]; then
        refused=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Forwarded-For: $XFF_OTHER" "$(field "$c" 3)")
        [[ $refused == 401 ]] || die "$(field "$c" 1): without a session: expected 401, got $refused"
    fi
done

measure_all

# --- report -----------------------------------------------------------------------------------
app_rps=$(median <<<"${RPS[app]}")
echo
printf 'sekisho proxy vs nginx auth_request chain, same app: medians of %d round(s) x %ds; wrk -t%d -c%d on core %d, servers on core %d\n' \
    "$ROUNDS" "$DURATION" "$THREADS" "$CONNECTIONS" "$CLIENT_CPU" "$SERVER_CPU"
printf 'sekisho %s, %s\n\n' "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '(not a git checkout)')" "$("$NGINX" -v 2>&1)"
row() { printf '%-32s %9s %8s %8s %8s %9s %7s %7s  %s\n' "$@"; }
row case "req/s" "vs app" "p50" "p99" "best" "srv cpu" "us/req" "req/s per round"
row "--------------------------------" "---------" "--------" "--------" "--------" "---------" "-------" "-------" "---------------"
for c in "${CASES[@]}"; do
    name=$(field "$c" 0)
    rps=$(median <<<"${RPS[$name]}")
    row "$(field "$c" 1)" "$(printf '%.0f' "$rps")" "$(pct "$rps" "$app_rps")%" \
        "$(ms "$(median <<<"${P50[$name]}")")" "$(ms "$(median <<<"${P99[$name]}")")" "$(best <<<"${RPS[$name]}")" \
        "$(printf '%.0f' "$(median <<<"${SRV[$name]}")")%" "$(printf '%.2f' "$(median <<<"${CPUREQ[$name]}")")" "${SHOWN[$name]% }"
done
echo
for kind in session trusted; do
    p=$(median <<<"${RPS[proxy_$kind]}"); n=$(median <<<"${RPS[chain_$kind]}")
    ratio=$(pct "$p" "$n")
    printf '%-16s sekisho proxy at %s%% of the nginx chain (target >= %d%%): %s; best vs best %s%%; CPU per request %s vs %s us\n' \
        "$kind:" "$ratio" "$TARGET_PERCENT" "$(verdict "$ratio" "$TARGET_PERCENT")" \
        "$(pct "$(best <<<"${RPS[proxy_$kind]}")" "$(best <<<"${RPS[chain_$kind]}")")" \
        "$(printf '%.2f' "$(median <<<"${CPUREQ[proxy_$kind]}")")" "$(printf '%.2f' "$(median <<<"${CPUREQ[chain_$kind]}")")"
    if [[ -n $BASELINE ]]; then
        printf '%-16s baseline proxy at %s%% of the nginx chain; this build at %s%% of the baseline\n' "" \
            "$(pct "$(median <<<"${RPS[base_$kind]}")" "$n")" "$(pct "$p" "$(median <<<"${RPS[base_$kind]}")")"
    fi
done
spread_warning
cat <<'EOT'

req/s, p50, p99: medians over the rounds; best: the highest req/s of any round. vs app: share of
the app's own rate when wrk asks it directly. srv cpu, us/req: CPU of every server the case
runs through (front nginx, Sekisho, app) added up, loopback TCP work included; all of them
share one core, so us/req is what one request costs the machine.
EOT
