#!/usr/bin/env bash
# Load and soak of Sekisho's /oauth2/auth with a mix of trusted, signed-in, expired, forged and
# tampered requests (examples/load.rs): first a peak that holds BENCH_PEAK_CONNECTIONS (10,000)
# connections at once, then a soak at steady load for BENCH_SOAK_SECONDS (30 minutes). Every
# answer is checked against what it should have been; Sekisho's resident memory and open files
# are sampled throughout and printed as a table. Fails (exit 1) when a forged, expired or
# tampered request passed, a trusted or signed-in one did not, or the open files did not come
# back to where they were once the load stopped. Loopback only.
#
# Environment (all optional):
#   BENCH_PEAK_CONNECTIONS=10000  connections of the peak
#   BENCH_PEAK_SECONDS=60         how long the peak lasts
#   BENCH_SOAK_CONNECTIONS=256    connections of the soak
#   BENCH_SOAK_SECONDS=1800       how long the soak lasts
#   BENCH_SAMPLE_SECONDS=30       how often memory and open files are sampled
#   BENCH_SERVER_CPU=0            core Sekisho is pinned to; the load generator gets the other
#   BENCH_CLIENT_CPU=1
#   BENCH_NO_BUILD=1              skip `cargo build`
#
# Quick run: BENCH_PEAK_SECONDS=10 BENCH_SOAK_SECONDS=60 BENCH_SAMPLE_SECONDS=5 bench/soak.sh
set -euo pipefail
BENCH_WORK_NAME=sekisho-soak
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v taskset >/dev/null || die "taskset is required"

PEAK_CONNECTIONS=${BENCH_PEAK_CONNECTIONS:-10000}
PEAK_SECONDS=${BENCH_PEAK_SECONDS:-60}
SOAK_CONNECTIONS=${BENCH_SOAK_CONNECTIONS:-256}
SOAK_SECONDS=${BENCH_SOAK_SECONDS:-1800}
SAMPLE=${BENCH_SAMPLE_SECONDS:-30}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
for v in PEAK_CONNECTIONS PEAK_SECONDS SOAK_CONNECTIONS SOAK_SECONDS SAMPLE; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer"
done
(( $(ulimit -Hn) > PEAK_CONNECTIONS + 512 )) ||
    die "the hard limit on open files ($(ulimit -Hn)) cannot hold $PEAK_CONNECTIONS connections: raise it (ulimit -Hn) or lower BENCH_PEAK_CONNECTIONS"

release_build
[[ -x $EXAMPLES/load ]] || die "$EXAMPLES/load is missing; run without BENCH_NO_BUILD"

SECRET=$("$BIN" secret)
free_port
# Room for every connection of the peak, so none is taken for another.
sekisho_config "$WORK/sekisho.toml" "$PORT" false 'store = "cookie"' "[connections]
max = $((PEAK_CONNECTIONS + 100))"
URL=127.0.0.1:$PORT
taskset -c "$SERVER_CPU" "$BIN" serve --config "$WORK/sekisho.toml" 2>"$WORK/sekisho.log" &
SK_PID=$!
PIDS+=("$SK_PID")
wait_http "http://$URL/ping" sekisho "$SK_PID" "$WORK/sekisho.log"

export LOAD_COOKIE LOAD_EXPIRED_COOKIE
LOAD_COOKIE=$("$EXAMPLES/mint_session" "$SECRET")
LOAD_EXPIRED_COOKIE=$(MINT_LIFETIME_SECS=1 "$EXAMPLES/mint_session" "$SECRET")
sleep 2 # the second session has ended now

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SK_PID/status"; }
open_files() { find "/proc/$SK_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
FILES_BEFORE=$(open_files)
RSS_BEFORE=$(rss_kb)

# phase NAME CONNECTIONS SECONDS: runs the load generator, sampling Sekisho meanwhile; its
# last line (the totals) is kept in $WORK/NAME.total.
phase() {
    local name=$1 conns=$2 secs=$3 load_pid t=0
    note "== $name: $conns connections for ${secs}s"
    LOAD_REPORT_SECS=$SAMPLE taskset -c "$CLIENT_CPU" "$EXAMPLES/load" "$URL" "$conns" "$secs" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    load_pid=$!
    PIDS+=("$load_pid")
    while kill -0 "$load_pid" 2>/dev/null; do
        sleep "$SAMPLE"
        t=$((t + SAMPLE))
        kill -0 "$SK_PID" 2>/dev/null || die "sekisho exited during $name: $(tail -n 5 "$WORK/sekisho.log")"
        printf '%-6s %6ss  rss %7d KiB  open files %6d  %s\n' "$name" "$t" "$(rss_kb)" "$(open_files)" \
            "$(tail -n 1 "$WORK/$name.out" | cut -d' ' -f3-4)" | tee -a "$WORK/samples" >&2
    done
    wait "$load_pid" && status=0 || status=$?
    tail -n 1 "$WORK/$name.out" >"$WORK/$name.total"
    note "   $(cat "$WORK/$name.total")"
    [[ -s $WORK/$name.total ]] || die "$name: the load generator printed no totals: $(cat "$WORK/$name.err")"
    return "$status"
}

FAILED=0
phase peak "$PEAK_CONNECTIONS" "$PEAK_SECONDS" || FAILED=1
RSS_AFTER_PEAK=$(rss_kb)
phase soak "$SOAK_CONNECTIONS" "$SOAK_SECONDS" || FAILED=1
RSS_AFTER_SOAK=$(rss_kb)
# Connections are closed by the generator as it exits; give Sekisho a moment to drop them.
for _ in $(seq 50); do (( $(open_files) <= FILES_BEFORE )) && break; sleep 0.2; done
FILES_AFTER=$(open_files)

echo
printf 'sekisho %s: /oauth2/auth under a mix of trusted, signed-in, expired, forged and tampered requests\n' \
    "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '(not a git checkout)')"
echo
cat "$WORK/samples"
echo
for name in peak soak; do echo "$name totals: $(cut -d' ' -f2- "$WORK/$name.total")"; done
echo
printf 'resident memory: %d KiB before, %d KiB after the peak, %d KiB at the end of the soak\n' \
    "$RSS_BEFORE" "$RSS_AFTER_PEAK" "$RSS_AFTER_SOAK"
printf 'open files: %d before, %d after\n' "$FILES_BEFORE" "$FILES_AFTER"
if (( FILES_AFTER > FILES_BEFORE )); then
    echo "FAIL: $((FILES_AFTER - FILES_BEFORE)) open file(s) not returned"
    FAILED=1
fi
if (( FAILED )); then
    echo "FAIL: see the totals: breaches (forged, expired or tampered let through) and unexpected answers must be 0"
    exit 1
fi
echo "PASS: no forged, expired or tampered request passed; every trusted and signed-in one did; every file returned"
