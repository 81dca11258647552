#!/usr/bin/env bash
# Lays out a run directory for the test IdP (the Rust harness does the same):
#
#   tests/peers/saml/prepare.sh RUN [KEY.pem CERT.pem]
#
# RUN/config/{config.php,authsources.php}   copied from tests/peers/saml/config
# RUN/metadata/saml20-{idp-hosted,sp-remote}.php   copied from tests/peers/saml/metadata
# RUN/cert/idp.key, RUN/cert/idp.crt   the IdP signing key pair: copied from KEY/CERT
#                                      when given, else a fresh RSA-2048 self-signed one
# RUN/{log,data,tmp,sessions}          empty
#
# RUN/config/settings.json is not written: see README.md (run.sh writes one).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="${1:?usage: prepare.sh RUN [KEY.pem CERT.pem]}"

mkdir -p "$run"/{config,metadata,cert,log,data,tmp,sessions}
cp "$here"/config/config.php "$here"/config/authsources.php "$run"/config/
cp "$here"/metadata/saml20-idp-hosted.php "$here"/metadata/saml20-sp-remote.php "$run"/metadata/

if [ $# -ge 3 ]; then
  cp "$2" "$run"/cert/idp.key
  cp "$3" "$run"/cert/idp.crt
else
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj /CN=saml-idp \
    -keyout "$run"/cert/idp.key -out "$run"/cert/idp.crt 2>/dev/null
fi
# php -S runs as whoever runs this script: owner-readable is enough.
chmod 600 "$run"/cert/idp.key
chmod 644 "$run"/cert/idp.crt
