"""idgate: a secure-by-default identity provider, its resource-server verifier and an auditor."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("idgate")  # one source of truth: pyproject.toml, through the installed metadata
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"
