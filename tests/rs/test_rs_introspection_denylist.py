"""Services see a revocation before `exp` by asking idgate (token introspection, issue 3; off by default).

A real `idgate serve` over HTTPS; the service's Verifier fetches the JWKS from it and its
IntrospectionDenyList calls `/introspect` as a registered client.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rs_support import make_tls_files

from idgate.errors import ConfigError
from idgate.rs import IntrospectionDenyList, InvalidToken, Verifier
from idgate.rs.introspection import UNAVAILABLE
from idgate.services.clients.metadata import ClientSpec
from idgate.services.clients.registry import add_client

from support import LiveServer, free_port, init_deployment_fast, login, provider_with_alice, start_server, stop_server

METRICS_TOKEN = "m" * 40
INTROSPECT_200 = re.compile(r'^idgate_http_requests_total\{[^}]*route="/introspect"[^}]*status="200"[^}]*\} (\S+)$',
                            re.MULTILINE)


class Idgate:
    def __init__(self, server: LiveServer, secret: str) -> None:
        self.server, self.url, self.secret, self.ca = server, server.url, secret, str(server.deployment.ca)

    def deny_list(self, **options: object) -> IntrospectionDenyList:
        options = {"client_id": "rs", "client_secret": self.secret, "ca": self.ca, **options}
        return IntrospectionDenyList(self.url, **options)  # type: ignore[arg-type]

    def verifier(self, deny: IntrospectionDenyList) -> Verifier:
        return Verifier(issuer=self.url, audience=self.url, ca=self.ca, deny_list=deny)

    def access_token(self) -> str:
        with self.server.client() as c:
            return str(login(c).json()["access_token"])

    def revoke(self, token: str) -> None:
        with self.server.client() as c:
            assert c.post("/revoke", data={"token": token, "token_type_hint": "access_token"}).status_code == 200

    def introspections(self) -> int:
        with self.server.client() as c:
            text = c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
        return sum(int(float(n)) for n in INTROSPECT_200.findall(text))


@pytest.fixture(scope="module")
def idgate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idgate]:
    deployment = init_deployment_fast(tmp_path_factory.mktemp("introspection") / "data")
    with provider_with_alice(deployment) as provider:
        _, secret = add_client(provider.sessions, ClientSpec(client_id="rs", grant_types=["client_credentials"],
                                                             redirect_uris=[], scopes=[], introspect=True))
    assert secret
    handle = Idgate(start_server(deployment, env={"IDGATE_METRICS_TOKEN": METRICS_TOKEN}), secret)
    try:
        yield handle
    finally:
        stop_server(handle.server)  # the one running now: a test restarts it


def reason(verifier: Verifier, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token)
    return info.value.reason


def test_a_revoked_token_is_refused_once_the_cache_window_passes(idgate: Idgate) -> None:
    token = idgate.access_token()
    with idgate.deny_list(cache_seconds=0.5) as deny:
        service = idgate.verifier(deny)
        assert service.verify(token)["preferred_username"] == "alice"
        idgate.revoke(token)
        assert service.verify(token)["preferred_username"] == "alice"  # still trusted from the cache
        time.sleep(0.6)
        assert reason(service, token) == "revoked"
        other = idgate.access_token()  # revoking one token leaves the others alone
        assert service.verify(other)["preferred_username"] == "alice"


def test_answers_are_cached_per_jti_for_cache_seconds(idgate: Idgate) -> None:
    first, second = idgate.access_token(), idgate.access_token()
    with idgate.deny_list(cache_seconds=5) as deny:
        service = idgate.verifier(deny)
        before = idgate.introspections()
        for _ in range(5):
            service.verify(first)
        assert idgate.introspections() - before == 1
        service.verify(second)  # another jti: its own call
        assert idgate.introspections() - before == 2
    with idgate.deny_list(cache_seconds=0) as deny:  # no cache: every verification asks
        service = idgate.verifier(deny)
        before = idgate.introspections()
        for _ in range(3):
            service.verify(first)
        assert idgate.introspections() - before == 3


def test_the_cache_is_bounded(idgate: Idgate) -> None:
    tokens = [idgate.access_token() for _ in range(3)]
    with idgate.deny_list(cache_seconds=60, max_cached=2) as deny:
        service = idgate.verifier(deny)
        for t in tokens:
            service.verify(t)
        assert len(deny._cache) == 2 and all(isinstance(v, tuple) and len(v) == 2 for v in deny._cache.values())
        before = idgate.introspections()
        service.verify(tokens[0])  # evicted: asked again
        assert idgate.introspections() - before == 1


def test_an_explicit_endpoint_needs_no_discovery(idgate: Idgate) -> None:
    token = idgate.access_token()
    with idgate.deny_list(introspection_endpoint=idgate.url + "/introspect") as deny:
        assert deny("any-jti", token) is False
        idgate.revoke(token)
        assert deny("another-jti", token) is True


def test_wrong_credentials_fail_closed(idgate: Idgate) -> None:
    token = idgate.access_token()
    with idgate.deny_list(client_secret="igs_wrong") as deny:
        assert reason(idgate.verifier(deny), token) == UNAVAILABLE
    with idgate.deny_list(client_id="nobody") as deny:
        assert reason(idgate.verifier(deny), token) == UNAVAILABLE


def test_an_untrusted_certificate_fails_closed(idgate: Idgate, tmp_path: Path) -> None:
    other_ca, _, _ = make_tls_files(tmp_path)
    token = idgate.access_token()
    with idgate.deny_list(ca=str(other_ca)) as deny:
        # The verifier itself trusts idgate (its JWKS loads); only the revocation check fails.
        assert reason(idgate.verifier(deny), token) == UNAVAILABLE
    with idgate.deny_list(ca=None) as deny:  # the system store does not know the test CA
        assert reason(idgate.verifier(deny), token) == UNAVAILABLE


def test_non_answers_fail_closed(idgate: Idgate) -> None:
    token = idgate.access_token()
    for endpoint in ("/jwks", "/.well-known/openid-configuration", "/no-such-endpoint"):
        # 405 / a JSON object without "active" / 404: none is an answer
        with idgate.deny_list(introspection_endpoint=idgate.url + endpoint) as deny:
            assert reason(idgate.verifier(deny), token) == UNAVAILABLE


def test_an_unreachable_idgate_fails_closed_quickly(idgate: Idgate) -> None:
    token = idgate.access_token()
    with idgate.deny_list(introspection_endpoint=f"https://localhost:{free_port()}/introspect", timeout=1) as deny:
        started = time.monotonic()
        assert reason(idgate.verifier(deny), token) == UNAVAILABLE
        assert time.monotonic() - started < 3
    with IntrospectionDenyList(f"https://localhost:{free_port()}", client_id="rs", client_secret=idgate.secret,
                               ca=idgate.ca) as deny:  # discovery cannot happen either
        with pytest.raises(InvalidToken) as info:
            deny("jti", token)
        assert info.value.reason == UNAVAILABLE


def test_a_stopped_idgate_fails_closed_and_a_restarted_one_is_asked_again(idgate: Idgate) -> None:
    token = idgate.access_token()
    with idgate.deny_list(cache_seconds=0.2, timeout=2) as deny:
        service = idgate.verifier(deny)
        assert service.verify(token)
        # Killed, not terminated: a SIGTERM'd idgate waits its whole 10 s graceful shutdown while
        # this deny-list holds an idle keep-alive TLS connection to it.
        idgate.server.process.kill()
        idgate.server.process.wait()
        try:
            time.sleep(0.3)
            assert reason(service, token) == UNAVAILABLE  # the JWKS is cached; the deny-list cannot ask
        finally:
            port = int(idgate.url.rsplit(":", 1)[1])
            idgate.server = start_server(idgate.server.deployment, port=port,
                                         env={"IDGATE_METRICS_TOKEN": METRICS_TOKEN})
        assert service.verify(token)


def test_construction_refuses_plain_http_and_unbounded_settings() -> None:
    good = {"client_id": "rs", "client_secret": "s"}
    for url in ("http://idp.example", "http://127.0.0.1:8443", "ftp://idp.example", "https://"):
        with pytest.raises(ConfigError):
            IntrospectionDenyList(url, **good)  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            IntrospectionDenyList(introspection_endpoint=url + "/introspect", **good)  # type: ignore[arg-type]
    for bad in ({"timeout": 0}, {"timeout": 3600}, {"cache_seconds": -1}, {"cache_seconds": 86400},
                {"max_cached": 0}, {"client_secret": ""}, {"ca": "/nonexistent/ca.pem"}):
        with pytest.raises(ConfigError):
            IntrospectionDenyList("https://idp.example", **{**good, **bad})  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        IntrospectionDenyList(**good)  # type: ignore[arg-type]


def test_plain_deny_lists_are_still_called_with_the_jti_alone(idgate: Idgate) -> None:
    seen: list[tuple[str, ...]] = []

    def deny(*args: str) -> bool:
        seen.append(args)
        return False

    token = idgate.access_token()
    jti = Verifier(issuer=idgate.url, audience=idgate.url, ca=idgate.ca, deny_list=deny).verify(token)["jti"]
    assert seen == [(jti,)]
