#!/usr/bin/env bash
# Faults under load (issue 15, part 3). Two Sekisho replicas share one Redis (append-only file
# on, as in production, so sessions outlive a kill -9) behind one nginx that balances over
# both, in front of an app (examples/fault_app.rs) and the test OpenID provider
# (tests/peers/oidc). The load (examples/load.rs) goes through nginx by two doors the whole
# time: `auth` (nginx auth_request -> Sekisho, then nginx -> app) and `proxy` (nginx ->
# Sekisho's own reverse proxy -> app), with trusted, signed-in (a session minted into Redis,
# and one signed in for real at the provider, refreshed every ~10 s), expired, forged-address,
# tampered-cookie and session-less requests. A fresh sign-in through nginx is tried every 2 s
# beside it. Meanwhile, one after the other, each with a recovery after it:
#
#   redis_killed    Redis SIGKILLed, down for BENCH_FAULT_SECONDS, then started again
#   redis_hung      Redis SIGSTOPped for BENCH_FAULT_SECONDS, then SIGCONT
#   idp_hung        the provider SIGSTOPped for BENCH_FAULT_SECONDS, then SIGCONT
#   idp_down        the provider stopped (SIGTERM) for BENCH_FAULT_SECONDS, then started again
#                   on the same port (it keeps its grants in memory: they are gone, and alice
#                   signs in again once it is back)
#   app_reset       the app answers every request with a TCP reset for BENCH_FAULT_SECONDS
#   replica_restart one replica SIGTERMed with requests in flight (graceful drain: they must
#                   be answered), down for BENCH_FAULT_SECONDS, started again; nginx sends on
#
# Each fault is followed by `*_back` (BENCH_SETTLE_SECONDS after the dependency returned;
# errors allowed) and `*_recovered` (BENCH_RECOVERED_SECONDS; every trusted and signed-in
# request must pass). Every answer is counted per phase, door, kind and class, and the app
# counts what reached it per kind. Exit status 1 when a forged, expired, tampered or
# session-less request got 2xx or reached the app; when, in the baseline or a recovered phase
# (Sekisho is never restarted to help it), a trusted or signed-in request failed, a refused
# kind got anything but 401 or a fresh sign-in failed; when a trusted request failed while
# Redis or the provider did (it needs neither), or a session needing no refresh failed while
# only the provider did; or when the draining replica dropped a request in flight (see
# bench/faults_report.awk). Loopback only; every process is stopped by PID.
#
# Environment (all optional):
#   BENCH_CONNECTIONS=32           load connections, shared by the two doors
#   BENCH_BASELINE_SECONDS=15
#   BENCH_FAULT_SECONDS=20         how long each fault lasts (longer than a refresh period
#                                  plus oidc.http_timeout, so a provider fault meets a refresh)
#   BENCH_SETTLE_SECONDS=8         the `*_back` phases (Sekisho asks a provider it found
#                                  unreachable again every 5 s: sign-in is back within that)
#   BENCH_RECOVERED_SECONDS=15     the `*_recovered` phases
#   BENCH_PROVIDER_ROTATES=1       the provider rotates refresh tokens and ends the login when
#                                  a spent one is presented again (default: it accepts it again,
#                                  as Keycloak does by default); see docs/reliability.md
#   BENCH_SERVER_CPU=0             core of the servers (nginx, Sekisho, Redis, app)
#   BENCH_CLIENT_CPU=1             core of the load, the provider and curl
#   BENCH_NO_BUILD=1               skip `cargo build`
#
# Quick run: BENCH_BASELINE_SECONDS=5 BENCH_FAULT_SECONDS=5 BENCH_SETTLE_SECONDS=3 BENCH_RECOVERED_SECONDS=5 bench/faults.sh
set -euo pipefail
BENCH_WORK_NAME=sekisho-faults
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"
command -v taskset >/dev/null || die "taskset is required"

CONNECTIONS=${BENCH_CONNECTIONS:-32}
BASELINE=${BENCH_BASELINE_SECONDS:-15}
FAULT=${BENCH_FAULT_SECONDS:-20}
SETTLE=${BENCH_SETTLE_SECONDS:-8}
RECOVERED=${BENCH_RECOVERED_SECONDS:-15}
for v in CONNECTIONS BASELINE FAULT SETTLE RECOVERED; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_${v}(_SECONDS) must be a positive integer"
done
# The provider's access tokens live 30 s and Sekisho refreshes them 20 s before they end: the
# real session is refreshed about every 10 s, so every fault lasting 10 s or more meets a
# refresh.
ACCESS_TOKEN_TTL=30
REFRESH_BEFORE_EXPIRY=20s
# Keycloak's default: a refresh token may be presented again (Realm settings > Tokens > Revoke
# Refresh Token is off). With BENCH_PROVIDER_ROTATES=1 the provider rotates them and ends the
# whole login when a spent one comes back, as oidc-provider does by default (and Keycloak with
# that switch on).
if [[ -n ${BENCH_PROVIDER_ROTATES:-} ]]; then ROTATES=true; else ROTATES=false; fi
# A replica given SIGTERM finishes what it has in flight for up to this long.
DRAIN=10s

release_build
for b in load fault_app; do
    [[ -x $EXAMPLES/$b ]] || die "$EXAMPLES/$b is missing; run without BENCH_NO_BUILD"
done

# --- Redis, with its append-only file in $WORK/redis -----------------------------------------
REDIS_ARGS=(--appendonly yes --appendfsync everysec --save "")
mkdir -p "$WORK/redis"
free_port; REDIS_PORT=$PORT
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
start_redis_here() { run_redis "$REDIS_PORT" "$WORK/redis" "$WORK/redis.log" "${REDIS_ARGS[@]}"; REDIS_PID=$REDIS_STARTED_PID; }
start_redis_here

# --- the OpenID provider, on a port kept across its restart (the issuer names it) -------------
free_port; IDP_PORT=$PORT
IDP_CONFIG="{\"port\":$IDP_PORT,\"access_token_ttl\":$ACCESS_TOKEN_TTL,\"rotate_refresh_tokens\":$ROTATES,\"log_requests\":false}"
start_oidc_provider "$IDP_CONFIG"

# --- the app ----------------------------------------------------------------------------------
taskset -c "$SERVER_CPU" "$EXAMPLES/fault_app" 127.0.0.1:0 >"$WORK/app.out" 2>"$WORK/app.err" &
APP_PID=$!
PIDS+=("$APP_PID")
for _ in $(seq 100); do [[ -s $WORK/app.out ]] && break; sleep 0.05; done
read -r _ _ _ APP_ADDR _ _ CONTROL_ADDR <"$WORK/app.out" || die "fault_app did not start: $(cat "$WORK/app.err")"
control() { curl -s --max-time 5 "http://$CONTROL_ADDR$1"; }

# --- two Sekisho replicas sharing Redis -----------------------------------------------------------
free_port; FRONT_PORT=$PORT
free_port; PROXY_PORT=$PORT
FRONT_URL=http://127.0.0.1:$FRONT_PORT
PROXY_URL=http://127.0.0.1:$PROXY_PORT
SECRET=$("$BIN" secret)
REPLICA_PORTS=()
for n in 1 2; do
    free_port; REPLICA_PORTS+=("$PORT")
    # Redirects go to nginx's auth door: sign-in and callback may land on either replica.
    PUBLIC_URL=$FRONT_URL SHUTDOWN_TIMEOUT=$DRAIN sekisho_config "$WORK/replica$n.toml" "$PORT" false \
        "store = \"redis\"
redis_url = \"$REDIS_URL\"" "[oidc]
issuer_url = \"$ISSUER\"
client_id = \"sekisho\"
client_secret = \"sekisho-secret\"
refresh_before_expiry = \"$REFRESH_BEFORE_EXPIRY\"

[[upstream]]
host = \"*\"
url = \"http://$APP_ADDR\""
done
# start_replica N: replica N (1 or 2), its log appended to $WORK/replicaN.log; sets REPLICA_PID_N.
start_replica() {
    local pid
    taskset -c "$SERVER_CPU" "$BIN" serve --config "$WORK/replica$1.toml" 2>>"$WORK/replica$1.log" &
    pid=$!
    PIDS+=("$pid")
    wait_http "http://127.0.0.1:${REPLICA_PORTS[$1 - 1]}/ping" "sekisho replica $1" "$pid" "$WORK/replica$1.log"
    printf -v "REPLICA_PID_$1" '%s' "$pid"
}
start_replica 1
start_replica 2

# --- nginx: the auth_request door and the proxy door, both balancing over the replicas ----------
# Each upstream keeps idle connections (keepalive). `proxy_next_upstream error timeout` (nginx's
# default, written out): a request that could not be sent to one replica, or got no answer
# from it, goes to the other; an answer such as 503 is passed on, as the other replica shares
# the same Redis and would answer the same.
PORT=$FRONT_PORT
# shellcheck disable=SC2016 # `$app_cookie` is nginx's variable, not the shell's
start_nginx front FRONT "$(app_cookie_maps _sekisho)
    upstream sekisho {
        server 127.0.0.1:${REPLICA_PORTS[0]};
        server 127.0.0.1:${REPLICA_PORTS[1]};
        keepalive 64;
    }
    upstream app {
        server $APP_ADDR;
        keepalive 64;
    }
    proxy_next_upstream error timeout;
    server {
        listen 127.0.0.1:$FRONT_PORT;
        # Sign-in, callback and sign-out reach either replica.
        location /oauth2/ {
            proxy_pass http://sekisho;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }$(auth_request_locations sekisho app '$app_cookie')
    }
    server {
        listen 127.0.0.1:$PROXY_PORT;
        location / {
            proxy_pass http://sekisho;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }"
wait_http "$PROXY_URL/" "nginx (proxy door)" "$FRONT_PID"

# --- sessions -----------------------------------------------------------------------------------
export LOAD_COOKIE LOAD_EXPIRED_COOKIE LOAD_IDP_COOKIE_FILE=$WORK/idp_cookie LOAD_PHASE_FILE=$WORK/phase
LOAD_COOKIE=$(MINT_REDIS_URL=$REDIS_URL "$EXAMPLES/mint_session" "$SECRET")
LOAD_EXPIRED_COOKIE=$(MINT_REDIS_URL=$REDIS_URL MINT_LIFETIME_SECS=1 "$EXAMPLES/mint_session" "$SECRET")
[[ $LOAD_COOKIE == _sekisho=* ]] || die "mint_session stored no session in Redis"
sign_in "$FRONT_URL" _sekisho >"$LOAD_IDP_COOKIE_FILE"
[[ -s $LOAD_IDP_COOKIE_FILE ]] || die "signing alice in through nginx gave no cookie"
sleep 2 # the expired session has ended now

# --- phases ---------------------------------------------------------------------------------------
PHASES=()
# set_phase NAME: what the load and the sign-in loop count under from now on; the app's counts
# so far are kept as those at the end of the phase before.
set_phase() {
    if (( ${#PHASES[@]} )); then
        control /counts | sed "s/^/${PHASES[-1]} /" >>"$WORK/app_counts"
    fi
    PHASES+=("$1")
    echo "$1" >"$LOAD_PHASE_FILE.tmp"
    mv "$LOAD_PHASE_FILE.tmp" "$LOAD_PHASE_FILE"
    note "== $(date +%T) $1"
    # What follows is counted under the new phase once the load generator says so (it looks
    # every 100 ms); before it starts, nothing is waited for.
    [[ -e $LOAD_PHASE_FILE.ack ]] || return 0
    for _ in $(seq 100); do
        [[ $(cat "$LOAD_PHASE_FILE.ack" 2>/dev/null) == "$1" ]] && return
        sleep 0.02
    done
    die "the load generator did not switch to phase $1: $(tail -n 3 "$WORK/load.err")"
}
declare -A RECOVERY
# time_until NAME CMD...: how long (seconds, to 0.1) until CMD succeeds, tried every 0.1 s for
# at most 120 s ("never" then); kept in RECOVERY[NAME].
time_until() {
    local name=$1 t0
    shift
    t0=$(date +%s.%N)
    RECOVERY[$name]=never
    for _ in $(seq 1200); do
        if "$@"; then
            RECOVERY[$name]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
            break
        fi
        sleep 0.1
    done
    note "   $name: passing again after ${RECOVERY[$name]} s"
}
# A signed-in request through each door passes.
signed_in_passes() {
    local door
    for door in "$FRONT_URL" "$PROXY_URL"; do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Cookie: $LOAD_COOKIE" \
            -H 'X-Forwarded-For: 192.0.2.9' -H 'X-Load-Kind: probe' "$door/app/") == 200 ]] || return 1
    done
}
fresh_sign_in() { sign_in_attempt "$FRONT_URL" _sekisho; }

set_phase warmup
taskset -c "$CLIENT_CPU" "$EXAMPLES/load" "auth=127.0.0.1:$FRONT_PORT/app/,proxy=127.0.0.1:$PROXY_PORT/app/" \
    "$CONNECTIONS" 36000 >"$WORK/load.out" 2>"$WORK/load.err" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
for _ in $(seq 100); do [[ -e $LOAD_PHASE_FILE.ack ]] && break; sleep 0.05; done
[[ -e $LOAD_PHASE_FILE.ack ]] || die "the load generator did not start: $(cat "$WORK/load.err")"

# A fresh sign-in through nginx every 2 s, its outcome counted under the phase it began in.
sign_in_loop() {
    local phase
    while phase=$(cat "$LOAD_PHASE_FILE") && [[ $phase != end ]]; do
        if sign_in_attempt "$FRONT_URL" _sekisho; then echo "$phase ok"; else echo "$phase $SIGN_IN_FAILURE"; fi
        sleep 2
    done >>"$WORK/signins"
}
sign_in_loop &
SIGN_IN_PID=$!
PIDS+=("$SIGN_IN_PID")

# Connections opened, caches filled: not judged but for breaches.
sleep 3
set_phase baseline
sleep "$BASELINE"

set_phase redis_killed
kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; forget_pid "$REDIS_PID"
sleep "$FAULT"
set_phase redis_killed_back
start_redis_here
time_until redis_killed signed_in_passes
sleep "$SETTLE"
set_phase redis_killed_recovered
sleep "$RECOVERED"

set_phase redis_hung
kill -STOP "$REDIS_PID"
sleep "$FAULT"
set_phase redis_hung_back
kill -CONT "$REDIS_PID"
time_until redis_hung signed_in_passes
sleep "$SETTLE"
set_phase redis_hung_recovered
sleep "$RECOVERED"

set_phase idp_hung
kill -STOP "$OIDC_PID"
sleep "$FAULT"
set_phase idp_hung_back
kill -CONT "$OIDC_PID"
time_until idp_hung fresh_sign_in
sleep "$SETTLE"
set_phase idp_hung_recovered
sleep "$RECOVERED"

set_phase idp_down
kill -TERM "$OIDC_PID"; wait "$OIDC_PID" 2>/dev/null || true; forget_pid "$OIDC_PID"
sleep "$FAULT"
set_phase idp_down_back
start_oidc_provider "$IDP_CONFIG"
time_until idp_down fresh_sign_in
# The provider forgot alice's grant: she signs in again, as her browser would be sent to.
sign_in "$FRONT_URL" _sekisho >"$LOAD_IDP_COOKIE_FILE.tmp" && mv "$LOAD_IDP_COOKIE_FILE.tmp" "$LOAD_IDP_COOKIE_FILE"
sleep "$SETTLE"
set_phase idp_down_recovered
sleep "$RECOVERED"

set_phase app_reset
control /reset/on >/dev/null
sleep "$FAULT"
set_phase app_reset_back
control /reset/off >/dev/null
time_until app_reset signed_in_passes
sleep "$SETTLE"
set_phase app_reset_recovered
sleep "$RECOVERED"

set_phase replica_restart
# Requests in flight when the replica is told to stop (the app takes 2 s over /slow): each
# must still be answered 200.
INFLIGHT=()
for i in 1 2 3 4; do
    curl -s -o "$WORK/inflight.$i" -w '%{http_code}\n' --max-time 30 -H "Cookie: $LOAD_COOKIE" \
        -H 'X-Forwarded-For: 192.0.2.9' -H 'X-Load-Kind: probe' \
        "http://127.0.0.1:${REPLICA_PORTS[0]}/slow/$i" >"$WORK/inflight.$i.code" &
    INFLIGHT+=("$!")
    PIDS+=("$!")
done
sleep 0.5
DRAIN_START=$(date +%s.%N)
kill -TERM "$REPLICA_PID_1"; wait "$REPLICA_PID_1" 2>/dev/null || true; forget_pid "$REPLICA_PID_1"
RECOVERY[replica_exit]=$(awk -v a="$DRAIN_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
for pid in "${INFLIGHT[@]}"; do wait "$pid" || true; forget_pid "$pid"; done
INFLIGHT_OK=$(cat "$WORK"/inflight.?.code | grep -c '^200$' || true)
note "   replica 1 exited ${RECOVERY[replica_exit]} s after SIGTERM; in-flight requests answered 200: $INFLIGHT_OK of 4"
sleep "$FAULT"
set_phase replica_restart_back
start_replica 1
sleep "$SETTLE"
set_phase replica_restart_recovered
sleep "$RECOVERED"

set_phase end
wait "$LOAD_PID" && LOAD_STATUS=0 || LOAD_STATUS=$?
forget_pid "$LOAD_PID"
wait "$SIGN_IN_PID" 2>/dev/null || true
forget_pid "$SIGN_IN_PID"

# --- report -----------------------------------------------------------------------------------------
echo
printf 'sekisho %s: faults under load, %d connections through nginx (auth_request and proxy doors), two replicas, Redis sessions; the provider %s\n' \
    "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '(not a git checkout)')" "$CONNECTIONS" \
    "$([[ $ROTATES == true ]] && echo "rotates refresh tokens and ends a login whose spent one comes back" || echo "accepts a refresh token again")"
echo
echo "## Per phase, door and kind (answers by class; slowest answer)"
grep '^phase ' "$WORK/load.out" | awk '{ out = $2 " " $4 " " $5; for (i = 6; i < NF; i++) { split($i, kv, "="); if (kv[2] > 0) out = out " " $i } print out " " $NF }'
echo
echo "## Recovery: seconds from the dependency's return until the first signed-in request (or fresh sign-in) passed"
for k in redis_killed redis_hung idp_hung idp_down app_reset; do echo "$k ${RECOVERY[$k]}"; done
echo "replica_restart: replica 1 exited ${RECOVERY[replica_exit]} s after SIGTERM, with 4 requests of 2 s in flight; $INFLIGHT_OK of them answered 200"
echo
echo "## Summary"
set +e
awk -f "$ROOT/bench/faults_report.awk" "$WORK/load.out" "$WORK/signins" "$WORK/app_counts"
REPORT_STATUS=$?
set -e
echo
echo "## Sekisho's log lines (warnings and errors, by replica, counted)"
for n in 1 2; do
    grep -E ' (WARN|ERROR) ' "$WORK/replica$n.log" | sed -E 's/^[^ ]+ +//; s/[0-9a-f]{8}-[0-9a-f-]{27}/<id>/g; s/:[0-9]{4,5}/:<port>/g' |
        cut -c1-200 | sort | uniq -c | sort -rn | head -n 12 | sed "s/^/replica $n: /"
done
(( INFLIGHT_OK == 4 )) || { echo "FAIL: the draining replica dropped $((4 - INFLIGHT_OK)) request(s) in flight"; REPORT_STATUS=1; }
if (( LOAD_STATUS != 0 || REPORT_STATUS != 0 )); then
    echo "FAIL: see above (load generator exit $LOAD_STATUS)"
    exit 1
fi
echo "PASS: no forged, expired, tampered or session-less request passed or reached the app; every trusted and signed-in request passed again after each fault, without a restart of Sekisho"
