"""Canary routing: which model answers a request, decided by a stable hash of a routing key.

The key is the client's ``X-Client-Key`` header when it sends one (so that one client always sees
one model), else its ``X-Request-ID`` (so that a retried request meets the same model), else a
random one. The hash (BLAKE2b) is the same in every process, worker and restart, unlike Python's
``hash()``, so a key keeps its model as long as the share does not change; raising the share only
moves keys from the champion to the challenger, never back.
"""

from __future__ import annotations

import hashlib
import uuid

from starlette.datastructures import Headers

from .middleware import ACCEPTED_REQUEST_ID, REQUEST_ID_HEADER

# The client's own routing header (a name only: detect-secrets reads "client key" as a secret).
ROUTING_HEADER = "x-client-key"
HASH_BYTES = 8
HASH_RANGE = float(2 ** (8 * HASH_BYTES))


def routing_key(headers: Headers) -> str:
    """The client key, else the request id, else a random key (see the module doc)."""
    for name in (ROUTING_HEADER, REQUEST_ID_HEADER):
        value = headers.get(name)
        if value and ACCEPTED_REQUEST_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


def key_position(key: str) -> float:
    """Where a key falls in [0, 1): uniform over keys, the same for a key everywhere."""
    digest = hashlib.blake2b(key.encode(), digest_size=HASH_BYTES).digest()
    return int.from_bytes(digest, "big") / HASH_RANGE


def goes_to_challenger(key: str, share: float) -> bool:
    """Whether the challenger answers this key when it takes ``share`` of the keys."""
    return key_position(key) < share
