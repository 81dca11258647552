#!/usr/bin/env bash
# Manual smoke test of the OIDC test peer with curl, all on 127.0.0.1:
#   bash tests/peers/oidc/smoke.sh
# Starts server.js on an ephemeral port, walks a full Keycloak-style login,
# token exchange, userinfo, refresh, key rotation, back-channel and
# RP-initiated logout, then stops the server. Needs node, curl, python3, openssl.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
jar="$work/jar"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${KEEP_LOG:-}" ] && cp "$work/err" "$KEEP_LOG"
  rm -rf "$work"
}
trap cleanup EXIT

jwt() { # print the payload (or header with -h) of a JWT as JSON
  local part=1; [ "$1" = "-h" ] && { part=0; shift; }
  python3 -c 'import sys,json,base64; s=sys.argv[1].split(".")[int(sys.argv[2])]; print(json.dumps(json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4))), indent=1))' "$1" "$part"
}
field() { python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
header() { grep -i "^$2:" "$1" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; exit 1; fi; }
urlenc() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# Back-channel logout receiver: writes each POST body to $work/bcl.
node -e '
  const http = require("http"); const fs = require("fs");
  const s = http.createServer((req, res) => { let b = ""; req.on("data", c => b += c);
    req.on("end", () => { fs.appendFileSync(process.argv[1], b + "\n"); res.writeHead(200); res.end(); }); });
  s.listen(0, "127.0.0.1", () => console.log(s.address().port));' "$work/bcl" > "$work/bcl.port" &
pids+=($!)

node "$here/server.js" '{"access_token_ttl":5}' > "$work/out" 2> "$work/err" &
pids+=($!)
server_pid=$!
for _ in $(seq 100); do [ -s "$work/out" ] && [ -s "$work/bcl.port" ] && break; sleep 0.1; done
cat "$work/out"
port=$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["port"])' "$work/out")
base="http://127.0.0.1:$port"
I="$base/realms/demo"
OC="$I/protocol/openid-connect"
RU="http://127.0.0.1:9999/oauth2/callback"
bcl="http://127.0.0.1:$(cat "$work/bcl.port")/backchannel-logout"

# --- discovery and JWKS
curl -sf "$I/.well-known/openid-configuration" > "$work/disc"
check "discovery issuer" '[ "$(field "$work/disc" issuer)" = "$I" ]'
check "discovery token endpoint" '[ "$(field "$work/disc" token_endpoint)" = "$OC/token" ]'
check "discovery auth endpoint" '[ "$(field "$work/disc" authorization_endpoint)" = "$OC/auth" ]'
check "discovery jwks_uri" '[ "$(field "$work/disc" jwks_uri)" = "$OC/certs" ]'
check "discovery end_session" '[ "$(field "$work/disc" end_session_endpoint)" = "$OC/logout" ]'
curl -sf "$OC/certs" > "$work/jwks"
kid1=$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["keys"][0]["kid"])' "$work/jwks")
check "jwks has a key" '[ -n "$kid1" ]'

# --- authorization request with PKCE S256
login() { # $1 = password; leaves the redirect in $work/cb
  verifier=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
  challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')
  curl -s -D "$work/h1" -o /dev/null -c "$jar" -b "$jar" \
    "$OC/auth?client_id=sekisho&response_type=code&scope=openid&redirect_uri=$(urlenc "$RU")&state=st-1&nonce=n-1&code_challenge=$challenge&code_challenge_method=S256"
  form_url=$(header "$work/h1" location)
  curl -s -c "$jar" -b "$jar" "$form_url" > "$work/form"
}
login
check "auth endpoint redirects (303) to the login form" 'head -1 "$work/h1" | grep -q " 303"'
check "login form looks like Keycloak's" 'grep -q "id=\"kc-form-login\"" "$work/form" && grep -q "id=\"kc-login\"" "$work/form"'
action=$(sed -n 's/.*id="kc-form-login" action="\([^"]*\)".*/\1/p' "$work/form")

curl -s -c "$jar" -b "$jar" -d username=alice -d password=wrong "$action" > "$work/bad"
check "wrong password re-shows the form with an error" 'grep -q "Invalid username or password." "$work/bad"'

curl -s -D "$work/h2" -o /dev/null -c "$jar" -b "$jar" -d username=alice -d password=alice-password "$action"
curl -s -D "$work/h3" -o /dev/null -c "$jar" -b "$jar" "$(header "$work/h2" location)"
cb=$(header "$work/h3" location)
echo "     callback: $cb"
check "303 to redirect_uri" 'head -1 "$work/h3" | grep -q " 303" && [[ "$cb" == "$RU?"* ]]'
check "callback has code, state and iss" '[[ "$cb" == *code=* && "$cb" == *state=st-1* && "$cb" == *iss=$(urlenc "$I")* ]]'
code=$(python3 -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["code"][0])' "$cb")

# --- code exchange with client_secret_basic
curl -s -u sekisho:sekisho-secret -d grant_type=authorization_code -d "code=$code" \
  --data-urlencode "redirect_uri=$RU" -d "code_verifier=$verifier" "$OC/token" > "$work/tok"
idt=$(field "$work/tok" id_token); at=$(field "$work/tok" access_token); rt=$(field "$work/tok" refresh_token)
jwt "$idt" > "$work/idt"; jwt "$at" > "$work/at"
echo "     id_token:"; sed 's/^/       /' "$work/idt"
echo "     access_token:"; sed 's/^/       /' "$work/at"
check "id_token nonce" '[ "$(field "$work/idt" nonce)" = n-1 ]'
check "id_token preferred_username/groups" 'grep -q "\"alice\"" "$work/idt" && grep -q "/admins" "$work/idt"'
check "id_token has sid" '[ -n "$(field "$work/idt" sid)" ]'
check "access token is a JWT with azp and roles" '[ "$(field "$work/at" azp)" = sekisho ] && grep -q "\"admin\"" "$work/at"'
sigok() { # verify a JWT's RS256 signature against the provider's JWKS
  node -e '
    const [t, jwksUri] = process.argv.slice(1); const [h, p, s] = t.split(".");
    fetch(jwksUri).then(r => r.json()).then(({ keys }) => {
      const { kid } = JSON.parse(Buffer.from(h, "base64url"));
      const jwk = keys.find(k => k.kid === kid);
      const ok = jwk && require("crypto").verify("sha256", Buffer.from(h + "." + p),
        require("crypto").createPublicKey({ key: jwk, format: "jwk" }), Buffer.from(s, "base64url"));
      process.exit(ok ? 0 : 1); });' "$1" "$OC/certs"
}
check "id_token and access token signatures verify against the JWKS" 'sigok "$idt" && sigok "$at"'
check "access token header typ JWT" '[[ "$(jwt -h "$at")" == *\"JWT\"* ]]'

curl -s -H "Authorization: Bearer $at" "$OC/userinfo" > "$work/ui"
check "userinfo accepts the JWT access token" '[ "$(field "$work/ui" preferred_username)" = alice ]'

# --- refresh (client_secret_post) rotates the refresh token
curl -s -d grant_type=refresh_token -d "refresh_token=$rt" -d client_id=sekisho -d client_secret=sekisho-secret "$OC/token" > "$work/tok2"
rt2=$(field "$work/tok2" refresh_token)
check "refresh works and rotates" '[ -n "$rt2" ] && [ "$rt2" != "$rt" ]'
curl -s "$base/test/counters" > "$work/c"
echo "     counters: $(cat "$work/c")"
check "counters: 1 code, 1 refresh" 'python3 -c "import json,sys; t=json.load(open(sys.argv[1]))[\"token\"]; sys.exit(0 if t==dict(authorization_code=1,refresh_token=1) else 1)" "$work/c"'

# --- key rotation
curl -s -X POST "$base/test/rotate-keys" > "$work/rot"
kid2=$(field "$work/rot" kid)
check "rotate-keys publishes a new kid first" '[ "$kid2" != "$kid1" ] && curl -s "$OC/certs" | python3 -c "import json,sys; k=json.load(sys.stdin)[\"keys\"]; sys.exit(0 if k[0][\"kid\"]==sys.argv[1] else 1)" "$kid2"'
curl -s -u sekisho:sekisho-secret -d grant_type=refresh_token -d "refresh_token=$rt2" "$OC/token" > "$work/tok3"
check "tokens are now signed with the new kid" '[[ "$(jwt -h "$(field "$work/tok3" access_token)")" == *"$kid2"* ]]'
rt3=$(field "$work/tok3" refresh_token); idt3=$(field "$work/tok3" id_token)

# --- back-channel + RP-initiated logout
curl -s -X POST -d "{\"backchannel_logout_uri\":\"$bcl\"}" "$base/test/clients/sekisho" > /dev/null
curl -s -c "$jar" -b "$jar" "$OC/logout?id_token_hint=$idt3&post_logout_redirect_uri=$(urlenc "http://127.0.0.1:9999/bye")&state=bye-1" > "$work/lo"
check "logout asks for confirmation" 'grep -q "name=\"xsrf\"" "$work/lo"'
xsrf=$(sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' "$work/lo")
confirm=$(sed -n 's/.*id="op.logoutForm" method="post" action="\([^"]*\)".*/\1/p' "$work/lo")
curl -s -D "$work/h4" -o /dev/null -c "$jar" -b "$jar" -d "xsrf=$xsrf" -d logout=yes "$confirm"
check "confirmed logout 303s to post_logout_redirect_uri with state" '[ "$(header "$work/h4" location)" = "http://127.0.0.1:9999/bye?state=bye-1" ]'
check "back-channel logout token delivered" '[ -s "$work/bcl" ]'
lt=$(sed -n 's/^logout_token=//p' "$work/bcl" | head -1)
jwt "$lt" > "$work/lt"; echo "     logout_token:"; sed 's/^/       /' "$work/lt"
check "logout token has sid and the event" '[ "$(field "$work/lt" sid)" = "$(field "$work/idt" sid)" ] && grep -q backchannel-logout "$work/lt"'
check "refresh token dead after logout" 'curl -s -u sekisho:sekisho-secret -d grant_type=refresh_token -d "refresh_token=$rt3" "$OC/token" | grep -q invalid_grant'
check "userinfo refuses the old access token" '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $(field "$work/tok3" access_token)" "$OC/userinfo")" = 401 ]'
login
check "second login asks for the password again" 'grep -q "id=\"kc-form-login\"" "$work/form"'

# --- clean exit on SIGTERM
kill -TERM "$server_pid"
rc=0; wait "$server_pid" || rc=$?
check "exits 0 on SIGTERM" '[ "$rc" = 0 ]'
echo "all checks passed"
