#!/usr/bin/env python3
"""Hand tools for the test IdP (Python 3 standard library + openssl/xmlsec1).

  samltool.py authn-request  --sso URL --sp ENTITY --acs URL [--id ID] [--relay-state S]
                             [--name-id-format F] [--force-authn] [--sign-key KEY.pem]
      Prints the HTTP-Redirect URL of a minimal AuthnRequest (DEFLATE + base64
      + URL-encode). With --sign-key the query string is signed (rsa-sha256).

  samltool.py logout-request --slo URL --sp ENTITY --name-id V [--session-index S]
                             [--id ID] [--relay-state S] [--sign-key KEY.pem]
      Prints the HTTP-Redirect URL of a LogoutRequest from the SP.

  samltool.py logout-response --slo URL --sp ENTITY --in-response-to ID
                              [--relay-state S] [--sign-key KEY.pem]
      Prints the HTTP-Redirect URL of a Success LogoutResponse from the SP
      (the answer to an IdP-initiated LogoutRequest).

  samltool.py form HTML [--out FILE]
      Reads an auto-submitting SAML form (HTTP-POST binding): prints its action,
      RelayState and the decoded SAML message (or writes it to FILE).

  samltool.py redirect URL [--cert CERT.pem]
      Decodes SAMLRequest/SAMLResponse of an HTTP-Redirect URL (inflate); with
      --cert verifies the query-string signature.

  samltool.py check RESPONSE.xml --cert IDP.crt [--request-id ID] [--acs URL]
                    [--sp ENTITY] [--sign response|assertion|both]
      Checks a decoded Response: signatures (xmlsec1), InResponseTo,
      Destination/Recipient, Audience, NameID, attributes, conditions.
"""
import argparse
import base64
import datetime
import html
import re
import subprocess
import sys
import tempfile
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import zlib

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def deflate(xml):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(c.compress(xml.encode()) + c.flush()).decode()


def inflate(b64):
    return zlib.decompress(base64.b64decode(b64), -15).decode()


def redirect_url(endpoint, param, xml, relay_state, sign_key):
    # Signature over the exact URL-encoded query string, in this order.
    parts = [(param, deflate(xml))]
    if relay_state is not None:
        parts.append(("RelayState", relay_state))
    if sign_key:
        parts.append(("SigAlg", RSA_SHA256))
    query = urllib.parse.urlencode(parts)
    if sign_key:
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", sign_key],
            input=query.encode(), capture_output=True, check=True,
        ).stdout
        query += "&" + urllib.parse.urlencode({"Signature": base64.b64encode(sig).decode()})
    sep = "&" if "?" in endpoint else "?"
    return endpoint + sep + query


def cmd_authn_request(a):
    rid = a.id or "_" + uuid.uuid4().hex
    policy = ""
    force = ' ForceAuthn="true"' if a.force_authn else ""
    if a.name_id_format:
        policy = f'<samlp:NameIDPolicy Format="{a.name_id_format}" AllowCreate="true"/>'
    xml = (
        f'<samlp:AuthnRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
        f'ID="{rid}" Version="2.0" IssueInstant="{now()}" Destination="{a.sso}" '
        f'AssertionConsumerServiceURL="{a.acs}" '
        f'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"{force}>'
        f"<saml:Issuer>{a.sp}</saml:Issuer>{policy}</samlp:AuthnRequest>"
    )
    print(redirect_url(a.sso, "SAMLRequest", xml, a.relay_state, a.sign_key))


def cmd_logout_request(a):
    rid = a.id or "_" + uuid.uuid4().hex
    sidx = f"<samlp:SessionIndex>{a.session_index}</samlp:SessionIndex>" if a.session_index else ""
    xml = (
        f'<samlp:LogoutRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
        f'ID="{rid}" Version="2.0" IssueInstant="{now()}" Destination="{a.slo}">'
        f"<saml:Issuer>{a.sp}</saml:Issuer>"
        f'<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{a.name_id}</saml:NameID>'
        f"{sidx}</samlp:LogoutRequest>"
    )
    print(redirect_url(a.slo, "SAMLRequest", xml, a.relay_state, a.sign_key))


def cmd_logout_response(a):
    rid = a.id or "_" + uuid.uuid4().hex
    xml = (
        f'<samlp:LogoutResponse xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
        f'ID="{rid}" Version="2.0" IssueInstant="{now()}" Destination="{a.slo}" '
        f'InResponseTo="{a.in_response_to}">'
        f"<saml:Issuer>{a.sp}</saml:Issuer>"
        f'<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        f"</samlp:LogoutResponse>"
    )
    print(redirect_url(a.slo, "SAMLResponse", xml, a.relay_state, a.sign_key))


def form_fields(text):
    action = re.search(r'<form[^>]*action="([^"]*)"', text)
    fields = dict(
        (m.group(1), html.unescape(m.group(2)))
        for m in re.finditer(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', text)
    )
    return (html.unescape(action.group(1)) if action else None), fields


def cmd_form(a):
    action, fields = form_fields(open(a.html).read())
    if not fields.get("SAMLResponse") and not fields.get("SAMLRequest"):
        sys.exit(f"no SAMLResponse/SAMLRequest in {a.html}")
    name = "SAMLResponse" if "SAMLResponse" in fields else "SAMLRequest"
    xml = base64.b64decode(fields[name]).decode()
    print(f"action: {action}", file=sys.stderr)
    print(f"RelayState: {fields.get('RelayState')}", file=sys.stderr)
    print(f"{name}: {len(xml)} bytes", file=sys.stderr)
    if a.out:
        open(a.out, "w").write(xml)
    else:
        print(xml)


def cmd_redirect(a):
    u = urllib.parse.urlsplit(a.url)
    raw = u.query
    q = urllib.parse.parse_qs(raw)
    name = "SAMLRequest" if "SAMLRequest" in q else "SAMLResponse"
    print(f"endpoint: {u.scheme}://{u.netloc}{u.path}", file=sys.stderr)
    print(f"RelayState: {q.get('RelayState', [None])[0]}", file=sys.stderr)
    print(f"SigAlg: {q.get('SigAlg', [None])[0]}", file=sys.stderr)
    print(inflate(q[name][0]))
    if a.cert:
        if "Signature" not in q:
            sys.exit("no Signature in the query string")
        # Signed octets: the parameters as they appear in the URL, in this order.
        raw_parts = dict(p.split("=", 1) for p in raw.split("&"))
        signed = "&".join(f"{k}={raw_parts[k]}" for k in (name, "RelayState", "SigAlg") if k in raw_parts)
        digest = "-sha1" if q["SigAlg"][0].endswith("rsa-sha1") else "-sha256"
        with tempfile.NamedTemporaryFile() as sig, tempfile.NamedTemporaryFile() as pub:
            sig.write(base64.b64decode(q["Signature"][0]))
            sig.flush()
            pub.write(subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", a.cert],
                                     capture_output=True, check=True).stdout)
            pub.flush()
            r = subprocess.run(["openssl", "dgst", digest, "-verify", pub.name, "-signature", sig.name],
                               input=signed.encode(), capture_output=True)
            print("query-string signature: " + r.stdout.decode().strip(), file=sys.stderr)
            if r.returncode != 0:
                sys.exit(1)


def xmlsec_verify(path, cert, id_attr):
    r = subprocess.run(
        ["xmlsec1", "--verify", "--pubkey-cert-pem", cert, "--enabled-key-data", "rsa",
         "--id-attr:ID", id_attr, path],
        capture_output=True, text=True,
    )
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def cmd_check(a):
    ok = True

    def check(cond, what):
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + what)
        ok = ok and bool(cond)

    root = ET.parse(a.response).getroot()
    assertion = root.find("saml:Assertion", NS)
    check(root.tag == f"{{{NS['samlp']}}}Response", "root is samlp:Response")
    check(root.find("samlp:Status/samlp:StatusCode", NS).get("Value")
          == "urn:oasis:names:tc:SAML:2.0:status:Success", "status Success")
    check(assertion is not None, "one plain (unencrypted) Assertion")
    resp_sig = root.find("ds:Signature", NS)
    assn_sig = assertion.find("ds:Signature", NS) if assertion is not None else None
    expect = a.sign or "response"
    check((resp_sig is not None) == (expect in ("response", "both")),
          f"Response signed: {resp_sig is not None}")
    check((assn_sig is not None) == (expect in ("assertion", "both")),
          f"Assertion signed: {assn_sig is not None}")
    for sig, kind in ((resp_sig, "Response"), (assn_sig, "Assertion")):
        if sig is None:
            continue
        alg = sig.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm")
        dig = sig.find("ds:SignedInfo/ds:Reference/ds:DigestMethod", NS).get("Algorithm")
        print(f"     {kind} SignatureMethod {alg}, DigestMethod {dig}")
    # xmlsec1 verifies the first signature it meets; verify each element on its own.
    if resp_sig is not None:
        good, out = xmlsec_verify(a.response, a.cert, "urn:oasis:names:tc:SAML:2.0:protocol:Response")
        check(good, "xmlsec1 verifies the Response signature" + ("" if good else ": " + out))
    if assn_sig is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
            # The Assertion alone, with the namespaces it needs declared on it.
            ET.register_namespace("saml", NS["saml"])
            ET.register_namespace("ds", NS["ds"])
            ET.register_namespace("xs", "http://www.w3.org/2001/XMLSchema")
            ET.register_namespace("xsi", "http://www.w3.org/2001/XMLSchema-instance")
            text = open(a.response).read()
            m = re.search(r"<saml:Assertion\b.*</saml:Assertion>", text, re.S)
            frag = m.group(0)
            decls = " ".join(f'xmlns:{p}="{u}"' for p, u in re.findall(r'xmlns:(\w+)="([^"]+)"', text[: text.find(">") + 1])
                             if f"xmlns:{p}=" not in frag[: frag.find(">")])
            frag = frag.replace("<saml:Assertion", f"<saml:Assertion {decls}", 1)
            f.write(frag)
            f.flush()
            good, out = xmlsec_verify(f.name, a.cert, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
            check(good, "xmlsec1 verifies the Assertion signature" + ("" if good else ": " + out))
    if a.request_id:
        check(root.get("InResponseTo") == a.request_id, f"Response InResponseTo = {root.get('InResponseTo')}")
    if a.acs:
        check(root.get("Destination") == a.acs, f"Destination = {root.get('Destination')}")
    if assertion is None:
        sys.exit(1)
    scd = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    sc = assertion.find("saml:Subject/saml:SubjectConfirmation", NS)
    check(sc.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer", "SubjectConfirmation bearer")
    if a.acs:
        check(scd.get("Recipient") == a.acs, f"Recipient = {scd.get('Recipient')}")
    if a.request_id:
        check(scd.get("InResponseTo") == a.request_id, f"SubjectConfirmationData InResponseTo = {scd.get('InResponseTo')}")
    check(scd.get("NotOnOrAfter"), f"SubjectConfirmationData NotOnOrAfter = {scd.get('NotOnOrAfter')}")
    nameid = assertion.find("saml:Subject/saml:NameID", NS)
    check(nameid is not None and nameid.get("Format") == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
          f"NameID persistent: {nameid.text if nameid is not None else None}")
    cond = assertion.find("saml:Conditions", NS)
    check(cond.get("NotBefore") and cond.get("NotOnOrAfter"),
          f"Conditions NotBefore {cond.get('NotBefore')} NotOnOrAfter {cond.get('NotOnOrAfter')}")
    aud = [e.text for e in cond.findall("saml:AudienceRestriction/saml:Audience", NS)]
    if a.sp:
        check(aud == [a.sp], f"Audience = {aud}")
    authn = assertion.find("saml:AuthnStatement", NS)
    check(authn is not None and authn.get("SessionIndex"), f"SessionIndex = {authn.get('SessionIndex') if authn is not None else None}")
    attrs = {
        e.get("Name"): [v.text for v in e.findall("saml:AttributeValue", NS)]
        for e in assertion.findall("saml:AttributeStatement/saml:Attribute", NS)
    }
    print(f"     attributes: {attrs}")
    check("groups" in attrs and len(attrs["groups"]) >= 1, "groups attribute present")
    check("persistent_id" not in attrs, "persistent_id not sent as an attribute")
    sys.exit(0 if ok else 1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("authn-request")
    s.add_argument("--sso", required=True)
    s.add_argument("--sp", required=True)
    s.add_argument("--acs", required=True)
    s.add_argument("--id")
    s.add_argument("--relay-state")
    s.add_argument("--name-id-format")
    s.add_argument("--force-authn", action="store_true")
    s.add_argument("--sign-key")
    s.set_defaults(func=cmd_authn_request)
    s = sub.add_parser("logout-request")
    s.add_argument("--slo", required=True)
    s.add_argument("--sp", required=True)
    s.add_argument("--name-id", required=True)
    s.add_argument("--session-index")
    s.add_argument("--id")
    s.add_argument("--relay-state")
    s.add_argument("--sign-key")
    s.set_defaults(func=cmd_logout_request)
    s = sub.add_parser("logout-response")
    s.add_argument("--slo", required=True)
    s.add_argument("--sp", required=True)
    s.add_argument("--in-response-to", required=True)
    s.add_argument("--id")
    s.add_argument("--relay-state")
    s.add_argument("--sign-key")
    s.set_defaults(func=cmd_logout_response)
    s = sub.add_parser("form")
    s.add_argument("html")
    s.add_argument("--out")
    s.set_defaults(func=cmd_form)
    s = sub.add_parser("redirect")
    s.add_argument("url")
    s.add_argument("--cert")
    s.set_defaults(func=cmd_redirect)
    s = sub.add_parser("check")
    s.add_argument("response")
    s.add_argument("--cert", required=True)
    s.add_argument("--request-id")
    s.add_argument("--acs")
    s.add_argument("--sp")
    s.add_argument("--sign", choices=["response", "assertion", "both"])
    s.set_defaults(func=cmd_check)
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
