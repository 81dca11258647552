# Shared by bench/auth.sh and bench/proxy.sh (sourced, not run): settings, the processes a
# script starts, and measuring one case with wrk while watching the machine for other load.
#
# A script that sources this fills CASES (see `field` below for the layout), defines
# `headers_for CASE` (the request headers of a case, one per line), and calls `measure_all`;
# the results are then in RPS, P50, P99, SRV, CLI, CPUREQ and SHOWN, keyed by case name, each
# a space-separated list with one entry per round.

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

BENCH_WORK_NAME=sekisho-bench
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v taskset >/dev/null || die "taskset is required"
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
release_build

# --- servers ----------------------------------------------------------------------------------

# start_example NAME VAR: runs examples/NAME on the server core on an ephemeral port; sets
# ${VAR}_PID and ${VAR}_URL.
start_example() {
    local name=$1 var=$2 pid addr
    taskset -c "$SERVER_CPU" "$EXAMPLES/$name" 127.0.0.1:0 >"$WORK/$name.out" 2>"$WORK/$name.err" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 100); do [[ -s $WORK/$name.out ]] && break; sleep 0.05; done
    addr=$(head -n1 "$WORK/$name.out")
    [[ -n $addr ]] || die "$name did not print its address"
    wait_http "http://$addr/" "$name" "$pid"
    printf -v "${var}_PID" '%s' "$pid"
    printf -v "${var}_URL" '%s' "http://$addr"
}

# BENCH_BASELINE=DIR: a `sekisho` binary built from another commit (e.g. a copy of
# target/release/sekisho taken before a change), measured in the same run as extra rows.
BASELINE=
if [[ -n ${BENCH_BASELINE:-} ]]; then
    BASELINE=$BENCH_BASELINE/sekisho
    [[ -x $BASELINE ]] || die "BENCH_BASELINE: $BASELINE is not an executable"
fi

# start_sekisho CONFIG VAR [STDERR] [BINARY]: runs Sekisho (default: this tree's) on the
# server core; its config must listen on 127.0.0.1:$PORT. Sets ${VAR}_PID and ${VAR}_URL.
start_sekisho() {
    local config=$1 var=$2 err=${3:-$WORK/$2.log} bin=${4:-$BIN} pid url
    url="http://$(sed -n 's/^listen = "\(.*\)"$/\1/p' "$config")"
    "$bin" check --config "$config" >/dev/null || die "generated config $config is invalid"
    taskset -c "$SERVER_CPU" "$bin" serve --config "$config" 2>"$err" &
    pid=$!
    PIDS+=("$pid")
    wait_http "$url/ping" "sekisho ($var)" "$pid"
    printf -v "${var}_PID" '%s' "$pid"
    printf -v "${var}_URL" '%s' "$url"
}

# --- cases ------------------------------------------------------------------------------------
# A case is one string: name | label | pids | url | expected status | the script's own fields.
# Every pid in "pids" (space-separated) is one of the servers the case runs through; their CPU
# is added up as the servers' CPU. The first one must be alive.
field() { local IFS='|' F; read -r -a F <<<"$1"; echo "${F[$2]:-}"; }

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
server_ticks() { # PIDS...: their ticks together
    local t=0 pid
    for pid in "$@"; do t=$(( t + $(proc_ticks "$pid") )); done
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
# Percent of one core used by everything but our servers and wrk.
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
    local c=$1 secs=$2 me=$BASHPID pids url args=() h t0 t1 w0 w1 b0 b1 m0 m1 p0 p1 start end foreign wall
    read -r -a pids <<<"$(field "$c" 2)"
    url=$(field "$c" 3)
    while IFS= read -r h; do args+=(-H "$h"); done < <(headers_for "$c")
    kill -0 "${pids[0]}" 2>/dev/null || die "$(field "$c" 1): server (pid ${pids[0]}) is gone"
    p0=$(proc_snapshot)
    t0=$(server_ticks "${pids[@]}"); w0=$(child_ticks "$me"); b0=$(cpu_busy "$CLIENT_CPU"); m0=$(machine_ticks); start=$(date +%s%N)
    taskset -c "$CLIENT_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --latency -s "$WORK/report.lua" "${args[@]}" "$url" >"$WORK/wrk.out"
    end=$(date +%s%N); m1=$(machine_ticks); b1=$(cpu_busy "$CLIENT_CPU"); w1=$(child_ticks "$me"); t1=$(server_ticks "${pids[@]}")
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
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }

# Checks that a case answers its expected status; prints the response head.
check_status() { # CASE
    local c=$1 args=() h out status
    while IFS= read -r h; do args+=(-H "$h"); done < <(headers_for "$c")
    out=$(curl -s -D - -o /dev/null "${args[@]}" "$(field "$c" 3)")
    status=$(awk 'NR == 1 { print $2 }' <<<"$out")
    [[ $status == "$(field "$c" 4)" ]] || die "$(field "$c" 1): expected $(field "$c" 4), got '$status'"
    note "   $(printf '%-34s %s' "$(field "$c" 1)" "$status")"
    echo "$out"
}

declare -A RPS P99 P50 SRV CLI CPUREQ SHOWN
DISTURBED=0

# Every case once per round, in an order that rotates each round, after a warm-up; runs
# disturbed by other load are repeated.
measure_all() {
    local n=${#CASES[@]} r k c name attempt result rps p99 p50 srv cli serr kerr cpureq foreign top mark
    note "== ${ROUNDS} round(s) x ${n} cases x ${DURATION}s; servers on core $SERVER_CPU, wrk -t$THREADS -c$CONNECTIONS on core $CLIENT_CPU"
    if (( WARMUP > 0 )); then
        wait_quiet
        for c in "${CASES[@]}"; do result=$(run_wrk "$c" "$WARMUP"); done
    fi
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
                note "   round $((r + 1))  $(printf '%-34s' "$(field "$c" 1)") disturbed (${foreign}% of a core used by others; top visible: ${top//_/ }); repeating"
            done
            mark=""; (( foreign <= MAX_FOREIGN )) || mark="!"
            # A 401 case is all "status errors" in wrk's terms; any other case must have none.
            if [[ $(field "$c" 4) == 20? ]] && (( serr > 0 )); then note "bench: warning: $name: $serr non-2xx responses"; fi
            (( kerr == 0 )) || note "bench: warning: $name: $kerr socket errors"
            RPS[$name]+="$rps "; P99[$name]+="$p99 "; P50[$name]+="$p50 "; SRV[$name]+="$srv "; CLI[$name]+="$cli "
            CPUREQ[$name]+="$cpureq "; SHOWN[$name]+="$rps$mark "
            note "   $(printf 'round %d  %-34s %7d req/s  p50 %5d us  p99 %6d us  server cpu %3d%% (%5.2f us/req)  wrk core %3d%%  others %3d%%%s' \
                $((r + 1)) "$(field "$c" 1)" "$rps" "$p50" "$p99" "$srv" "$cpureq" "$cli" "$foreign" "${mark:+ (disturbed, kept)}")"
            if [[ -n ${BENCH_RAW:-} ]]; then
                printf '%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%d\n' "$(date -Is)" $((r + 1)) "$name" "$rps" "$p50" "$p99" "$srv" "$cpureq" "$cli" "$foreign" >>"$BENCH_RAW"
            fi
        done
    done
}

# The largest spread between one case's rounds, in % of its best.
spread_warning() {
    local spread
    spread=$(for c in "${CASES[@]}"; do
        tr ' ' '\n' <<<"${RPS[$(field "$c" 0)]}" | grep . | sort -g | awk '{ a[NR] = $1 } END { print 100 * (a[NR] - a[1]) / a[NR] }'
    done | sort -g | tail -n1)
    awk -v s="$spread" 'BEGIN { if (s > 15) printf "\nwarning: runs of one case differ by up to %.0f%%; add rounds (e.g. BENCH_DURATION=5 BENCH_ROUNDS=7) before trusting small differences\n", s }'
    if (( DISTURBED > 0 )); then
        echo "warning: $DISTURBED run(s) were disturbed by other processes even after $RETRIES repeats (marked !)"
    fi
}

verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "PASS" : "MISS" }'; }
