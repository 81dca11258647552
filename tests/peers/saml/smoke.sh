#!/usr/bin/env bash
# Checks the test IdP by hand with curl, python3 (samltool.py) and xmlsec1, the way an SP
# would use it; prints ok/FAIL per check and exits 1 on any failure.
#
#   tests/peers/saml/smoke.sh                      # Response signed, rsa-sha256
#   SIGN=assertion tests/peers/saml/smoke.sh       # or SIGN=both; SHA1=1 for rsa-sha1
#   SIGNED_REQUESTS=1 tests/peers/saml/smoke.sh    # SP certificate registered: unsigned
#                                                  # requests refused, signed ones accepted
#
# Needs: simplesamlphp php-cli php-xml php-mbstring (see README.md), curl, python3, openssl,
# xmlsec1. Starts run.sh on a free port in a temporary directory and stops it (by PID) at exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tool="python3 $here/samltool.py"
port="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
sp=http://127.0.0.1:9999
spe=$sp/saml/metadata
acs=$sp/saml/acs
sign="${SIGN:-response}"
work="$(mktemp -d /tmp/saml-smoke.XXXXXX)"
fails=0

ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { # check "what" command...
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}
location() { grep -i '^location:' "$1" | tr -d '\r' | cut -d' ' -f2-; }

sign_args=()
if [ "${SIGNED_REQUESTS:-}" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=sekisho-sp \
    -keyout "$work/sp.key" -out "$work/sp.crt" 2>/dev/null
  export SP_CERT="$work/sp.crt"
  sign_args=(--sign-key "$work/sp.key")
fi

RUN="$work/run" PORT="$port" SP="$sp" SIGN="$sign" "$here/run.sh" >"$work/server.log" 2>&1 &
php_pid=$!   # run.sh execs php: this is the php -S master
cleanup() {
  # SIGINT to the master and its workers (php -S does not pass signals on to workers).
  kill -INT $php_pid $(pgrep -P $php_pid) 2>/dev/null || true
  wait $php_pid 2>/dev/null || true
  if [ $fails -gt 0 ]; then echo "kept $work (server.log, run/log/simplesamlphp.log)"; else rm -rf "$work"; fi
}
trap cleanup EXIT

B=http://127.0.0.1:$port/simplesaml
for _ in $(seq 150); do
  curl -sf -o /dev/null "$B/saml2/idp/metadata.php" && break
  sleep 0.1
done
cert="$work/run/cert/idp.crt"

echo "== metadata ($B/saml2/idp/metadata.php)"
curl -s "$B/saml2/idp/metadata.php" >"$work/md.xml"
check "EntityDescriptor entityID = metadata URL" grep -q "entityID=\"$B/saml2/idp/metadata.php\"" "$work/md.xml"
check "KeyDescriptor use=signing" grep -q '<md:KeyDescriptor use="signing">' "$work/md.xml"
check "signing certificate = cert/idp.crt" grep -q "$(sed '1d;$d' "$cert" | tr -d '\n' | cut -c1-60)" "$work/md.xml"
check "SingleSignOnService HTTP-Redirect" grep -q "bindings:HTTP-Redirect\" Location=\"$B/saml2/idp/SSOService.php\"" "$work/md.xml"
check "SingleLogoutService HTTP-Redirect" grep -q "bindings:HTTP-Redirect\" Location=\"$B/saml2/idp/SingleLogoutService.php\"" "$work/md.xml"
check "NameIDFormat persistent" grep -q 'nameid-format:persistent</md:NameIDFormat>' "$work/md.xml"

echo "== unknown SP"
url=$($tool authn-request --sso "$B/saml2/idp/SSOService.php" --sp http://127.0.0.1:1/unknown --acs "$acs" --id _u1)
curl -s -o "$work/unknown.html" "$url"
check "error page 'Metadata not found'" grep -q 'Metadata not found' "$work/unknown.html"

if [ "${SIGNED_REQUESTS:-}" = 1 ]; then
  echo "== unsigned AuthnRequest (validate.authnrequest on)"
  url=$($tool authn-request --sso "$B/saml2/idp/SSOService.php" --sp "$spe" --acs "$acs" --id _u2)
  curl -s -o "$work/unsigned.html" "$url"
  check "refused: no signature found" grep -q 'no signature found on message' "$work/unsigned.html"
fi

echo "== sign-in (alice), SIGN=$sign${SHA1:+ SHA1}"
jar="$work/jar"
url=$($tool authn-request --sso "$B/saml2/idp/SSOService.php" --sp "$spe" --acs "$acs" \
  --id _req1 --relay-state 'rs-1' "${sign_args[@]}")
curl -s -c "$jar" -b "$jar" -o /dev/null -D "$work/1.h" "$url"
login=$(location "$work/1.h")
check "302 to the login form" grep -q 'loginuserpass.php' <<<"$login"
curl -s -c "$jar" -b "$jar" -o "$work/2.html" "$login"
auth_state=$(python3 -c 'import re,html,sys; print(html.unescape(re.search(r"name=\"AuthState\" value=\"([^\"]*)\"", open(sys.argv[1]).read()).group(1)))' "$work/2.html")
curl -s -c "$jar" -b "$jar" -o "$work/3.html" --data-urlencode username=alice \
  --data-urlencode password=wrong --data-urlencode "AuthState=$auth_state" "$login"
check "wrong password: form again with an error" grep -q 'Incorrect username or password' "$work/3.html"
curl -s -c "$jar" -b "$jar" -o "$work/4.html" --data-urlencode username=alice \
  --data-urlencode password=alice-password --data-urlencode "AuthState=$auth_state" "$login"
check "auto-submit form to the ACS" grep -q "action=\"$acs\"" "$work/4.html"
check "RelayState kept" grep -q 'name="RelayState" value="rs-1"' "$work/4.html"
$tool form "$work/4.html" --out "$work/resp.xml" 2>/dev/null
$tool check "$work/resp.xml" --cert "$cert" --request-id _req1 --acs "$acs" --sp "$spe" --sign "$sign" \
  | sed 's/^/  /' | tee "$work/check.txt"
grep -q '^  FAIL' "$work/check.txt" && fails=$((fails + 1))
check "NameID is alice's" grep -q 'G-a11ce000-0000-4000-8000-000000000001</saml:NameID>' "$work/resp.xml"
if [ -n "${SHA1:-}" ]; then
  check "rsa-sha1 signature" grep -q 'xmldsig#rsa-sha1' "$work/resp.xml"
else
  check "rsa-sha256 signature" grep -q 'xmldsig-more#rsa-sha256' "$work/resp.xml"
fi
session_index=$(grep -o 'SessionIndex="[^"]*"' "$work/resp.xml" | cut -d'"' -f2)

echo "== SSO: a second AuthnRequest signs in without the form"
url=$($tool authn-request --sso "$B/saml2/idp/SSOService.php" --sp "$spe" --acs "$acs" --id _req2 "${sign_args[@]}")
curl -s -c "$jar" -b "$jar" -o "$work/5.html" "$url"
$tool form "$work/5.html" --out "$work/resp2.xml" 2>/dev/null
check "InResponseTo=_req2" grep -q 'InResponseTo="_req2"' "$work/resp2.xml"

echo "== SP-initiated logout (LogoutRequest, HTTP-Redirect)"
url=$($tool logout-request --slo "$B/saml2/idp/SingleLogoutService.php" --sp "$spe" \
  --name-id G-a11ce000-0000-4000-8000-000000000001 --session-index "$session_index" \
  --id _lo1 --relay-state lo-1 "${sign_args[@]}")
curl -s -c "$jar" -b "$jar" -o /dev/null -D "$work/6.h" "$url"
next=$(location "$work/6.h")
curl -s -c "$jar" -b "$jar" -o /dev/null -D "$work/7.h" "$next"   # resumelogout.php
back=$(location "$work/7.h")
check "302 to the SP's SLO URL" grep -q "^$sp/saml/slo?SAMLResponse=" <<<"$back"
$tool redirect "$back" --cert "$cert" >"$work/lresp.xml" 2>"$work/lresp.txt" || true
check "LogoutResponse query-string signature verifies" grep -q 'Verified OK' "$work/lresp.txt"
check "LogoutResponse InResponseTo=_lo1, Success" grep -q 'InResponseTo="_lo1".*status:Success' "$work/lresp.xml"
check "RelayState lo-1" grep -q 'RelayState: lo-1' "$work/lresp.txt"
url=$($tool authn-request --sso "$B/saml2/idp/SSOService.php" --sp "$spe" --acs "$acs" --id _req3 "${sign_args[@]}")
curl -s -c "$jar" -b "$jar" -o /dev/null -D "$work/8.h" "$url"
check "after logout the login form is back" grep -q 'loginuserpass.php' <<<"$(location "$work/8.h")"

echo "== IdP-initiated logout (bob)"
jar2="$work/jar2"
url=$($tool authn-request --sso "$B/saml2/idp/SSOService.php" --sp "$spe" --acs "$acs" --id _req4 "${sign_args[@]}")
curl -s -c "$jar2" -b "$jar2" -o /dev/null -D "$work/9.h" "$url"
login=$(location "$work/9.h")
curl -s -c "$jar2" -b "$jar2" -o "$work/10.html" "$login"
auth_state=$(python3 -c 'import re,html,sys; print(html.unescape(re.search(r"name=\"AuthState\" value=\"([^\"]*)\"", open(sys.argv[1]).read()).group(1)))' "$work/10.html")
curl -s -c "$jar2" -b "$jar2" -o "$work/11.html" --data-urlencode username=bob \
  --data-urlencode password=bob-password --data-urlencode "AuthState=$auth_state" "$login"
$tool form "$work/11.html" --out "$work/resp4.xml" 2>/dev/null
check "bob: groups only /dev" grep -q '<saml:Attribute Name="groups" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">/dev</saml:AttributeValue></saml:Attribute>' "$work/resp4.xml"
curl -s -c "$jar2" -b "$jar2" -o /dev/null -D "$work/12.h" "$B/saml2/idp/SingleLogoutService.php?ReturnTo=http%3A%2F%2F127.0.0.1%3A9999%2Fbye"
curl -s -c "$jar2" -b "$jar2" -o /dev/null -D "$work/13.h" "$(location "$work/12.h")"
lreq=$(location "$work/13.h")
check "302 to the SP's SLO URL with a LogoutRequest" grep -q "^$sp/saml/slo?SAMLRequest=" <<<"$lreq"
$tool redirect "$lreq" --cert "$cert" >"$work/lreq.xml" 2>"$work/lreq.txt" || true
check "LogoutRequest signed (query string)" grep -q 'Verified OK' "$work/lreq.txt"
check "LogoutRequest names bob's NameID" grep -q 'G-b0b00000-0000-4000-8000-000000000002</saml:NameID>' "$work/lreq.xml"
check "LogoutRequest carries the SessionIndex" grep -q '<samlp:SessionIndex>' "$work/lreq.xml"
req_id=$(grep -o ' ID="[^"]*"' "$work/lreq.xml" | head -1 | cut -d'"' -f2)
relay=$(sed -n 's/^RelayState: //p' "$work/lreq.txt")
url=$($tool logout-response --slo "$B/saml2/idp/SingleLogoutService.php" --sp "$spe" \
  --in-response-to "$req_id" --relay-state "$relay" "${sign_args[@]}")
curl -s -c "$jar2" -b "$jar2" -o /dev/null -D "$work/14.h" "$url"
check "the SP's LogoutResponse ends at ReturnTo" grep -q '^http://127.0.0.1:9999/bye$' <<<"$(location "$work/14.h")"

echo
if [ $fails -eq 0 ]; then echo "all checks passed"; else echo "$fails check(s) failed"; exit 1; fi
