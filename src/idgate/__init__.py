"""idgate: a secure-by-default identity provider, its resource-server verifier and an auditor."""

__version__ = "0.1.0"
