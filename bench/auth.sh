#!/usr/bin/env bash
# Throughput and tail latency of Sekisho's `/oauth2/auth` next to two bare hyper servers that
# answer 202 to everything: examples/bare_http1.rs, the plainest HTTP/1.1 hyper server (the
# independent reference the targets are checked against), and examples/bare_202.rs, served the
# way Sekisho serves (the HTTP/1+2 auto builder); with sessions in cookies and in Redis (a
# redis-server started here on a free port).
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
#   BENCH_BASELINE=DIR      also measure DIR/sekisho (another build) for the cookie session,
#                           trusted IP and no-session cases, in the same rounds
#
# Quick smoke: BENCH_DURATION=3 BENCH_ROUNDS=1 bench/auth.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v redis-server >/dev/null || die "redis-server is required: apt-get install redis-server"

# Targets, as a percentage of the independent bare server's (bare_http1) median requests/s.
TARGET_SESSION=85
TARGET_TRUSTED=90

# The client address each case claims through X-Forwarded-For. wrk (127.0.0.1) is a trusted
# proxy, so the header is believed; every case sends one, so all requests cost the same to
# resolve.
XFF_TRUSTED=198.51.100.7   # inside trusted_ips
XFF_OTHER=192.0.2.9        # outside trusted_ips

SECRET=$("$BIN" secret)

write_config() { # FILE PORT ACCESS_LOG [REDIS_URL]
    local store='store = "cookie"'
    [[ -z ${4:-} ]] || store="store = \"redis\""$'\n'"redis_url = \"$4\""
    sekisho_config "$1" "$2" "$3" "$store"
}

# The two bare servers: ephemeral ports, printed on stdout.
start_example bare_http1 H1
start_example bare_202 AUTO

# sekisho, access log off (the headline numbers)
free_port; write_config "$WORK/quiet.toml" "$PORT" false
start_sekisho "$WORK/quiet.toml" QUIET
# sekisho, access log on, written to /dev/null
free_port; write_config "$WORK/loud.toml" "$PORT" true
start_sekisho "$WORK/loud.toml" LOUD /dev/null

COOKIE=$("$EXAMPLES/mint_session" "$SECRET")
[[ $COOKIE == _sekisho=* ]] || die "mint_session printed no cookie"

# redis-server for the Redis-session case, on the servers' core: Sekisho and Redis share the
# one core the other servers have to themselves, so the case costs what the Redis path costs.
start_redis REDIS
# sekisho, sessions in Redis, access log off
free_port; write_config "$WORK/redis.toml" "$PORT" false "$REDIS_URL"
start_sekisho "$WORK/redis.toml" REDIS_SK
REDIS_COOKIE=$(MINT_REDIS_URL=$REDIS_URL "$EXAMPLES/mint_session" "$SECRET")
[[ $REDIS_COOKIE == _sekisho=* ]] || die "mint_session stored no session in Redis"

if [[ -n $BASELINE ]]; then
    free_port; write_config "$WORK/baseline.toml" "$PORT" false
    start_sekisho "$WORK/baseline.toml" BASE "$WORK/baseline.log" "$BASELINE"
fi

# --- cases ------------------------------------------------------------------------------------
# name | label | server pids | url | expected status | X-Forwarded-For | cookie (0, 1, redis)
# The Redis case's CPU is Sekisho's and redis-server's together.
CASES=(
    "bare_h1|bare hyper http1 (reference)|$H1_PID|$H1_URL/oauth2/auth|202|$XFF_OTHER|1"
    "bare|bare hyper auto 202|$AUTO_PID|$AUTO_URL/oauth2/auth|202|$XFF_OTHER|1"
    "session|sekisho: cookie session|$QUIET_PID|$QUIET_URL/oauth2/auth|202|$XFF_OTHER|1"
    "trusted|sekisho: trusted IP|$QUIET_PID|$QUIET_URL/oauth2/auth|202|$XFF_TRUSTED|0"
    "nosession|sekisho: no session (401)|$QUIET_PID|$QUIET_URL/oauth2/auth|401|$XFF_OTHER|0"
    "session_log|sekisho: session + access log|$LOUD_PID|$LOUD_URL/oauth2/auth|202|$XFF_OTHER|1"
    "redis|sekisho: redis session|$REDIS_SK_PID $REDIS_PID|$REDIS_SK_URL/oauth2/auth|202|$XFF_OTHER|redis"
)
if [[ -n $BASELINE ]]; then
    CASES+=(
        "base_session|baseline: cookie session|$BASE_PID|$BASE_URL/oauth2/auth|202|$XFF_OTHER|1"
        "base_trusted|baseline: trusted IP|$BASE_PID|$BASE_URL/oauth2/auth|202|$XFF_TRUSTED|0"
        "base_nosession|baseline: no session (401)|$BASE_PID|$BASE_URL/oauth2/auth|401|$XFF_OTHER|0"
    )
fi

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
    out=$(check_status "$c")
    case $(field "$c" 0) in
        session | session_log | redis | base_session)
            grep -qi '^x-auth-request-user: alice' <<<"$out" || die "$(field "$c" 1): 202 without x-auth-request-user" ;;
    esac
done

measure_all

# --- report -----------------------------------------------------------------------------------
ref_rps=$(median <<<"${RPS[bare_h1]}")
ref_best=$(best <<<"${RPS[bare_h1]}")
ref_cpu=$(median <<<"${CPUREQ[bare_h1]}")
auto_rps=$(median <<<"${RPS[bare]}")
echo
printf 'sekisho /oauth2/auth vs bare hyper: medians of %d round(s) x %ds; wrk -t%d -c%d on core %d, servers on core %d\n' \
    "$ROUNDS" "$DURATION" "$THREADS" "$CONNECTIONS" "$CLIENT_CPU" "$SERVER_CPU"
printf 'sekisho %s\n\n' "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '(not a git checkout)')"
row() { printf '%-30s %6s %9s %7s %7s %8s %8s %9s %7s %7s %7s %6s  %s\n' "$@"; }
row case status "req/s" "vs h1" "vs auto" "p50" "p99" "best" "vs h1" "srv cpu" "us/req" "cost" "req/s per round"
row "------------------------------" "------" "---------" "-------" "-------" "--------" "--------" "---------" "-------" "-------" "-------" "------" "---------------"
for c in "${CASES[@]}"; do
    name=$(field "$c" 0)
    rps=$(median <<<"${RPS[$name]}")
    top=$(best <<<"${RPS[$name]}")
    cpu=$(median <<<"${CPUREQ[$name]}")
    row "$(field "$c" 1)" "$(field "$c" 4)" "$(printf '%.0f' "$rps")" "$(pct "$rps" "$ref_rps")%" "$(pct "$rps" "$auto_rps")%" \
        "$(ms "$(median <<<"${P50[$name]}")")" "$(ms "$(median <<<"${P99[$name]}")")" \
        "$top" "$(pct "$top" "$ref_best")%" \
        "$(printf '%.0f' "$(median <<<"${SRV[$name]}")")%" "$(printf '%.2f' "$cpu")" \
        "$(awk -v a="$cpu" -v b="$ref_cpu" 'BEGIN { printf "%.2fx", b ? a / b : 0 }')" "${SHOWN[$name]% }"
done
echo
session_ratio=$(pct "$(median <<<"${RPS[session]}")" "$ref_rps")
trusted_ratio=$(pct "$(median <<<"${RPS[trusted]}")" "$ref_rps")
echo "cookie session: ${session_ratio}% of bare http1 (target >= ${TARGET_SESSION}%): $(verdict "$session_ratio" "$TARGET_SESSION"); $(pct "$(median <<<"${RPS[session]}")" "$auto_rps")% of bare auto"
echo "trusted IP:     ${trusted_ratio}% of bare http1 (target >= ${TARGET_TRUSTED}%): $(verdict "$trusted_ratio" "$TARGET_TRUSTED"); $(pct "$(median <<<"${RPS[trusted]}")" "$auto_rps")% of bare auto"
echo "bare auto:      $(pct "$auto_rps" "$ref_rps")% of bare http1 (what the HTTP/1+2 connection builder costs)"
if [[ -n $BASELINE ]]; then
    for k in session trusted nosession; do
        echo "$(printf '%-15s' "$k:") this build at $(pct "$(median <<<"${RPS[$k]}")" "$(median <<<"${RPS[base_$k]}")")% of the baseline's req/s, $(printf '%.2f' "$(median <<<"${CPUREQ[$k]}")") vs $(printf '%.2f' "$(median <<<"${CPUREQ[base_$k]}")") us of server CPU per request"
    done
fi
redis_rps=$(median <<<"${RPS[redis]}")
echo "redis session:  $(pct "$redis_rps" "$ref_rps")% of bare http1, $(pct "$redis_rps" "$(median <<<"${RPS[session]}")")% of the cookie session (best vs best: $(pct "$(best <<<"${RPS[redis]}")" "$(best <<<"${RPS[session]}")")%); Sekisho and redis-server share the server core"
awk -v s="$(median <<<"${RPS[session]}")" -v l="$(median <<<"${RPS[session_log]}")" \
    -v cs="$(median <<<"${CPUREQ[session]}")" -v cl="$(median <<<"${CPUREQ[session_log]}")" \
    'BEGIN { if (s && l) printf "access log on (stderr to /dev/null): %+.1f%% req/s, %+.2f us of server CPU per request\n", 100 * (l - s) / s, cl - cs }'
spread_warning
cat <<'EOT'

req/s, p50, p99: medians over the rounds. vs h1: share of the independent bare HTTP/1 server
(examples/bare_http1.rs), which the targets are checked against; vs auto: share of bare_202,
served through the same HTTP/1+2 builder as Sekisho. best: the highest req/s of any round
(interference only ever slows a run down, so best-vs-best is the least noisy ratio).
srv cpu: user+system CPU of the server process during the run, its share of loopback TCP work
included (100% = its core saturated; less means wrk or the machine was the limit). us/req: that
CPU time per request; cost: us/req relative to bare http1. These two do not depend on how
fast wrk is.
redis session: srv cpu and us/req include redis-server's, which runs on the server core too.
EOT
