from __future__ import annotations

import importlib
import pkgutil

import gateway
from gateway.errors import (
    EnvelopeError,
    EnvelopeInvalid,
    HeduiError,
    InvalidInput,
    InvalidToken,
    RemoteProblem,
    Replayed,
    SignatureInvalid,
    TokenRequestError,
    UnknownMember,
    declaring_classes,
    error_class_for,
    token_error_class_for,
)


def whole_tree() -> list[type[HeduiError]]:
    for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if ".migrations" not in module.name:  # Alembic scripts run only under Alembic
            importlib.import_module(module.name)  # error classes defined anywhere are found
    found, pending = [], [HeduiError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_problem_codes_map_back_to_their_classes() -> None:
    assert error_class_for("replayed") is Replayed
    assert error_class_for("envelope_invalid") is EnvelopeInvalid
    assert error_class_for("signature_invalid") is SignatureInvalid
    assert error_class_for("invalid_token") is InvalidToken
    assert error_class_for("invalid_request") is InvalidInput  # RFC 9457 problems
    assert token_error_class_for("invalid_request") is TokenRequestError  # RFC 6749 §5.2 errors
    assert error_class_for("something_new") is RemoteProblem
    assert token_error_class_for("invalid_grant") is RemoteProblem


def test_each_code_is_declared_by_exactly_one_class() -> None:
    tree = whole_tree()
    for namespace in (True, False):  # RFC 6749 token errors, RFC 9457 problem codes
        declared = [cls for cls in declaring_classes() if issubclass(cls, TokenRequestError) is namespace]
        codes = [cls.code for cls in declared]
        shared = sorted({code for code in codes if codes.count(code) > 1})
        assert not shared, f"codes declared by more than one class: {shared}"
    assert len(declaring_classes()) == len({(c.code, issubclass(c, TokenRequestError)) for c in tree})


def test_every_class_arrives_on_a_client_as_itself_or_the_class_that_declares_its_code() -> None:
    for cls in whole_tree():
        mapped = (token_error_class_for if issubclass(cls, TokenRequestError) else error_class_for)(cls.code)
        declaring = next(base for base in cls.__mro__ if "code" in vars(base))
        assert mapped is declaring, cls
        assert issubclass(cls, mapped)  # catching the client's class catches what the hub raised
    assert error_class_for(UnknownMember.code) is SignatureInvalid  # membership is not revealed
    assert EnvelopeError.code not in {c.code for c in EnvelopeError.__subclasses__()}
