"""A small resource server protected by idgate access tokens.

    IDGATE_ISSUER=https://localhost:8443 IDGATE_AUDIENCE=https://api.example \
    IDGATE_CA=/path/to/idgate-ca.pem python examples/protected_service.py --port 9000

    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9000/things
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI

from idgate.rs import Verifier, require_scope

app = FastAPI(title="things")


def build_verifier() -> Verifier:
    return Verifier(
        issuer=os.environ.get("IDGATE_ISSUER", "https://localhost:8443"),
        audience=os.environ.get("IDGATE_AUDIENCE", "https://api.example"),
        ca=os.environ.get("IDGATE_CA") or None,
    )


app.state.idgate_verifier = build_verifier()


@app.get("/public")
def public() -> dict[str, str]:
    return {"message": "anyone can read this"}


@app.get("/things")
def things(claims: dict[str, Any] = Depends(require_scope("things:read"))) -> dict[str, Any]:
    return {"owner": claims["sub"], "client": claims["client_id"], "things": ["teapot", "kettle"]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port)
