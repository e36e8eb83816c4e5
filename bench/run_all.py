"""`make bench`: every long measurement, one after another, printed as markdown tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    ("Verifier: idgate.rs against PyJWT, joserfc and the raw signature check", "bench_verifier.py"),
    ("/login under a login storm, JWKS latency during it, idle memory", "bench_login.py"),
    ("Refresh grant on SQLite and PostgreSQL", "bench_refresh.py"),
    ("Credential stuffing against the real server", "bench_credential_stuffing.py"),
    ("Token endpoint (client_credentials, ES256 JWT) against node-oidc-provider, --workers 1 and 2",
     "bench_vs_oidc_provider.py"),
    ("Token endpoint with and without DPoP (RFC 9449)", "bench_dpop_token.py"),
    ("Passkey registration and sign-in, against one argon2id check", "bench_passkeys.py"),
]


def main() -> int:
    failed = 0
    for title, script in BENCHES:
        path = HERE / script
        print(f"\n## {title}\n\n`{sys.executable.split('/')[-1]} bench/{script}`\n", flush=True)
        if not path.exists():
            print("(not present in this checkout)")
            continue
        failed |= subprocess.call([sys.executable, str(path)])
    return failed


if __name__ == "__main__":
    sys.exit(main())
