"""One module per endpoint; each parses, calls one service function, renders."""
