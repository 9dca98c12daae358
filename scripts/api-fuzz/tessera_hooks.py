"""Hooks for schemathesis (scripts/api-fuzz.sh): each turns a request the
document cannot describe as valid into one that is, and says why."""

import json
import os
import time
import urllib.request
import uuid

import schemathesis


def fresh_token():
    """A new token of user 1, made with the session: what a self-rotation
    may use up (rotating the shared token would delete it, and every later
    request with it would be refused)."""
    request = urllib.request.Request(
        os.environ["TESSERA_URL"] + "/api/v1/users/1/api-tokens/create",
        data=json.dumps({"identifier": "api-fuzz rotation", "permissions": []}).encode(),
        headers={
            "Content-Type": "application/json",
            "Cookie": "tessera_session=" + os.environ["TESSERA_SESSION"],
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["token"]


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    # A key is a request's identity: one reused with another body is
    # refused (422) by design, and a generator reuses values freely.
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and 1 <= len(key) <= 255 and all("!" <= c <= "~" for c in key):
        headers["Idempotency-Key"] = str(uuid.uuid4())
    body = case.body
    if isinstance(body, dict):
        # "In the future" has no schema: a past time is moved an hour ahead.
        at = body.get("expiresAt")
        if isinstance(at, (int, float)) and not isinstance(at, bool) and at <= time.time() * 1000:
            body["expiresAt"] = int(time.time() * 1000) + 3_600_000
        # The OAuth client authenticates with HTTP Basic in this run
        # (schemathesis.toml); credentials in the body as well are refused
        # (400) by RFC 6749's "not both".
        if case.operation.path.startswith("/api/v1/oauth/") and case.operation.path != "/api/v1/oauth/create-code":
            body.pop("client_id", None)
            body.pop("client_secret", None)
    case.headers = headers
    if case.operation.path == "/api/v1/tokens/rotate":
        # Only the shared token is swapped: a request sent without
        # credentials, or with made-up ones, stays as generated.
        shared = "Bearer " + os.environ.get("TESSERA_TOKEN", "")
        for sent in (case.headers, kwargs.get("headers")):
            if isinstance(sent, dict) and sent.get("Authorization") == shared:
                sent["Authorization"] = "Bearer " + fresh_token()
