#!/usr/bin/env python3
"""Regenerate src/idgate/passwords/common-passwords.bin from plain-text password lists.

Usage (see src/idgate/passwords/LISTS.md for where the source comes from):

    python scripts/build_password_list.py SOURCE.txt [MORE.txt ...] [-o OUTPUT]

Each source has one password per line (UTF-8; undecodable lines are skipped and counted).
Passwords are folded exactly as the policy folds them (NFKC + casefold), hashed to 48-bit
keys, deduplicated, and written in the format documented in idgate.passwords.policy. The
script downloads nothing: it only reads the files it is given.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from idgate.passwords.policy import CommonPasswordList, encode_list, list_key

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "idgate" / "passwords" / "common-passwords.bin"


def read_source(path: Path, stats: dict[str, int]) -> set[int]:
    keys: set[int] = set()
    with path.open("rb") as fh:
        for raw in fh:
            raw = raw.rstrip(b"\r\n")
            if not raw:
                continue
            try:
                pw = raw.decode("utf-8")
            except UnicodeDecodeError:
                stats["skipped_undecodable"] += 1
                continue
            stats["lines"] += 1
            keys.add(list_key(pw))
    return keys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="+", type=Path)
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    stats = {"lines": 0, "skipped_undecodable": 0}
    keys: set[int] = set()
    for src in args.sources:
        keys |= read_source(src, stats)
    data = encode_list(keys)
    args.output.write_bytes(data)

    loaded = CommonPasswordList(data)  # round-trip check
    print(
        f"{args.output}: {len(loaded)} entries from {stats['lines']} lines "
        f"({stats['skipped_undecodable']} undecodable skipped), {len(data)} bytes, "
        f"false-positive rate ~{loaded.false_positive_rate:.1e}, sha256 {hashlib.sha256(data).hexdigest()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
