"""Credentials: passwords and client secrets travel only in POST bodies and are never cached.

Every probe sends random, deliberately wrong credentials; real ones are never put in a URL.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import httpx

from idgate.audit.checks._probing import credential_endpoints, describe, processed, wrong_credentials
from idgate.audit.model import Outcome, Skip, failed, passed, warned
from idgate.audit.registry import check
from idgate.audit.target import Target


def _endpoints(target: Target) -> list[tuple[str, str]]:
    found = credential_endpoints(target)
    if not found:
        raise Skip("the discovery document names no login or token endpoint")
    return found


def _verdict(lines: list[tuple[bool, str]]) -> Outcome:
    text = "; ".join(line for _, line in lines) + "."
    if any(bad for bad, _ in lines):
        return failed(text)
    return warned(text) if "server error" in text else passed(text)


def _judged(reply: httpx.Response) -> tuple[bool, str]:
    if processed(reply):
        return True, "PROCESSED the credentials"
    if reply.status_code >= 500:
        return False, "server error (neither processed nor cleanly refused)"
    return False, "refused"


def _masked(kind: str) -> str:
    return "username=…&password=…" if kind == "login" else "grant_type=password&username=…&password=…&client_secret=…"


@check("credentials.no-get", group="credentials", title="Login and token endpoints refuse GET",
       explanation="""A GET request carries its data in the URL. URLs are written to server and proxy logs,
       browser history and the Referer header sent to other sites, so a password in a URL leaks to all of
       them. Endpoints that take credentials must accept only POST.""",
       fix="Answer GET on the login and token endpoints with 405 (Method Not Allowed) without reading any parameter.")
def no_get(target: Target) -> Outcome:
    lines = []
    for kind, url in _endpoints(target):
        reply = target.request("GET", f"{url}?{urlencode(wrong_credentials(target, kind))}")
        bad, verb = _judged(reply)
        lines.append((bad, f"GET {urlsplit(url).path}?{_masked(kind)} (wrong values) → {describe(reply)}, {verb}"))
    return _verdict(lines)


@check("credentials.query-string", group="credentials", title="Credentials in the query string are refused",
       explanation="""Even on a POST, parameters in the URL's query string (after '?') end up in logs and
       history just like a GET. A server that accepts a password there invites clients to leak it.""",
       fix="""Reject any request whose query string contains password, client_secret or token parameters
       with 400, before looking at them (RFC 6749 §3.2 and RFC 6750 §5.3).""")
def query_string(target: Target) -> Outcome:
    lines = []
    for kind, url in _endpoints(target):
        reply = target.request("POST", f"{url}?{urlencode(wrong_credentials(target, kind))}",
                               headers={"Content-Type": "application/x-www-form-urlencoded"}, content=b"")
        bad, verb = _judged(reply)
        lines.append((bad, f"POST {urlsplit(url).path}?{_masked(kind)} (wrong values, empty body) → "
                           f"{describe(reply)}, {verb}"))
    return _verdict(lines)


@check("credentials.no-store", group="credentials", title="Replies to credentials say Cache-Control: no-store",
       explanation="""Replies carrying tokens must not be kept by browsers or proxies, or the next user
       of a shared computer or cache could read them. 'Cache-Control: no-store' forbids storing the reply
       (RFC 6749 §5.1 requires it for token responses).""",
       fix="Send 'Cache-Control: no-store' (and 'Pragma: no-cache') on every reply of the login and token endpoints.")
def no_store(target: Target) -> Outcome:
    lines = []
    for kind, url in _endpoints(target):
        reply = target.request("POST", url, data=wrong_credentials(target, kind))
        value = reply.headers.get("cache-control", "")
        bad = "no-store" not in value.lower()
        shown = f"Cache-Control: {value}" if value else "no Cache-Control header"
        lines.append((bad, f"POST {urlsplit(url).path} (wrong credentials) → {describe(reply)}, {shown}"))
    try:
        target.sample_token()
    except Skip:
        pass
    if target.token_response is not None:  # the real token reply, when the auditor obtained one
        value = target.token_response.headers.get("cache-control", "")
        shown = f"Cache-Control: {value}" if value else "no Cache-Control header"
        lines.append(("no-store" not in value.lower(), f"token reply to client credentials: {shown}"))
    return _verdict(lines)
