"""An OpenID Connect relying party written with Authlib (a client library
presenced did not write) against a presenced server: discovery, the code
flow with PKCE (S256) through the consent page, the ID token checked
against the published keys, userinfo, refresh with rotation, and
revocation. Prints one line per step; exits non-zero on the first failure.

usage: authlib_flow.py ISSUER CLIENT_ID REDIRECT_URI ADDRESS PASSWORD
"""
import html
import re
import sys
from urllib.parse import urljoin, urlparse, parse_qs

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

issuer, client_id, redirect_uri, address, password = sys.argv[1:6]


def fail(msg):
    print("FAIL", msg)
    sys.exit(1)


meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
if meta["issuer"] != issuer or meta["code_challenge_methods_supported"] != ["S256"]:
    fail("discovery: %r" % meta)
print("discovery ok")
jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())

session = OAuth2Session(client_id, redirect_uri=redirect_uri, scope="openid offline_access presence:read",
                        code_challenge_method="S256", token_endpoint_auth_method="none",
                        revocation_endpoint_auth_method="none")
verifier, nonce = generate_token(48), generate_token(16)
url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)

# the user's browser: the consent page (which loads itself once more), then Allow
browser = requests.Session()
page = browser.get(url, timeout=10)
m = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page.text)
if m:
    page = browser.get(urljoin(page.url, html.unescape(m.group(1))), timeout=10)
fields = dict(re.findall(r'<input type="hidden" name="(id|csrf)" value="([^"]*)">', page.text))
if set(fields) != {"id", "csrf"}:
    fail("consent page: %s" % page.text[:300])
answer = browser.post(urljoin(page.url, "/oauth/consent"), timeout=10, allow_redirects=False,
                      data=dict(fields, decision="allow", address=address, password=password))
location = answer.headers.get("Location", "")
while location and not location.startswith(redirect_uri):
    answer = browser.get(urljoin(answer.url, location), timeout=10, allow_redirects=False)
    location = answer.headers.get("Location", "")
if not location.startswith(redirect_uri):
    fail("no redirect back to the app: %s %s" % (answer.status_code, answer.text[:300]))
print("consent ok")

token = session.fetch_token(meta["token_endpoint"], authorization_response=location, state=state,
                            code_verifier=verifier)
claims = jwt.decode(token["id_token"], jwks, claims_options={
    "iss": {"essential": True, "value": issuer},
    "aud": {"essential": True, "value": client_id},
    "nonce": {"essential": True, "value": nonce},
})
claims.validate()
if not claims["sub"] or "@" in claims["sub"]:
    fail("ID token subject %r (pairwise, not the address)" % claims["sub"])
print("id_token ok")

info = session.get(meta["userinfo_endpoint"], timeout=10).json()
if info.get("sub") != claims["sub"]:
    fail("userinfo: %r" % info)
print("userinfo ok")

old = token["refresh_token"]
new = session.refresh_token(meta["token_endpoint"], refresh_token=old)
if new["refresh_token"] == old:
    fail("the refresh token did not rotate")
print("refresh ok")

resp = session.revoke_token(meta["revocation_endpoint"], new["access_token"], token_type_hint="access_token")
if resp.status_code != 200:
    fail("revocation: %s" % resp.status_code)
if session.get(meta["userinfo_endpoint"], timeout=10).status_code != 401:
    r = session.get(meta["userinfo_endpoint"], timeout=10)
    fail("a revoked access token still works: %s %s; revocation said %s %r" % (r.status_code, r.text[:200], resp.status_code, resp.text[:200]))
print("revoke ok")
