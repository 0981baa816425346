"""Path and query parameter types the routers share: ASCII-only, full-string, and bounded to 64 bits.

Pydantic's lax integers accept ``" 12\\n"``, ``"1_000"``, ``"+5"`` and ``"12.0"``, and any size: a query
parameter is instead a plain ASCII decimal that fits the database's signed 64-bit integers, or a 422
``invalid_request`` (never an overflow in the driver).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from gateway.ids.fields import INT64_MAX

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
# Resource ids the hub hands out are UUIDs; the class is wider so that ids of other forms keep working, but a
# NUL, a newline or a megabyte never reaches the database.
_RESOURCE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


def _ascii_decimal(value: object) -> object:
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise PydanticCustomError("ascii_decimal", "must be a decimal number of ASCII digits 0-9")
    return value


_Decimal = BeforeValidator(_ascii_decimal)
Index = Annotated[int, Query(), Field(ge=0, le=INT64_MAX), _Decimal]
"""A non-negative position (leaf index, tree size, range start) as a query parameter."""
Size = Annotated[int, Query(), Field(gt=0, le=INT64_MAX), _Decimal]
"""A positive size or exclusive end as a query parameter."""
OptionalSize = Annotated[int | None, Query(), Field(gt=0, le=INT64_MAX), _Decimal]
ResourceId = Annotated[str, Path(pattern=_RESOURCE_ID)]
"""A verification, consent or enrollment id in a path."""
