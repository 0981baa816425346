"""The purpose catalogue (contracts/purposes.yaml) and the authorisation of one request against it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from gateway.errors import CategoryNotAllowed, ConfigurationError, PurposeNotAllowed, RegionNotAllowed
from gateway.ids.gbt2260 import region_covers


@dataclass(frozen=True, slots=True)
class Purpose:
    code: str
    zh: str
    en: str
    legal_basis: str
    roles: frozenset[str]
    categories: frozenset[str]
    cross_region: bool


class PurposeCatalog:
    def __init__(self, purposes: Iterable[Purpose]) -> None:
        self._purposes = {purpose.code: purpose for purpose in purposes}

    @classmethod
    def load(cls, path: Path) -> PurposeCatalog:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls(
                Purpose(
                    code=str(entry["code"]),
                    zh=str(entry["zh"]),
                    en=str(entry["en"]),
                    legal_basis=str(entry["legal_basis"]),
                    roles=frozenset(entry["roles"]),
                    categories=frozenset(entry["categories"]),
                    cross_region=bool(entry["cross_region"]),
                )
                for entry in document["purposes"]
            )
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"the purpose catalogue {path.name} is not valid") from exc

    def __iter__(self) -> Iterator[Purpose]:
        return iter(self._purposes.values())

    def __contains__(self, code: str) -> bool:
        return code in self._purposes

    def get(self, code: str) -> Purpose | None:
        return self._purposes.get(code)

    def authorize(
        self, *, role: str, member_region: str | None, purpose: str, region: str, categories: Iterable[str]
    ) -> Purpose:
        """Check one request; raise the matching 403 error, deny by default."""
        entry = self._purposes.get(purpose)
        if entry is None or role not in entry.roles:
            raise PurposeNotAllowed("this member may not request data for this purpose")
        if not entry.cross_region and (member_region is None or not region_covers(member_region, region)):
            raise RegionNotAllowed("this purpose is limited to cases of the member's own region")
        outside = sorted(set(categories) - entry.categories)
        if outside:
            raise CategoryNotAllowed(f"the purpose does not cover: {', '.join(outside)}", categories=outside)
        return entry
