"""contracts/misuse-rules.yaml: the misuse detection rules as data, validated at load."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from gateway.errors import MisuseRulesInvalid

RuleKind = Literal["many_subjects", "off_hours", "consent_refusals", "watch_list", "foreign_region", "no_completion"]
_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Description(_Strict):
    zh: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class Rule(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    kind: RuleKind
    threshold: int = Field(ge=1, le=100_000)
    window_s: int = Field(ge=1, le=90 * 86400)
    description: Description


class OfficeHours(_Strict):
    timezone: str
    start: Annotated[str, StringConstraints(pattern=rf"^{_CLOCK}$")]
    end: Annotated[str, StringConstraints(pattern=rf"^{_CLOCK}$")]
    weekdays: tuple[int, ...] = Field(min_length=1, max_length=7)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone") from exc
        return value

    @field_validator("weekdays")
    @classmethod
    def _iso_weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not all(1 <= day <= 7 for day in value):
            raise ValueError("ISO weekdays are 1 (Monday) to 7")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def opens(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def closes(self) -> time:
        return time.fromisoformat(self.end)


class MisuseRules(_Strict):
    version: Literal[1]
    office_hours: OfficeHours
    rules: tuple[Rule, ...] = Field(min_length=1, max_length=64)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, value: tuple[Rule, ...]) -> tuple[Rule, ...]:
        if len({rule.id for rule in value}) != len(value):
            raise ValueError("rule ids must be unique")
        return value


def parse_rules(text: str) -> MisuseRules:
    try:
        document = yaml.safe_load(text)
        return MisuseRules.model_validate(document)
    except yaml.YAMLError as exc:
        raise MisuseRulesInvalid("the misuse rules are not YAML") from exc
    except ValidationError as exc:
        where = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        raise MisuseRulesInvalid(f"the misuse rules are not valid at: {', '.join(where)}") from exc


def load_rules(path: Path) -> MisuseRules:
    try:
        return parse_rules(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MisuseRulesInvalid(f"cannot read {path.name}") from exc
