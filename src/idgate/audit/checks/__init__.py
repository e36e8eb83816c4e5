"""Importing this package registers every check, one module per link of the chain."""

from idgate.audit.checks import active, browser, credentials, keys, local, tokens, transport  # noqa: F401
