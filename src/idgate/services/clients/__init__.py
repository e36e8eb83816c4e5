"""Registered OAuth clients (RFC 6749 §2), one module per responsibility:

* :mod:`.first_party` - the client id of idgate's own password login, reserved;
* :mod:`.view` - :class:`~.view.ClientView`, what the rest of idgate sees of a client;
* :mod:`.credentials` - client secrets: how they are made, stored and compared;
* :mod:`.redirect_uris` - which redirect URIs may be registered and how a request's matches;
* :mod:`.metadata` - the rules for registering a client (grant types, auth methods, ...);
* :mod:`.registry` - registering, reading, removing clients and rotating their secrets;
* :mod:`.cache` - the token endpoint's cached view of the registry.
"""
