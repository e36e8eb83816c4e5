"""Browser side: the HTML login page's cookies, content policy, framing and CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from idgate.audit.model import Outcome, Skip, failed, passed, warned
from idgate.audit.registry import check
from idgate.audit.target import Target

MAX_REDIRECTS = 3
_FLAG_NAMES = {"secure": "Secure", "httponly": "HttpOnly"}
_CSRF_NAME = re.compile(r"csrf|xsrf|authenticity|_token|^token$|^state$|nonce", re.IGNORECASE)


@dataclass
class LoginPage:
    url: str
    responses: list[httpx.Response] = field(default_factory=list)

    @property
    def final(self) -> httpx.Response:
        return self.responses[-1]


def _page(target: Target) -> LoginPage:
    def load() -> LoginPage | Skip:
        url = target.options.login_page or target.endpoint("authorization_endpoint")
        if url is None:
            target.discovery()
            return Skip("no HTML login page to check: the discovery document names no authorization_endpoint "
                        "(pass --login-page URL to check one)")
        page = LoginPage(url)
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            response = target.request("GET", url, headers={"Accept": "text/html"})
            page.responses.append(response)
            location = response.headers.get("location")
            if not (response.is_redirect and location):
                break
            url = urljoin(url, location)
            if urlsplit(url).netloc != origin:
                break
        if "text/html" not in page.final.headers.get("content-type", ""):
            return Skip(f"{page.url} did not answer with an HTML page ({page.final.status_code}, "
                        f"{page.final.headers.get('content-type', 'no content type')})")
        return page

    found = target.remember("browser.page", load)
    if isinstance(found, Skip):
        raise found
    return found  # type: ignore[no-any-return]


@check("browser.cookies", group="browser", title="Login cookies are Secure, HttpOnly and SameSite",
       explanation="""Cookies set by the login page usually identify a login in progress or a session.
       'Secure' keeps them off plain HTTP, 'HttpOnly' hides them from scripts (so an injected script
       cannot steal them), 'SameSite' stops other sites from sending them along (cross-site request
       forgery), and the '__Host-' name prefix pins them to this exact host.""",
       fix="Set cookies as '__Host-name=value; Path=/; Secure; HttpOnly; SameSite=Lax' (or Strict).")
def cookies(target: Target) -> Outcome:
    page = _page(target)
    bad, weak, good = [], [], []
    for response in page.responses:
        for header in response.headers.get_list("set-cookie"):
            name, attrs = _cookie(header)
            missing = [flag for flag in ("secure", "httponly") if flag not in attrs]
            samesite = attrs.get("samesite", "").lower()
            label = f"{name}: " if name else ""
            if missing:
                bad.append(f"{label}missing {' and '.join(_FLAG_NAMES[m] for m in missing)}")
            if samesite not in ("lax", "strict"):
                weak.append(f"{label}SameSite is {samesite or 'not set'}")
            if not name.startswith("__Host-"):
                weak.append(f"{label}no __Host- prefix")
            if not missing and samesite in ("lax", "strict"):
                good.append(f"{name} is Secure, HttpOnly, SameSite={samesite}")
    if not (bad or weak or good):
        return passed(f"{page.url} sets no cookies.")
    text = "; ".join(bad + weak + good) + "."
    if bad:
        return failed(text)
    return warned(text) if weak else passed(text)


@check("browser.csp", group="browser", title="The login page has a strict Content-Security-Policy",
       explanation="""A Content-Security-Policy (CSP) header tells the browser which scripts may run. Without
       one, or with 'unsafe-inline'/'unsafe-eval', a single injected script (cross-site scripting) can read
       the password as it is typed.""",
       fix="""Send a CSP such as "default-src 'self'; script-src 'self'; frame-ancestors 'none'" with no
       'unsafe-inline' or 'unsafe-eval'; move inline scripts into files.""")
def csp(target: Target) -> Outcome:
    page = _page(target)
    policy = page.final.headers.get("content-security-policy")
    if not policy:
        return failed(f"{page.url}: no Content-Security-Policy header.")
    directives = _directives(policy)
    scripts = directives.get("script-src", directives.get("default-src"))
    if scripts is None:
        return failed(f"{page.url}: CSP '{policy}' limits neither script-src nor default-src.")
    unsafe = [s for s in scripts if s.lower() in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:")]
    if unsafe:
        return failed(f"{page.url}: CSP allows {', '.join(unsafe)} for scripts: {policy}")
    return passed(f"{page.url}: Content-Security-Policy: {policy}")


@check("browser.framing", group="browser", title="The login page cannot be framed by other sites",
       explanation="""If another site can show the login page inside an invisible frame, it can trick users
       into clicking or typing there ('clickjacking'). Browsers refuse to frame pages that say so.""",
       fix="Send \"Content-Security-Policy: frame-ancestors 'none'\" (and 'X-Frame-Options: DENY' for old browsers).")
def framing(target: Target) -> Outcome:
    page = _page(target)
    xfo = page.final.headers.get("x-frame-options", "")
    ancestors = _directives(page.final.headers.get("content-security-policy", "")).get("frame-ancestors")
    if ancestors is not None and "*" not in ancestors:
        extra = f"; X-Frame-Options {xfo}" if xfo else ""
        return passed(f"{page.url}: CSP frame-ancestors {' '.join(ancestors)}{extra}.")
    if xfo.strip().upper() in ("DENY", "SAMEORIGIN"):
        return passed(f"{page.url}: X-Frame-Options {xfo}.")
    return failed(f"{page.url}: neither CSP frame-ancestors nor X-Frame-Options DENY/SAMEORIGIN.")


@check("browser.csrf", group="browser", title="The login form carries a CSRF token",
       explanation="""Cross-site request forgery (CSRF): another site makes the browser submit a form to the
       login page, for example to log the victim into the attacker's account. A random hidden token in
       the form, checked by the server, proves the form came from the real page.""",
       fix="Put a random, per-session hidden field (for example csrf_token) in the login form and check it on submit.")
def csrf(target: Target) -> Outcome:
    page = _page(target)
    parser = _FormParser()
    parser.feed(page.final.text)
    forms = [f for f in parser.forms if f.password]
    if not forms:
        raise Skip(f"{page.url} has no form with a password field")
    tokens = [name for f in forms for name in f.hidden if _CSRF_NAME.search(name)]
    if tokens:
        return passed(f"{page.url}: login form has hidden field(s) {', '.join(tokens)}.")
    return failed(f"{page.url}: the login form has no hidden CSRF token field.")


def _cookie(header: str) -> tuple[str, dict[str, str]]:
    first, *rest = header.split(";")
    name = first.split("=", 1)[0].strip()
    attrs = {}
    for part in rest:
        key, _, value = part.strip().partition("=")
        attrs[key.strip().lower()] = value.strip()
    return name, attrs


def _directives(policy: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            result.setdefault(words[0].lower(), words[1:])
    return result


@dataclass
class _Form:
    password: bool = False
    hidden: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form())
        elif tag == "input" and self.forms:
            kind = values.get("type", "text").lower()
            if kind == "password":
                self.forms[-1].password = True
            elif kind == "hidden" and values.get("name") and values.get("value"):
                self.forms[-1].hidden.append(values["name"])
