from __future__ import annotations

import os

import pytest

from gateway.errors import AtRestDecryptionFailed
from gateway.store.at_rest import open_at_rest, seal_at_rest


def test_round_trip_and_binding_to_row() -> None:
    key = os.urandom(32)
    sealed = seal_at_rest(key, b'{"report": 1}', b"row-1")
    assert b"report" not in sealed
    assert open_at_rest(key, sealed, b"row-1") == b'{"report": 1}'
    with pytest.raises(AtRestDecryptionFailed):
        open_at_rest(key, sealed, b"row-2")
    with pytest.raises(AtRestDecryptionFailed):
        open_at_rest(os.urandom(32), sealed, b"row-1")
