# The summary of bench/faults.sh, and its verdict (exit status 1 when a check fails). Reads, in
# this order: the load generator's output (`phase NAME seconds=S door=D kind=K CLASS=N ...
# over_1s=N slowest_ms=M`), the sign-in loop's lines (`PHASE ok|FAILURE`) and the app's counts
# at the end of each phase (`PHASE KIND N`, cumulative).
#
# Checks: no refused kind (expired, forged address, tampered cookie, no session) ever gets 2xx
# or reaches the app; in the baseline and every `*_recovered` phase, every trusted and
# signed-in request passes, every refused one gets 401 and every fresh sign-in succeeds; while
# Redis or the provider is failing, trusted requests (which need neither) all pass, and while
# only the provider is failing, so do sessions that need no refresh.

function refused(kind) { return kind == "expired" || kind == "forged_address" || kind == "tampered_cookie" || kind == "no_session" }
function calm(phase) { return phase == "baseline" || phase ~ /_recovered$/ }
function dependency_fault(phase) { return phase ~ /^(redis_killed|redis_hung|idp_hung|idp_down)$/ }
function idp_fault(phase) { return phase ~ /^idp_(hung|down)$/ }
function commas(n,    s) { s = sprintf("%d", n); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); return s }
# One cell: the nonzero classes of a group of requests, largest first, then the slowest answer
# and how many took over a second: "2xx 1,234, 503 56; max 12 ms".
function cell(phase, group,    c, n, i, j, t, names, counts, out) {
    n = 0
    for (c = 1; c <= nclasses; c++) {
        if (count[phase, group, classes[c]] > 0) {
            n++; names[n] = classes[c]; counts[n] = count[phase, group, classes[c]]
        }
    }
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (counts[j] > counts[i]) {
        t = counts[i]; counts[i] = counts[j]; counts[j] = t; t = names[i]; names[i] = names[j]; names[j] = t
    }
    out = ""
    for (i = 1; i <= n; i++) out = out (i > 1 ? ", " : "") names[i] " " commas(counts[i])
    if (out == "") return "-"
    out = out "; max " commas(slowest[phase, group]) " ms"
    if (slow[phase, group] > 0) out = out ", " commas(slow[phase, group]) " over 1 s"
    return out
}
function fail(why) { print "FAIL: " why; failed = 1 }

FNR == 1 { file++ }
file == 1 && $1 == "phase" {
    phase = $2
    if (!(phase in seen)) { seen[phase] = 1; order[++nphases] = phase }
    split($3, kv, "="); secs[phase] = kv[2]
    split($5, kv, "="); kind = kv[2]
    kinds[kind] = 1
    group = refused(kind) ? "refused" : kind
    for (i = 6; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "slowest_ms") {
            if (kv[2] + 0 > slowest[phase, group] + 0) slowest[phase, group] = kv[2]
            continue
        }
        if (kv[1] == "over_1s") { slow[phase, group] += kv[2]; continue }
        if (!(kv[1] in classindex)) { classindex[kv[1]] = ++nclasses; classes[nclasses] = kv[1] }
        count[phase, group, kv[1]] += kv[2]
        total[phase] += kv[2]
        if (kv[1] != "2xx" && !refused(kind)) notpassed[phase, kind] += kv[2]
        if (kv[1] == "2xx" && refused(kind)) breaches[phase] += kv[2]
        if (kv[1] != "401" && refused(kind)) odd[phase, kind] += kv[2]
    }
}
file == 2 {
    if (!(($1, $2) in signins)) outcomes[$1] = outcomes[$1] " " $2
    signins[$1, $2]++
    if ($2 != "ok") signin_failed[$1]++
}
file == 3 {
    if (!($1 in appseen)) { appseen[$1] = 1; apporder[++napp] = $1 }
    app[$1, $2] = $3; appkinds[$2] = 1
}

END {
    # What reached the app per phase: the difference of its counts from the phase before.
    for (i = 1; i <= napp; i++) for (k in appkinds) {
        if (!refused(k)) continue
        d = app[apporder[i], k] - (i > 1 ? app[apporder[i - 1], k] : 0)
        if (d > 0) reached[apporder[i]] += d
    }
    print "| phase | s | requests | trusted | signed in (minted, no refresh) | signed in at the provider (refreshed) | expired, forged, tampered, no session | fresh sign-ins | refused kinds at the app | breaches |"
    print "|---|---:|---:|---|---|---|---|---|---:|---:|"
    for (p = 1; p <= nphases; p++) {
        ph = order[p]
        si = ""
        n = split(outcomes[ph], outs, " ")
        for (o = 1; o <= n; o++) si = si (o > 1 ? ", " : "") outs[o] " " signins[ph, outs[o]]
        printf "| %s | %.0f | %s | %s | %s | %s | %s | %s | %d | %d |\n", ph, secs[ph], commas(total[ph]),
            cell(ph, "trusted"), cell(ph, "signed_in"), cell(ph, "signed_in_idp"), cell(ph, "refused"),
            (si == "" ? "-" : si), reached[ph], breaches[ph]
    }
    print ""
    for (p = 1; p <= nphases; p++) {
        ph = order[p]
        if (breaches[ph] > 0) fail(ph ": " breaches[ph] " forged, expired, tampered or session-less requests got 2xx")
        if (reached[ph] > 0) fail(ph ": " reached[ph] " forged, expired, tampered or session-less requests reached the app")
        if (total[ph] == 0) fail(ph ": no requests counted")
        if (dependency_fault(ph) && notpassed[ph, "trusted"] > 0)
            fail(ph ": " notpassed[ph, "trusted"] " trusted requests did not pass, though they need neither Redis nor the provider")
        if (idp_fault(ph) && notpassed[ph, "signed_in"] > 0)
            fail(ph ": " notpassed[ph, "signed_in"] " requests with a session that needs no refresh did not pass while only the provider failed")
        if (!calm(ph)) continue
        for (k in kinds) {
            if (!refused(k) && notpassed[ph, k] > 0) fail(ph ": " notpassed[ph, k] " " k " requests did not pass (no recovery)")
            if (refused(k) && odd[ph, k] > 0) fail(ph ": " odd[ph, k] " " k " requests got something else than 401")
        }
        if (signin_failed[ph] > 0) fail(ph ": " signin_failed[ph] " fresh sign-ins failed")
    }
    if (nphases == 0) fail("the load generator reported no phase")
    exit failed
}
