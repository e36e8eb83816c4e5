"""idgate's settings: :mod:`idgate.config.schema` (the fields, their defaults and checks) and
:mod:`idgate.config.loading` (defaults, then ``DATA/config.toml``, then ``IDGATE_*`` environment
variables, then command-line flags, each later source wins)."""
