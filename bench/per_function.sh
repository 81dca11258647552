#!/usr/bin/env bash
# Instructions per request of each function, from the two profiles `bench/instructions.sh`
# keeps for a case (BENCH_KEEP=DIR): the difference of the long and the short run divided by
# the difference of their request counts, so start-up and shut-down cancel out.
#
# Usage: bench/per_function.sh DIR CASE [LINES] [--inclusive]
#   e.g. BENCH_KEEP=/tmp/cg bench/instructions.sh && bench/per_function.sh /tmp/cg trusted 40
# Functions are named as callgrind_annotate names them (build with
# CARGO_PROFILE_RELEASE_DEBUG=true for file names).
set -euo pipefail
dir=${1:?usage: per_function.sh DIR CASE [LINES] [--inclusive]}
name=${2:?usage: per_function.sh DIR CASE [LINES] [--inclusive]}
lines=${3:-40}
inclusive=no
[[ ${4:-} == --inclusive ]] && inclusive=yes
for f in "$dir/$name".{short,long}.{out,requests}; do [[ -s $f ]] || { echo "per_function: $f is missing" >&2; exit 1; }; done
table() { # PROFILE -> "Ir<TAB>function"
    callgrind_annotate --threshold=100 --inclusive="$inclusive" "$1" 2>/dev/null |
        awk '/^ *[0-9,]+ \( *[0-9.]+%\)/ && !/PROGRAM TOTALS/ {
            ir = $1; gsub(",", "", ir); sub(/^ *[0-9,]+ \( *[0-9.]+%\) +/, "")
            # Our own binaries name no file without debug info; their path is noise.
            sub(/^\?\?\?:/, ""); sub(/ \[[^]]*\/target\/[^]]*\]$/, ""); print ir "\t" $0 }'
}
awk -F'\t' -v rs="$(cat "$dir/$name.short.requests")" -v rl="$(cat "$dir/$name.long.requests")" '
    NR == FNR { short[$2] = $1; next }
    { long[$2] = $1 }
    END {
        n = rl - rs
        for (f in long) { d = (long[f] - short[f]) / n; total += d; if (d >= 1) printf "%9.0f\t%s\n", d, f }
        for (f in short) if (!(f in long)) { d = -short[f] / n; if (d <= -1) printf "%9.0f\t%s\n", d, f }
    }' <(table "$dir/$name.short.out") <(table "$dir/$name.long.out") | sort -rn | head -n "$lines"
