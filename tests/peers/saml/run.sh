#!/usr/bin/env bash
# Starts the test IdP by hand, in the foreground (Ctrl-C stops it):
#
#   tests/peers/saml/run.sh
#
# Environment (all optional):
#   PORT=8180                      where php -S listens (127.0.0.1)
#   SP=http://127.0.0.1:9999       the SP's base URL: entity ID $SP/saml/metadata,
#                                  ACS $SP/saml/acs (HTTP-POST), SLO $SP/saml/slo (HTTP-Redirect)
#   SIGN=response|assertion|both   which element the IdP signs (default response)
#   SHA1=1                         sign with rsa-sha1 instead of rsa-sha256
#   SP_CERT=path.pem               the SP's signing certificate; then unsigned
#                                  AuthnRequests and LogoutRequests are refused
#   RUN=dir                        the run directory (default: a new mktemp -d)
#   WORKERS=4                      PHP_CLI_SERVER_WORKERS
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${PORT:-8180}"
sp="${SP:-http://127.0.0.1:9999}"
sign="${SIGN:-response}"
run="${RUN:-$(mktemp -d /tmp/saml-idp.XXXXXX)}"

"$here"/prepare.sh "$run"

case "$sign" in
  response) sr=true; sa=false ;;
  assertion) sr=false; sa=true ;;
  both) sr=true; sa=true ;;
  *) echo "SIGN must be response, assertion or both" >&2; exit 2 ;;
esac
alg=http://www.w3.org/2001/04/xmldsig-more#rsa-sha256
[ "${SHA1:-}" = 1 ] && alg=http://www.w3.org/2000/09/xmldsig#rsa-sha1
cert=null
validate=false
if [ -n "${SP_CERT:-}" ]; then
  cert="$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$SP_CERT")"
  validate=true
fi

base="http://127.0.0.1:$port/simplesaml/"
cat > "$run"/config/settings.json <<JSON
{
  "run_dir": "$run",
  "base_url": "$base",
  "entity_id": "${base}saml2/idp/metadata.php",
  "sign_response": $sr,
  "sign_assertion": $sa,
  "signature_algorithm": "$alg",
  "sps": [
    {
      "entity_id": "$sp/saml/metadata",
      "acs_url": "$sp/saml/acs",
      "slo_url": "$sp/saml/slo",
      "cert_pem": $cert,
      "validate_authnrequest": $validate,
      "validate_logout": $validate
    }
  ]
}
JSON

echo "run directory: $run (log: $run/log/simplesamlphp.log)" >&2
echo "metadata: ${base}saml2/idp/metadata.php" >&2
export SIMPLESAMLPHP_CONFIG_DIR="$run/config"
export PHP_CLI_SERVER_WORKERS="${WORKERS:-4}"
exec php -S "127.0.0.1:$port" "$here"/router.php
