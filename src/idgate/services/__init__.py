"""Service functions shared by the HTTP endpoints and the CLI: the rules, without HTTP."""
