"""A small resource server protected by idgate access tokens, bearer or DPoP-bound.

    IDGATE_ISSUER=https://localhost:8443 IDGATE_AUDIENCE=https://api.example \
    IDGATE_CA=/path/to/idgate-ca.pem IDGATE_PUBLIC_URL=http://127.0.0.1:9000 \
    python examples/protected_service.py --port 9000

    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9000/things
    # a DPoP-bound token (idgate login --dpop) needs a proof for this very request:
    curl -H "Authorization: DPoP $TOKEN" \
         -H "DPoP: $(idgate dpop proof GET http://127.0.0.1:9000/things --token "$TOKEN")" \
         http://127.0.0.1:9000/things

Without IDGATE_PUBLIC_URL (the URL clients call, which DPoP proofs name) the service takes
bearer tokens only and refuses DPoP-bound ones.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI

from idgate.rs import ProofChecker, Verifier, require_scope

app = FastAPI(title="things")


def build_verifier() -> Verifier:
    public_url = os.environ.get("IDGATE_PUBLIC_URL") or None
    return Verifier(
        issuer=os.environ.get("IDGATE_ISSUER", "https://localhost:8443"),
        audience=os.environ.get("IDGATE_AUDIENCE", "https://api.example"),
        ca=os.environ.get("IDGATE_CA") or None,
        # One process: proof ids in memory. Several: ProofChecker(replay=RedisReplayCache(url)).
        dpop=ProofChecker() if public_url else None,
        public_url=public_url,
    )


app.state.idgate_verifier = build_verifier()


@app.get("/public")
def public() -> dict[str, str]:
    return {"message": "anyone can read this"}


@app.get("/things")
def things(claims: dict[str, Any] = Depends(require_scope("things:read"))) -> dict[str, Any]:
    return {"owner": claims["sub"], "client": claims["client_id"], "things": ["teapot", "kettle"],
            "bound_to": (claims.get("cnf") or {}).get("jkt")}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port)
