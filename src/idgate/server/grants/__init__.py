"""Token-endpoint grants for registered clients, one module per grant type."""
