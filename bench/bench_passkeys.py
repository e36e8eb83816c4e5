"""Time to verify one passkey registration and one passkey sign-in (issue 13), against one
argon2id password check with idgate's parameters, in the same run on the same core.

Each timed step is what idgate's server does with the browser's response, on SQLite: find and
consume the challenge, verify the response with py_webauthn, and store the new credential or
update the used one (counter, last use). The responses are made ahead by the software
authenticator of the tests (tests/passkey_authenticator.py: ES256, "none" attestation), so only
idgate's side is timed.

    .venv/bin/python bench/bench_passkeys.py [--rounds 5] [--iterations 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "src")]

from sqlalchemy import delete  # noqa: E402

from idgate.config.loading import load_settings  # noqa: E402
from idgate.passkeys import service as passkeys  # noqa: E402
from idgate.passwords.hashing import hash_password, verify_password  # noqa: E402
from idgate.provider import Provider  # noqa: E402
from idgate.services import accounts  # noqa: E402
from idgate.store.db import transaction  # noqa: E402
from idgate.store.models_passkeys import Passkey  # noqa: E402
from passkey_authenticator import SoftAuthenticator  # noqa: E402
from support import GOOD_PASSWORD, init_deployment_fast  # noqa: E402

SIGN_IN = "i" * 64


def _session(i: int) -> str:
    return f"{i:064d}"  # one browser session per ceremony (each holds at most 8 challenges)


def _timed(steps: list, run) -> float:  # type: ignore[no-untyped-def,type-arg]
    start = time.perf_counter()
    for step in steps:
        run(*step)
    return (time.perf_counter() - start) / len(steps) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"register": [], "sign-in": [], "argon2id": []}
    with tempfile.TemporaryDirectory() as tmp:
        provider = Provider(load_settings(init_deployment_fast(Path(tmp) / "data").data))
        user = accounts.add_user(provider.sessions, "alice", GOOD_PASSWORD)
        authenticator = SoftAuthenticator(provider.settings.issuer.rstrip("/"))
        stored = hash_password(GOOD_PASSWORD)
        for _ in range(args.rounds):
            with transaction(provider.sessions) as session:
                session.execute(delete(Passkey))
            made = [(_session(i), authenticator.create(passkeys.registration_options(provider, user.id, _session(i))))
                    for i in range(args.iterations)]
            results["register"].append(_timed(made, lambda s, r: passkeys.register(provider, user.id, s, r)))
            key = authenticator.keys[-1]
            asked = [(_session(i), authenticator.get(passkeys.authentication_options(provider, _session(i), SIGN_IN),
                                                     key=key)) for i in range(args.iterations)]
            results["sign-in"].append(_timed(asked, lambda s, r: passkeys.authenticate(provider, s, SIGN_IN, r)))
            results["argon2id"].append(_timed([()] * 20, lambda: verify_password(stored, GOOD_PASSWORD)))
        provider.close()
    names = {"register": "passkey registration (verify attestation, store)",
             "sign-in": "passkey sign-in (verify assertion, update counter)",
             "argon2id": "one argon2id password check (idgate's parameters)"}
    print(f"{args.rounds} rounds of {args.iterations} ceremonies, SQLite, one thread\n")
    print("| server-side step | best ms | median ms | worst ms |")
    print("|---|---:|---:|---:|")
    for key, values in results.items():
        print(f"| {names[key]} | {min(values):.2f} | {statistics.median(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
