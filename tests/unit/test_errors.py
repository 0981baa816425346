from __future__ import annotations

from gateway.errors import (
    EnvelopeInvalid,
    InvalidIdNumber,
    RemoteProblem,
    Replayed,
    SignatureInvalid,
    error_class_for,
)


def test_problem_codes_map_back_to_their_classes() -> None:
    assert error_class_for("replayed") is Replayed
    assert error_class_for("invalid_id_number") is InvalidIdNumber
    assert issubclass(error_class_for("signature_invalid"), SignatureInvalid)
    assert issubclass(error_class_for("envelope_invalid"), EnvelopeInvalid.__mro__[1])
    assert error_class_for("something_new") is RemoteProblem
