"""Canary routing: the share of keys a challenger gets, and one model per key."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from {{ cookiecutter.package_name }}.serving.routing import (
    goes_to_challenger,
    key_position,
    routing_key,
)

KEYS = [f"client-{number}" for number in range(1_000)]


@pytest.mark.parametrize("share", [0.05, 0.1, 0.25, 0.5, 0.9])
def test_the_challenger_gets_its_share_of_1000_keys_within_5_points(share: float):
    routed = sum(goes_to_challenger(key, share) for key in KEYS) / len(KEYS)
    assert abs(routed - share) <= 0.05


def test_a_key_always_gets_the_same_model_and_a_larger_share_only_adds_keys():
    first = [goes_to_challenger(key, 0.3) for key in KEYS]
    assert first == [goes_to_challenger(key, 0.3) for key in KEYS]
    larger = [goes_to_challenger(key, 0.6) for key in KEYS]
    assert all(later for earlier, later in zip(first, larger, strict=True) if earlier)
    assert not any(goes_to_challenger(key, 0.0) for key in KEYS)
    assert all(goes_to_challenger(key, 1.0) for key in KEYS)


def test_positions_are_the_same_in_every_process():
    # BLAKE2b, not Python's salted hash(): a key keeps its place in every worker and restart.
    assert key_position("client-1") == pytest.approx(0.9372626247)
    assert key_position("tenant-7") == pytest.approx(0.0883738336)


def test_the_client_key_wins_over_the_request_id_and_bad_keys_are_ignored():
    both = Headers({"x-client-key": "tenant-7", "x-request-id": "request-1"})
    assert routing_key(both) == "tenant-7"
    assert routing_key(Headers({"x-request-id": "request-1"})) == "request-1"
    spaced = Headers({"x-client-key": "not a key", "x-request-id": "request-1"})
    assert routing_key(spaced) == "request-1"
    random_keys = {routing_key(Headers({})) for _ in range(3)}
    assert len(random_keys) == 3  # no key: a random one each time
