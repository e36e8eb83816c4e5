"""A DPoP client for the tests: sends a request with a fresh proof, and retries once with the
server nonce when told ``use_dpop_nonce`` (RFC 9449 §8.1), as real clients do."""

from __future__ import annotations

from typing import Any

from idgate.jose.dpop_key import DpopKey

ISSUER = "https://localhost:8443"


class DpopClient:
    def __init__(self, http: Any, key: DpopKey | None = None, base: str = ISSUER) -> None:
        self.http, self.key, self.base = http, key or DpopKey.generate(), base
        self.nonce: str | None = None

    def post(self, path: str, *, access_token: str | None = None, **kw: Any) -> Any:
        """POST with a proof for ``base + path``; ``kw`` as for httpx (data=, json=, auth=, headers=)."""
        for _ in range(2):
            proof = self.key.proof("POST", self.base + path, nonce=self.nonce, access_token=access_token)
            headers = {**kw.pop("headers", {}), "DPoP": proof}
            reply = self.http.post(path, headers=headers, **kw)
            kw["headers"] = {k: v for k, v in headers.items() if k != "DPoP"}
            if "dpop-nonce" in reply.headers:
                self.nonce = reply.headers["dpop-nonce"]
            if not (reply.status_code in (400, 401) and _error(reply) == "use_dpop_nonce"):
                return reply
        return reply


    def call(self, method: str, path: str, access_token: str, **kw: Any) -> Any:
        """A resource request with ``Authorization: DPoP`` and a proof carrying ``ath`` (RFC 9449 §7.1)."""
        proof = self.key.proof(method, self.base + path, access_token=access_token)
        headers = {**kw.pop("headers", {}), "Authorization": f"DPoP {access_token}", "DPoP": proof}
        return self.http.request(method, path, headers=headers, **kw)


def _error(reply: Any) -> str | None:
    try:
        return reply.json().get("error")
    except ValueError:
        return None


def claims_of(token: str) -> dict[str, Any]:
    import base64
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
