"""The client id of idgate's own first-party password login (``POST /login``).

Tokens that idgate issues to itself - not to a registered client - carry this ``client_id``;
no registered client may take the id (:func:`idgate.services.clients.metadata.validate`).
"""

from __future__ import annotations

FIRST_PARTY_CLIENT_ID = "idgate-first-party"
