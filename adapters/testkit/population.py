"""The synthetic population served by the simulated agencies.

Deterministic from a seed. Each household lives in one of the regions of ``REGIONS``; every person has a
valid GB 11643 identity number, a Chinese name, a relation to the household head and the facts each agency
holds about them. Named scenario households (hand-specified in ``scenarios.yaml`` beside this file) come
with their expected indicators, recommendation, flags and programmes.

Amounts are whole yuan. Monthly series hold 12 values, oldest month first, for the 12 calendar months
before the month of ``Population.as_of`` (the window of ``gateway.meanstest.indicators.reference_months``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml

from adapters.testkit.names import GIVEN_NAMES, SURNAMES, cohort_of
from gateway.errors import ConfigurationError
from gateway.ids import credit_code_check_char, id_number_check_char

REGIONS: Mapping[str, str] = {
    "110101": "北京市东城区",
    "510502": "泸州市江阳区",
    "450902": "玉林市玉州区",
}

Relation = Literal["self", "spouse", "child", "parent", "grandchild", "grandparent", "sibling", "other"]
Sex = Literal["M", "F"]
MaritalStatus = Literal["single", "married", "divorced", "widowed"]
AssetKind = Literal["deposit", "securities", "insurance"]
PropertyKind = Literal["residential", "commercial"]


@dataclass(frozen=True, slots=True)
class FinancialAsset:
    institution: str  # bank / broker / insurer code, e.g. "ICBC"
    kind: AssetKind
    account_ref: str
    amount: int


@dataclass(frozen=True, slots=True)
class Property:
    certificate: str  # real-estate certificate number (不动产权证号)
    kind: PropertyKind
    area_m2: float
    region: str


@dataclass(frozen=True, slots=True)
class Vehicle:
    plate: str
    value: int


@dataclass(frozen=True, slots=True)
class Business:
    credit_code: str  # GB 32100 unified social credit code
    name: str
    registered_capital: int


@dataclass(frozen=True, slots=True)
class Enrollment:
    program: str  # dibao | marginal | tekun | rigid_expenditure
    region: str
    since: date
    monthly_amount: int


@dataclass(frozen=True, slots=True)
class Person:
    id_number: str
    name: str
    sex: Sex
    birth_date: date
    relation: Relation
    hukou_id: str  # 户号, the household register this person is on
    hukou_region: str
    on_register: bool = True
    death_date: date | None = None
    marital_status: MaritalStatus = "single"
    disability_grade: int | None = None
    wages: tuple[int, ...] = (0,) * 12
    business_income: tuple[int, ...] = (0,) * 12
    pension: tuple[int, ...] = (0,) * 12
    medical_expenses_12m: int = 0
    assets: tuple[FinancialAsset, ...] = ()
    properties: tuple[Property, ...] = ()
    provident_fund_balance: int = 0
    vehicles: tuple[Vehicle, ...] = ()
    businesses: tuple[Business, ...] = ()
    enrollments: tuple[Enrollment, ...] = ()

    def __repr__(self) -> str:  # keep identity numbers and names out of logs and assertion output
        return f"Person(relation={self.relation!r}, hukou_region={self.hukou_region!r})"

    @property
    def deceased(self) -> bool:
        return self.death_date is not None


@dataclass(frozen=True, slots=True)
class Household:
    household_id: str
    region: str
    members: tuple[Person, ...]
    scenario: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    region: str
    purpose: str
    household_id: str
    expected: Mapping[str, Any]  # {"indicators": {...}, "recommendation": "...", "flags": [...], "programs": [...]}


@dataclass(frozen=True)
class Population:
    seed: int
    as_of: date
    households: tuple[Household, ...]
    scenarios: tuple[Scenario, ...]
    _by_id_number: dict[str, Person] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls, seed: int, as_of: date, households: tuple[Household, ...], scenarios: tuple[Scenario, ...] = ()
    ) -> Population:
        """Build a population and its identity-number index."""
        index = {person.id_number: person for household in households for person in household.members}
        return cls(seed=seed, as_of=as_of, households=households, scenarios=scenarios, _by_id_number=index)

    def person(self, id_number: str) -> Person | None:
        """The person with this identity number, or None (agencies answer "no record")."""
        return self._by_id_number.get(id_number)

    def household(self, household_id: str) -> Household:
        return next(h for h in self.households if h.household_id == household_id)

    def scenario(self, name: str) -> Scenario:
        return next(s for s in self.scenarios if s.name == name)


SCENARIOS_FILE = Path(__file__).with_name("scenarios.yaml")


def generate(seed: int = 20260701, households: int = 2000, as_of: date = date(2026, 10, 31)) -> Population:
    """A deterministic synthetic population: ``households`` random households plus every scenario household.

    The random households come from ``random.Random(seed)``; the scenario households' identifiers from a
    separate stream derived from the seed, so a scenario's identity numbers do not depend on ``households``.
    Scenario households follow the random ones in ``Population.households``.
    """
    registry = _Registry()
    scenario_builder = _Builder(random.Random(f"{seed}/scenarios"), registry, as_of)
    scenario_households, scenarios = scenario_builder.scenarios(_load_scenarios(SCENARIOS_FILE))
    builder = _Builder(random.Random(seed), registry, as_of)
    random_households = tuple(builder.random_household(index) for index in range(1, households + 1))
    return Population.of(seed, as_of, random_households + scenario_households, scenarios)


# -- regional economics ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RegionProfile:
    """What a household of the region earns and owns. Orders of magnitude, not official statistics."""

    dibao_standard: int  # yuan/person/month; the policy files in contracts/policies are authoritative
    divisions: tuple[tuple[str, int], ...]  # real GB/T 2260 county-level codes for identity numbers, weights
    neighbours: tuple[str, ...]  # current county-level codes nearby, where a spouse may still be registered
    minimum_wage: int
    median_wage: int
    employee_pension: int  # urban employees' basic pension
    resident_pension: int  # urban and rural residents' basic pension
    home_area: tuple[float, float]
    plate_prefix: str
    certificate_issuer: str  # province abbreviation of 不动产权证号
    certificate_place: str
    city: str


_PROFILES: Mapping[str, _RegionProfile] = {
    # 110103 is the former Chongwen district, merged into Dongcheng in 2010; people first registered there
    # keep its code in their identity number for life (GB 11643-1999 §4.1 codes the place of first issue).
    "110101": _RegionProfile(
        dibao_standard=1450,
        divisions=(("110101", 88), ("110103", 12)),
        neighbours=("110102", "110105"),  # Xicheng, Chaoyang
        minimum_wage=2540,
        median_wage=9000,
        employee_pension=4800,
        resident_pension=1000,
        home_area=(35.0, 95.0),
        plate_prefix="京A",
        certificate_issuer="京",
        certificate_place="东城区",
        city="北京",
    ),
    # 510521 Lu county and 510503 Naxi district are Luzhou's neighbouring counties.
    "510502": _RegionProfile(
        dibao_standard=788,
        divisions=(("510502", 80), ("510521", 12), ("510503", 8)),
        neighbours=("510503", "510504", "510521"),  # Naxi, Longmatan, Lu county
        minimum_wage=2100,
        median_wage=5000,
        employee_pension=2900,
        resident_pension=230,
        home_area=(55.0, 135.0),
        plate_prefix="川E",
        certificate_issuer="川",
        certificate_place="泸州市",
        city="泸州",
    ),
    # 450903 Fumian district (split from Yuzhou in 2013) and 450921 Rong county belong to Yulin.
    "450902": _RegionProfile(
        dibao_standard=870,
        divisions=(("450902", 80), ("450903", 10), ("450921", 10)),
        neighbours=("450903", "450921", "450922"),  # Fumian, Rong county, Luchuan county
        minimum_wage=1990,
        median_wage=4500,
        employee_pension=2700,
        resident_pension=200,
        home_area=(60.0, 140.0),
        plate_prefix="桂K",
        certificate_issuer="桂",
        certificate_place="玉林市",
        city="玉林",
    ),
}

Tier = Literal["poor", "modest", "middle", "affluent"]
_TIERS: tuple[Tier, ...] = ("poor", "modest", "middle", "affluent")
# Households of one adult (elderly people alone, single parents) are poorer than the average.
_TIER_WEIGHTS = (23, 37, 28, 12)
_TIER_WEIGHTS_ALONE = (45, 30, 20, 5)

Work = Literal["employed", "self_employed", "informal", "unemployed"]
_WORKS: tuple[Work, ...] = ("employed", "self_employed", "informal", "unemployed")
_WORK_WEIGHTS: Mapping[Tier, tuple[int, int, int, int]] = {
    "poor": (15, 7, 38, 40),
    "modest": (68, 12, 12, 8),
    "middle": (80, 12, 3, 5),
    "affluent": (70, 25, 0, 5),
}
_WAGE_FACTOR: Mapping[Tier, tuple[float, float]] = {  # of the minimum wage (poor) or the median wage
    "poor": (0.9, 1.25),
    "modest": (0.55, 1.0),
    "middle": (0.9, 1.8),
    "affluent": (1.8, 5.0),
}
_BUSINESS_FACTOR: Mapping[Tier, tuple[float, float]] = {  # of the minimum wage (poor) or the median wage
    "poor": (0.3, 0.9),
    "modest": (0.4, 1.0),
    "middle": (0.8, 2.0),
    "affluent": (2.0, 8.0),
}
_EMPLOYEE_PENSION_SHARE: Mapping[Tier, float] = {"poor": 0.25, "modest": 0.7, "middle": 0.95, "affluent": 1.0}
_PENSION_FACTOR: Mapping[Tier, tuple[float, float]] = {
    "poor": (0.6, 0.8),
    "modest": (0.7, 1.0),
    "middle": (0.9, 1.4),
    "affluent": (1.3, 2.5),
}
# Financial assets of the household in months of the dibao standard per member.
_ASSET_MONTHS: Mapping[Tier, tuple[float, float]] = {
    "poor": (0.0, 6.0),
    "modest": (8.0, 60.0),
    "middle": (40.0, 200.0),
    "affluent": (200.0, 1500.0),
}
_POOR_HIDDEN_SAVINGS = 0.1  # poor incomes with savings far above any asset limit: what the check is for
# Probability of owning a home, a second home, a commercial property.
_HOMES: Mapping[Tier, tuple[float, float, float]] = {
    "poor": (0.55, 0.01, 0.0),
    "modest": (0.8, 0.05, 0.02),
    "middle": (0.95, 0.2, 0.06),
    "affluent": (1.0, 0.55, 0.3),
}
# Probability of a car, its assessed value range, probability of a second car.
_CARS: Mapping[Tier, tuple[float, tuple[int, int], float]] = {
    "poor": (0.06, (8_000, 40_000), 0.0),
    "modest": (0.35, (40_000, 150_000), 0.0),
    "middle": (0.65, (80_000, 300_000), 0.1),
    "affluent": (0.9, (200_000, 900_000), 0.4),
}
_BUSINESS_CAPITAL: Mapping[Tier, tuple[int, int]] = {
    "poor": (10_000, 30_000),
    "modest": (20_000, 100_000),
    "middle": (50_000, 300_000),
    "affluent": (500_000, 10_000_000),
}

_BANKS: tuple[tuple[str, str, int], ...] = (  # code, card BIN (bank identification number), weight
    ("ICBC", "622202", 22),
    ("CCB", "621700", 20),
    ("ABC", "622848", 18),
    ("BOC", "621661", 12),
    ("BOCOM", "622262", 8),
    ("PSBC", "621799", 12),
    ("CMB", "622588", 8),
)
_BANK_BINS = {code: bin_ for code, bin_, _ in _BANKS}
_BROKERS = ("CITIC-SEC", "HTSC", "GTJA")
_INSURERS = ("PICC", "CHINA-LIFE", "PINGAN")
_INSTITUTIONS: Mapping[AssetKind, tuple[str, ...]] = {
    "deposit": tuple(_BANK_BINS),
    "securities": _BROKERS,
    "insurance": _INSURERS,
}

_SHOPS = ("便利店", "小吃店", "五金店", "理发店", "水果店", "副食店", "修理部", "服装店", "早餐店", "茶馆")
_COMPANIES = ("科技有限公司", "商贸有限公司", "建筑工程有限公司", "餐饮管理有限公司", "物流有限公司")
_TRADE_WORDS = ("鑫源", "顺发", "宏达", "福满", "兴旺", "安康", "金诚", "和美", "恒通", "永盛", "佳禾", "瑞丰")
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # GA 36-2018: no I or O on plates
_ORG_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # the GB 32100 alphabet, so position 9-17 stays valid
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

_PROGRAMS = ("dibao", "marginal", "tekun", "rigid_expenditure")
_RETIREMENT_AGE: Mapping[Sex, int] = {"M": 60, "F": 55}


def _reference_months(as_of: date) -> tuple[tuple[int, int], ...]:
    """(year, month) of the 12 calendar months before the month of ``as_of``, oldest first."""
    months = []
    year, month = as_of.year, as_of.month
    for _ in range(12):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        months.append((year, month))
    return tuple(reversed(months))


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _organisation_code(body: str) -> str:
    """GB 11714-1997 organisation code: 8 characters and a check character (§5, MOD 11 with weights)."""
    total = sum(int(char, 36) * weight for char, weight in zip(body, _ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


# -- drafts: mutable people while a household is built ----------------------------------------------------


@dataclass(slots=True)
class _Draft:
    relation: Relation
    sex: Sex
    birth_date: date
    name: str = ""
    marital_status: MaritalStatus = "single"
    hukou_key: str = "main"
    hukou_region: str = ""
    on_register: bool = True
    death_date: date | None = None
    disability_grade: int | None = None
    wages: tuple[int, ...] = (0,) * 12
    business_income: tuple[int, ...] = (0,) * 12
    pension: tuple[int, ...] = (0,) * 12
    medical_expenses_12m: int = 0
    assets: list[FinancialAsset] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    provident_fund_balance: int = 0
    vehicles: list[Vehicle] = field(default_factory=list)
    businesses: list[Business] = field(default_factory=list)
    enrollments: list[Enrollment] = field(default_factory=list)

    def monthly_income(self) -> float:
        return (sum(self.wages) + sum(self.business_income) + sum(self.pension)) / 12


@dataclass(slots=True)
class _Registry:
    """Identifiers already handed out, shared by the scenario and the random households."""

    id_numbers: set[str] = field(default_factory=set)
    hukou_ids: set[str] = field(default_factory=set)
    plates: set[str] = field(default_factory=set)
    certificates: set[str] = field(default_factory=set)
    credit_codes: set[str] = field(default_factory=set)
    accounts: int = 0


class _Builder:
    def __init__(self, rng: random.Random, registry: _Registry, as_of: date) -> None:
        self._rng = rng
        self._registry = registry
        self._as_of = as_of
        self._months = _reference_months(as_of)
        self._surnames = tuple(surname for surname, _ in SURNAMES)
        self._surname_weights = tuple(weight for _, weight in SURNAMES)

    # -- identifiers ---------------------------------------------------------------------------------

    def _identity_number(self, hukou_region: str, birth: date, sex: Sex) -> str:
        """GB 11643-1999 §4: division, birth date, sequence (odd for men, even for women), check (§5)."""
        profile = _PROFILES.get(hukou_region)
        codes = [code for code, _ in profile.divisions] if profile else [hukou_region]
        weights = [weight for _, weight in profile.divisions] if profile else [1]
        while True:
            division = self._rng.choices(codes, weights)[0]
            sequence = self._rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
            if sequence == 0:
                continue
            first17 = f"{division}{birth:%Y%m%d}{sequence:03d}"
            number = first17 + id_number_check_char(first17)
            if number not in self._registry.id_numbers:
                self._registry.id_numbers.add(number)
                return number

    def _hukou_id(self, hukou_region: str) -> str:
        while True:
            hukou_id = f"{hukou_region}{self._rng.randrange(10**9):09d}"
            if hukou_id not in self._registry.hukou_ids:
                self._registry.hukou_ids.add(hukou_id)
                return hukou_id

    def _certificate(self, region: str) -> str:
        profile = _PROFILES[region]
        while True:
            year = self._rng.randint(2016, self._as_of.year)  # unified real-estate certificates since 2016
            serial = self._rng.randrange(1, 10**7)
            certificate = f"{profile.certificate_issuer}（{year}）{profile.certificate_place}不动产权第{serial:07d}号"
            if certificate not in self._registry.certificates:
                self._registry.certificates.add(certificate)
                return certificate

    def _plate(self, region: str) -> str:
        prefix = _PROFILES[region].plate_prefix
        while True:
            if self._rng.random() < 0.2:  # new-energy plates: D (electric) or F (hybrid) and five digits
                plate = prefix + self._rng.choice("DF") + f"{self._rng.randrange(10**5):05d}"
            else:
                letter = self._rng.choice(_PLATE_LETTERS)
                plate = prefix + letter + f"{self._rng.randrange(10**4):04d}"
            if plate not in self._registry.plates:
                self._registry.plates.add(plate)
                return plate

    def _credit_code(self, region: str, *, individual: bool) -> str:
        """GB 32100-2015 §4: authority 9 (market regulation), type 1 enterprise / 2 individual business,
        the registering division, a GB 11714 organisation code and the check character."""
        while True:
            body = "MA" + "".join(self._rng.choice(_ORG_CODE_CHARS) for _ in range(6))
            first17 = f"9{2 if individual else 1}{region}{_organisation_code(body)}"
            code = first17 + credit_code_check_char(first17)
            if code not in self._registry.credit_codes:
                self._registry.credit_codes.add(code)
                return code

    def _account_ref(self, institution: str, kind: AssetKind) -> str:
        self._registry.accounts += 1
        serial = self._registry.accounts
        if kind == "deposit":
            return f"{_BANK_BINS[institution]}{serial:07d}{self._rng.randrange(10**6):06d}"
        if kind == "securities":
            return f"{serial:08d}{self._rng.randrange(10**4):04d}"
        return f"P{self._rng.randrange(10**6):06d}{serial:08d}"

    # -- random households -----------------------------------------------------------------------------

    def random_household(self, index: int) -> Household:
        rng = self._rng
        region = rng.choice(tuple(REGIONS))
        profile = _PROFILES[region]
        shape, drafts = self._compose()
        alone = shape in ("single_elderly", "single_parent")
        tier = rng.choices(_TIERS, _TIER_WEIGHTS_ALONE if alone else _TIER_WEIGHTS)[0]
        self._name(drafts)
        for draft in drafts:
            draft.hukou_region = region
            self._health(draft, tier)
            self._income(draft, tier, profile, region)
        self._split_hukou(drafts, region)
        self._death(drafts)
        self._assets(drafts, tier, profile)
        self._homes(drafts, tier, profile, region)
        self._cars(drafts, tier, region)
        self._enroll(drafts, profile, region, alone=shape == "single_elderly")
        return Household(f"{region}-{index:06d}", region, self._freeze(drafts, region))

    def _birth(self, year: int) -> date:
        start = date(year, 1, 1).toordinal()
        end = min(date(year, 12, 31), self._as_of).toordinal()
        return date.fromordinal(self._rng.randint(start, end))

    def _compose(self) -> tuple[str, list[_Draft]]:
        """Members with relation, sex and birth date; ages follow the relation (see docs/population.md)."""
        rng = self._rng
        this_year = self._as_of.year
        shape = rng.choices(
            (
                "single_young",
                "single_elderly",
                "couple",
                "couple_children",
                "single_parent",
                "three_generation",
                "extended",
                "siblings",
            ),
            (8, 10, 16, 34, 8, 14, 6, 4),
        )[0]
        head_ages = {
            "single_young": (20, 45),
            "single_elderly": (62, 90),
            "couple": (24, 85),
            "couple_children": (25, 58),
            "single_parent": (25, 55),
            "three_generation": (28, 52),
            "extended": (50, 62),
            "siblings": (20, 65),
        }[shape]
        head_age = rng.randint(*head_ages)
        head_year = this_year - head_age
        divorce_rate = 0.25 if head_age >= 25 else 0.0
        couple = shape in ("couple", "couple_children", "three_generation", "extended")
        if couple:
            head_sex: Sex = "M" if rng.random() < 0.75 else "F"
        elif shape == "single_parent":
            head_sex = "F" if rng.random() < 0.75 else "M"
        else:
            head_sex = rng.choice(("M", "F"))
        head = _Draft("self", head_sex, self._birth(head_year))
        drafts = [head]
        if couple:
            head.marital_status = "married"
            spouse_year = min(head_year + rng.randint(-5, 5), this_year - 22)  # legal age to marry
            drafts.append(_Draft("spouse", _other_sex(head_sex), self._birth(spouse_year), marital_status="married"))
        elif shape == "single_young":
            head.marital_status = "divorced" if rng.random() < divorce_rate else "single"
        elif shape == "single_elderly":
            head.marital_status = rng.choices(("widowed", "divorced", "single"), (70, 18, 12))[0]
        elif shape == "single_parent":
            head.marital_status = "divorced" if rng.random() < 0.7 else "widowed"
        else:
            head.marital_status = "divorced" if rng.random() < divorce_rate else "single"
            sibling_year = head_year + rng.randint(-10, 10)
            drafts.append(_Draft("sibling", rng.choice(("M", "F")), self._birth(sibling_year)))

        if shape in ("couple_children", "single_parent", "three_generation"):
            count = rng.choices((1, 2, 3), (55, 38, 7))[0]
            for _ in range(count):
                self._add_child(drafts, head_year, youngest=1, oldest=30)
        if shape == "three_generation":
            father_year = head_year - rng.randint(21, 35)
            mother_year = max(head_year - 35, min(head_year - 21, father_year + rng.randint(-5, 5)))
            both = rng.random() < 0.6
            status: MaritalStatus = "married" if both else "widowed"
            for sex in ("M", "F") if both else (rng.choice(("M", "F")),):
                year = father_year if sex == "M" else mother_year
                drafts.append(_Draft("parent", sex, self._birth(year), marital_status=status))
        if shape == "extended":
            child = self._add_child(drafts, head_year, youngest=24, oldest=30)
            if child is not None:
                child.marital_status = "married"
                in_law_year = min(child.birth_date.year + rng.randint(-3, 3), this_year - 22)
                drafts.append(
                    _Draft("other", _other_sex(child.sex), self._birth(in_law_year), marital_status="married")
                )
                for _ in range(rng.choices((1, 2), (70, 30))[0]):
                    low = max(child.birth_date.year + 21, this_year - 30)
                    year = rng.randint(low, this_year - 1)
                    drafts.append(_Draft("grandchild", rng.choice(("M", "F")), self._birth(year)))
        return shape, drafts

    def _add_child(self, drafts: list[_Draft], head_year: int, *, youngest: int, oldest: int) -> _Draft | None:
        this_year = self._as_of.year
        # Birth year 21-35 years after the head's: 20-35 full years younger whatever the birthdays.
        low = max(head_year + 21, this_year - oldest)
        high = min(head_year + 35, this_year - youngest)
        if low > high:
            return None
        child = _Draft("child", self._rng.choice(("M", "F")), self._birth(self._rng.randint(low, high)))
        drafts.append(child)
        return child

    def _name(self, drafts: list[_Draft]) -> None:
        """Spouses (and in-laws, and the head's mother) bring their own surname; the rest share the head's."""
        rng = self._rng
        head_surname = rng.choices(self._surnames, self._surname_weights)[0]
        taken: set[str] = set()
        for draft in drafts:
            own = draft.relation in ("spouse", "other") or (draft.relation == "parent" and draft.sex == "F")
            surname = head_surname
            while own and surname == head_surname:
                surname = rng.choices(self._surnames, self._surname_weights)[0]
            given_names = GIVEN_NAMES[(cohort_of(draft.birth_date.year), draft.sex)]
            name = surname + rng.choice(given_names)
            while name in taken:
                name = surname + rng.choice(given_names)
            taken.add(name)
            draft.name = name

    def _health(self, draft: _Draft, tier: Tier) -> None:
        rng = self._rng
        age = _age(draft.birth_date, self._as_of)
        disability_rate = (0.08 if age >= 60 else 0.03) * (1.8 if tier == "poor" else 1.0)
        if rng.random() < disability_rate:
            draft.disability_grade = rng.choices((1, 2, 3, 4), (12, 20, 28, 40))[0]
        chronic_rate = (0.2 if age >= 50 else 0.07) * (1.5 if draft.disability_grade else 1.0)
        roll = rng.random()
        if roll < (0.04 if age >= 60 else 0.015):
            draft.medical_expenses_12m = rng.randint(30_000, 180_000)
        elif roll < 0.04 + chronic_rate:
            draft.medical_expenses_12m = rng.randint(3_000, 20_000)
        elif roll < 0.7:
            draft.medical_expenses_12m = rng.randint(200, 3_000)

    def _income(self, draft: _Draft, tier: Tier, profile: _RegionProfile, region: str) -> None:
        rng = self._rng
        age = _age(draft.birth_date, self._as_of)
        if age < 16 or (age <= 22 and rng.random() < 0.8):
            return  # children and students
        if age >= _RETIREMENT_AGE[draft.sex]:
            if rng.random() < _EMPLOYEE_PENSION_SHARE[tier]:
                base = profile.employee_pension * rng.uniform(*_PENSION_FACTOR[tier])
            else:
                base = profile.resident_pension * rng.uniform(0.9, 1.3)
            draft.pension = self._pension_series(base)
            return
        work = rng.choices(_WORKS, _WORK_WEIGHTS[tier])[0]
        if draft.disability_grade in (1, 2):
            work = "unemployed"
        if work == "employed":
            reference = profile.minimum_wage if tier == "poor" else profile.median_wage
            base = reference * rng.uniform(*_WAGE_FACTOR[tier])
            draft.wages = tuple(round(base * rng.uniform(0.95, 1.05)) for _ in self._months)
            if tier != "poor" and rng.random() < 0.4:  # year-end bonus, paid in January
                bonus_month = next(i for i, (_, month) in enumerate(self._months) if month == 1)
                wages = list(draft.wages)
                wages[bonus_month] += round(base * rng.uniform(1.0, 3.0))
                draft.wages = tuple(wages)
            fund_rate = 0.5 if tier == "poor" else 0.85
            if rng.random() < fund_rate:  # 12% from employer and employee each, for 1-10 years
                draft.provident_fund_balance = round(base * 0.24 * rng.randint(12, 120))
        elif work == "informal":  # casual work: whole months without any
            base = profile.minimum_wage * rng.uniform(0.4, 0.9)
            draft.wages = tuple(
                0 if rng.random() < 0.3 else round(base * rng.uniform(0.8, 1.2) / 10) * 10 for _ in self._months
            )
        elif work == "self_employed":
            reference = profile.minimum_wage if tier == "poor" else profile.median_wage
            base = reference * rng.uniform(*_BUSINESS_FACTOR[tier])
            draft.business_income = tuple(round(base * rng.uniform(0.75, 1.25)) for _ in self._months)
            self._business(draft, tier, region, individual=tier != "affluent")
        if tier == "affluent" and work == "employed" and rng.random() < 0.1:
            self._business(draft, tier, region, individual=False)

    def _pension_series(self, base: float) -> tuple[int, ...]:
        """Pensions rise about 2% a year; the rise shows from July (its arrears are left out)."""
        july = next(month for month in self._months if month[1] == 7)
        return tuple(round(base) if month >= july else round(base / 1.02) for month in self._months)

    def _business(self, draft: _Draft, tier: Tier, region: str, *, individual: bool) -> None:
        rng = self._rng
        low, high = _BUSINESS_CAPITAL[tier]
        capital = round(rng.randint(low, high), -3)
        word = rng.choice(_TRADE_WORDS)
        profile = _PROFILES[region]
        if individual:
            name = f"{profile.certificate_place}{word}{rng.choice(_SHOPS)}"
        else:
            name = f"{profile.city}{word}{rng.choice(_COMPANIES)}"
        code = self._credit_code(region, individual=individual)
        draft.businesses.append(Business(credit_code=code, name=name, registered_capital=capital))

    def _split_hukou(self, drafts: list[_Draft], region: str) -> None:
        """About 2% of spouses are still registered in a neighbouring district or county, on a register of
        their own (a couple on two 户口)."""
        spouse = next((d for d in drafts if d.relation == "spouse"), None)
        if spouse is None or self._rng.random() >= 0.02:
            return
        spouse.hukou_key = "spouse"
        spouse.hukou_region = self._rng.choice(_PROFILES[region].neighbours)

    def _death(self, drafts: list[_Draft]) -> None:
        """Rarely, an elderly spouse or parent has died in the last three years; usually the death is also
        recorded on the household register (on_register False), sometimes not yet."""
        rng = self._rng
        candidates = [d for d in drafts if d.relation in ("spouse", "parent") and _age(d.birth_date, self._as_of) >= 65]
        if not candidates or rng.random() >= 0.02:
            return
        deceased = rng.choice(candidates)
        died = date.fromordinal(self._as_of.toordinal() - rng.randint(1, 3 * 365))
        deceased.death_date = died
        deceased.on_register = rng.random() < 0.15
        partner = "self" if deceased.relation == "spouse" else "parent"
        for draft in drafts:
            if draft is not deceased and draft.relation == partner and draft.marital_status == "married":
                draft.marital_status = "widowed"
        stopped = tuple((year, month) > (died.year, died.month) for year, month in self._months)
        for series in ("wages", "business_income", "pension"):
            values = getattr(deceased, series)
            setattr(deceased, series, tuple(0 if stop else v for v, stop in zip(values, stopped, strict=True)))

    def _assets(self, drafts: list[_Draft], tier: Tier, profile: _RegionProfile) -> None:
        rng = self._rng
        adults = [d for d in drafts if _age(d.birth_date, self._as_of) >= 18] or drafts[:1]
        months = rng.uniform(*_ASSET_MONTHS[tier])
        if tier == "poor" and rng.random() < _POOR_HIDDEN_SAVINGS:
            months = rng.uniform(30.0, 60.0)
        total = months * profile.dibao_standard * len(drafts)
        accounts = rng.randint(1, 2 if tier == "poor" else 4)
        shares = [rng.random() + 0.2 for _ in range(accounts)]
        for share in shares:
            amount = round(total * share / sum(shares))
            roll = rng.random()
            if tier in ("middle", "affluent") and roll < 0.3:
                kind: AssetKind = "securities"
                institution = rng.choice(_BROKERS)
            elif tier != "poor" and roll < 0.5:
                kind = "insurance"
                institution = rng.choice(_INSURERS)
            else:
                kind = "deposit"
                institution = rng.choices([b[0] for b in _BANKS], [b[2] for b in _BANKS])[0]
            owner = rng.choice(adults)
            owner.assets.append(FinancialAsset(institution, kind, self._account_ref(institution, kind), amount))

    def _homes(self, drafts: list[_Draft], tier: Tier, profile: _RegionProfile, region: str) -> None:
        rng = self._rng
        own, second, commercial = _HOMES[tier]
        head = drafts[0]
        spouse = next((d for d in drafts if d.relation == "spouse"), None)
        owners = [head, spouse] if spouse is not None and rng.random() < 0.75 else [head]
        low, high = profile.home_area
        if tier == "poor":
            high = (low + high) / 2
        homes = int(rng.random() < own) + int(rng.random() < second)
        for _ in range(homes):
            area = round(rng.uniform(low, high), 2)
            home = Property(self._certificate(region), "residential", area, region)
            for owner in owners:
                owner.properties.append(home)
        if rng.random() < commercial:
            shop = Property(self._certificate(region), "commercial", round(rng.uniform(20.0, 150.0), 2), region)
            head.properties.append(shop)

    def _cars(self, drafts: list[_Draft], tier: Tier, region: str) -> None:
        rng = self._rng
        rate, (low, high), second = _CARS[tier]
        drivers = [d for d in drafts if 18 <= _age(d.birth_date, self._as_of) < 75] or drafts[:1]
        count = int(rng.random() < rate) + int(rng.random() < second)
        for _ in range(count):
            owner = rng.choice(drivers)
            owner.vehicles.append(Vehicle(self._plate(region), round(rng.randint(low, high), -2)))

    def _enroll(self, drafts: list[_Draft], profile: _RegionProfile, region: str, *, alone: bool) -> None:
        """Some households that pass the means test are already enrolled; the enrollment is the head's."""
        rng = self._rng
        living = [d for d in drafts if d.death_date is None]
        standard = profile.dibao_standard
        per_capita = sum(d.monthly_income() for d in living) / len(living)
        assets = sum(a.amount for d in drafts for a in d.assets) / len(living)
        homes = {p.certificate for d in drafts for p in d.properties if p.kind == "residential"}
        shops = {p.certificate for d in drafts for p in d.properties if p.kind == "commercial"}
        cars = [v.value for d in drafts for v in d.vehicles]
        medical = sum(d.medical_expenses_12m for d in drafts)
        means_ok = assets <= 24 * standard and len(homes) <= 1 and not shops and max(cars, default=0) <= 50_000
        head = drafts[0]
        since = date.fromordinal(self._as_of.toordinal() - rng.randint(30, 10 * 365))
        if means_ok and per_capita < standard:
            old = _age(head.birth_date, self._as_of) >= 70 or head.disability_grade in (1, 2)
            if alone and old and rng.random() < 0.5:  # 特困: old or severely disabled, alone, without means
                head.enrollments.append(Enrollment("tekun", region, since, round(standard * 1.3)))
            elif rng.random() < 0.55:  # 低保 pays the gap to the standard (补差)
                amount = max(round((standard - per_capita) * len(living)), 1)
                head.enrollments.append(Enrollment("dibao", region, since, amount))
        elif means_ok and per_capita < 1.5 * standard and rng.random() < 0.25:
            # 低保边缘: specialised assistance (medical, education, housing), no monthly cash
            head.enrollments.append(Enrollment("marginal", region, since, 0))
        elif medical >= 30_000 and per_capita < 2 * standard and rng.random() < 0.4:
            head.enrollments.append(Enrollment("rigid_expenditure", region, since, round(standard * 0.5)))

    # -- scenario households ---------------------------------------------------------------------------

    def scenarios(self, specs: Sequence[Mapping[str, Any]]) -> tuple[tuple[Household, ...], tuple[Scenario, ...]]:
        households, scenarios = [], []
        for spec in specs:
            name = str(spec.get("name"))
            try:
                household, scenario = self._scenario(name, spec)
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigurationError(f"scenario {name!r} in scenarios.yaml is malformed: {exc}") from exc
            households.append(household)
            scenarios.append(scenario)
        return tuple(households), tuple(scenarios)

    def _scenario(self, name: str, spec: Mapping[str, Any]) -> tuple[Household, Scenario]:
        _check_keys(spec, _SCENARIO_KEYS)
        region = _choice(spec["region"], tuple(REGIONS))
        drafts = [self._scenario_member(member, region) for member in spec["members"]]
        by_name = {draft.name: draft for draft in drafts}
        for entry in spec.get("properties", ()):
            _check_keys(entry, _PROPERTY_KEYS)
            property_region = _choice(entry.get("region", region), tuple(REGIONS))
            kind = cast(PropertyKind, _choice(entry["kind"], get_args(PropertyKind)))
            shared = Property(self._certificate(property_region), kind, float(entry["area_m2"]), property_region)
            for owner in _owners(by_name, entry["owners"]):
                owner.properties.append(shared)
        for entry in spec.get("businesses", ()):
            _check_keys(entry, _BUSINESS_KEYS)
            individual = bool(entry.get("individual", True))
            code = self._credit_code(region, individual=individual)
            business = Business(code, str(entry["name"]), int(entry["registered_capital"]))
            for owner in _owners(by_name, entry["owners"]):
                owner.businesses.append(business)
        expected = dict(spec["expected"])
        missing = {"indicators", "recommendation", "flags", "programs"} - expected.keys()
        if missing:
            raise ValueError(f"expected lacks {sorted(missing)}")
        household_id = f"{region}-{name}"
        household = Household(household_id, region, self._freeze(drafts, region), scenario=name)
        purpose = str(spec.get("purpose", "dibao.application"))
        return household, Scenario(name, str(spec["description"]).strip(), region, purpose, household_id, expected)

    def _scenario_member(self, spec: Mapping[str, Any], region: str) -> _Draft:
        _check_keys(spec, _MEMBER_KEYS)
        name = str(spec["name"])
        draft = _Draft(
            relation=cast(Relation, _choice(spec["relation"], get_args(Relation))),
            sex=cast(Sex, _choice(spec["sex"], get_args(Sex))),
            birth_date=_date(spec["birth_date"]),
            name=name,
            marital_status=cast(MaritalStatus, _choice(spec.get("marital_status", "single"), get_args(MaritalStatus))),
            hukou_key=str(spec.get("hukou", "main")),
            hukou_region=str(spec.get("hukou_region", region)),
            on_register=bool(spec.get("on_register", True)),
            death_date=_date(spec["death_date"]) if spec.get("death_date") else None,
            disability_grade=int(spec["disability_grade"]) if spec.get("disability_grade") else None,
            wages=_series(spec.get("wages", 0)),
            business_income=_series(spec.get("business_income", 0)),
            pension=_series(spec.get("pension", 0)),
            medical_expenses_12m=int(spec.get("medical_expenses_12m", 0)),
            provident_fund_balance=int(spec.get("provident_fund_balance", 0)),
        )
        for entry in spec.get("assets", ()):
            _check_keys(entry, _ASSET_KEYS)
            kind = cast(AssetKind, _choice(entry["kind"], get_args(AssetKind)))
            institution = _choice(entry["institution"], _INSTITUTIONS[kind])
            account = self._account_ref(institution, kind)
            draft.assets.append(FinancialAsset(institution, kind, account, int(entry["amount"])))
        for entry in spec.get("vehicles", ()):
            _check_keys(entry, _VEHICLE_KEYS)
            draft.vehicles.append(Vehicle(self._plate(region), int(entry["value"])))
        for entry in spec.get("enrollments", ()):
            _check_keys(entry, _ENROLLMENT_KEYS)
            program = _choice(entry["program"], _PROGRAMS)
            enrollment_region = _choice(entry["region"], tuple(REGIONS))
            since = _date(entry["since"])
            draft.enrollments.append(Enrollment(program, enrollment_region, since, int(entry["monthly_amount"])))
        return draft

    # -- freezing ------------------------------------------------------------------------------------

    def _freeze(self, drafts: Sequence[_Draft], region: str) -> tuple[Person, ...]:
        registers: dict[str, tuple[str, str]] = {}
        people = []
        for draft in drafts:
            hukou_region = draft.hukou_region or region
            if draft.hukou_key not in registers:
                registers[draft.hukou_key] = (self._hukou_id(hukou_region), hukou_region)
            hukou_id, hukou_region = registers[draft.hukou_key]
            people.append(
                Person(
                    id_number=self._identity_number(hukou_region, draft.birth_date, draft.sex),
                    name=draft.name,
                    sex=draft.sex,
                    birth_date=draft.birth_date,
                    relation=draft.relation,
                    hukou_id=hukou_id,
                    hukou_region=hukou_region,
                    on_register=draft.on_register,
                    death_date=draft.death_date,
                    marital_status=draft.marital_status,
                    disability_grade=draft.disability_grade,
                    wages=draft.wages,
                    business_income=draft.business_income,
                    pension=draft.pension,
                    medical_expenses_12m=draft.medical_expenses_12m,
                    assets=tuple(draft.assets),
                    properties=tuple(draft.properties),
                    provident_fund_balance=draft.provident_fund_balance,
                    vehicles=tuple(draft.vehicles),
                    businesses=tuple(draft.businesses),
                    enrollments=tuple(draft.enrollments),
                )
            )
        return tuple(people)


# -- scenarios.yaml ----------------------------------------------------------------------------------------

_SCENARIO_KEYS = frozenset(
    {"name", "region", "description", "purpose", "members", "properties", "businesses", "expected"}
)
_MEMBER_KEYS = frozenset(
    {
        "relation", "name", "sex", "birth_date", "marital_status", "hukou", "hukou_region", "on_register",
        "death_date", "disability_grade", "wages", "business_income", "pension", "medical_expenses_12m",
        "provident_fund_balance", "assets", "vehicles", "enrollments",
    }
)  # fmt: skip
_PROPERTY_KEYS = frozenset({"kind", "area_m2", "region", "owners"})
_BUSINESS_KEYS = frozenset({"name", "registered_capital", "individual", "owners"})
_ASSET_KEYS = frozenset({"institution", "kind", "amount"})
_VEHICLE_KEYS = frozenset({"value"})
_ENROLLMENT_KEYS = frozenset({"program", "region", "since", "monthly_amount"})


def _load_scenarios(path: Path) -> list[Mapping[str, Any]]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot load {path.name}") from exc
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    if not isinstance(scenarios, list) or not all(isinstance(entry, dict) for entry in scenarios):
        raise ConfigurationError(f"{path.name} must hold a list of scenarios under 'scenarios'")
    return scenarios


def _check_keys(entry: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(entry) - allowed  # a misspelt key would otherwise silently drop a fact
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")


def _owners(by_name: Mapping[str, _Draft], names: Sequence[str]) -> list[_Draft]:
    if not names or any(name not in by_name for name in names):
        raise ValueError("every owner must be named as a member of the household")  # no names in errors
    return [by_name[name] for name in names]


def _choice(value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {list(allowed)}")
    return str(value)


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _series(value: Any) -> tuple[int, ...]:
    """A monthly series: one amount for every month, or the 12 amounts, oldest month first."""
    if isinstance(value, int):
        return (value,) * 12
    series = tuple(int(amount) for amount in value)
    if len(series) != 12:
        raise ValueError("a monthly series has 12 values")
    return series


def _other_sex(sex: Sex) -> Sex:
    return "F" if sex == "M" else "M"
