"""The simulated medical-insurance agency: the REST convention of ``adapters.rest``, deterministic records.

Each identity number gets the same record on every run (derived from its SHA-256), so tests and the
sandbox can state expected indicators: about one person in eight is uninsured, spending is 0 to 19,990
yuan, reimbursement is 0 to 70 % of it.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from aiohttp import web

from adapters.rest import create_batch_query_app
from adapters.testkit.population import Population
from hedui_medical_insurance import MEDICAL_PATH


def record_for(id_number: str) -> dict[str, Any]:
    """The agency's answer about one person (without its ``seq``)."""
    digest = hashlib.sha256(f"medical:{id_number}".encode("ascii")).digest()
    if digest[0] % 8 == 0:
        return {"idNumber": id_number, "insured": False, "record": None}
    spending = (int.from_bytes(digest[1:3], "big") % 2000) * 10
    reimbursed = round(spending * (digest[3] % 71) / 100, 2)
    return {
        "idNumber": id_number,
        "insured": True,
        "record": {
            "recordId": f"YB-{digest[4:10].hex()}",
            "spending12m": float(spending),
            "reimbursed12m": reimbursed,
            "chronicIllness": digest[10] % 4 == 0,
            "seriousIllness": digest[11] % 16 == 0,
        },
    }


def create_app(as_of: date) -> web.Application:
    return create_batch_query_app(as_of, {MEDICAL_PATH: record_for}, middlewares=())


def simulated_agency(population: Population) -> web.Application:
    """The ``hedui.simulated_agencies`` entry point: the agency as of the synthetic population's date."""
    return create_app(population.as_of)
