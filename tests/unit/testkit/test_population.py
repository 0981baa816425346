"""The synthetic population: determinism, valid identifiers, plausible households, and scenario data whose
expected values are recomputed here from the generated Person records by a separate, plain implementation."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.testkit import population
from adapters.testkit.population import Household, Person, Population, generate
from gateway.errors import ConfigurationError
from gateway.ids import parse_id_number, validate_credit_code

ROOT = Path(__file__).resolve().parents[3]
INDICATOR_CODES = {
    entry["code"] for entry in yaml.safe_load((ROOT / "contracts/indicators.yaml").read_text())["indicators"]
}
STANDARD = {"110101": 1450, "510502": 788, "450902": 870}
# Real GB/T 2260 county-level codes an identity number may carry for a person registered in each region.
DIVISIONS = {
    "110101": {"110101", "110103"},
    "510502": {"510502", "510521", "510503"},
    "450902": {"450902", "450903", "450921"},
}
PLATE_PREFIX = {"110101": "京A", "510502": "川E", "450902": "桂K"}
REQUIRED_SCENARIOS = {
    "clearly_eligible": "110101",
    "income_above_standard": "110101",
    "assets_above_limit": "510502",
    "two_homes": "450902",
    "car_above_exemption": "510502",
    "deceased_on_register": "110101",
    "enrolled_elsewhere": "110101",
    "marginal": "510502",
    "rigid_expenditure": "450902",
    "split_hukou": "450902",
    "no_consent": "110101",
}
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def people() -> Population:
    return generate()


def random_households(pop: Population) -> list[Household]:
    return [h for h in pop.households if h.scenario is None]


def years_between(earlier: date, later: date) -> int:
    return later.year - earlier.year - ((later.month, later.day) < (earlier.month, earlier.day))


def monthly_income(person: Person) -> int:
    return sum(person.wages) + sum(person.business_income) + sum(person.pension)


def per_capita_income(household: Household) -> float:
    living = [m for m in household.members if m.death_date is None]
    return sum(monthly_income(m) for m in living) / 12 / len(living)


# -- determinism ---------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_population() -> None:
    first, second = generate(seed=11, households=150), generate(seed=11, households=150)
    assert first.households == second.households
    assert first.scenarios == second.scenarios


def test_another_seed_gives_another_population() -> None:
    first, second = generate(seed=11, households=150), generate(seed=12, households=150)
    assert first.households[:150] != second.households[:150]
    first_ids = {p.id_number for h in first.households for p in h.members}
    second_ids = {p.id_number for h in second.households for p in h.members}
    assert len(first_ids & second_ids) < len(first_ids) // 10


def test_scenario_households_do_not_depend_on_the_household_count() -> None:
    few, many = generate(seed=11, households=5), generate(seed=11, households=300)
    assert [h for h in few.households if h.scenario] == [h for h in many.households if h.scenario]


# -- size, spread, identifiers -------------------------------------------------------------------------


def test_sizes_and_region_spread(people: Population) -> None:
    households = random_households(people)
    assert len(households) == 2000
    assert len(people.households) == 2000 + len(REQUIRED_SCENARIOS)
    assert len({h.household_id for h in people.households}) == len(people.households)
    spread = Counter(h.region for h in households)
    assert set(spread) == set(STANDARD)
    assert all(0.28 <= count / 2000 <= 0.39 for count in spread.values()), spread
    sizes = Counter(len(h.members) for h in households)
    assert min(sizes) == 1
    assert max(sizes) >= 5


def test_identity_numbers_are_valid_unique_and_match_the_person(people: Population) -> None:
    seen: set[str] = set()
    for household in people.households:
        for person in household.members:
            parsed = parse_id_number(person.id_number, today=people.as_of)
            assert parsed.value == person.id_number
            assert parsed.birth_date == person.birth_date
            assert parsed.sex == person.sex
            assert parsed.division in DIVISIONS.get(person.hukou_region, {person.hukou_region})
            assert person.id_number not in seen
            seen.add(person.id_number)
            assert people.person(person.id_number) is person
    assert len(seen) > 5000


def test_household_registers(people: Population) -> None:
    for household in people.households:
        registers = {(p.hukou_id, p.hukou_region) for p in household.members}
        for hukou_id, hukou_region in registers:
            assert len(hukou_id) == 15
            assert hukou_id.isdigit()
            assert hukou_id.startswith(hukou_region)
        head = household.members[0]
        assert head.hukou_region == household.region
        if household.scenario == "split_hukou":
            assert len(registers) == 2
        elif household.scenario is not None:
            assert len(registers) == 1
        else:  # only a spouse may stay on another register
            assert all(p.hukou_id == head.hukou_id for p in household.members if p.relation != "spouse")
    all_registers = [h.members[0].hukou_id for h in people.households]
    assert len(set(all_registers)) == len(all_registers)


# -- relations, ages, names, marital status ------------------------------------------------------------


def test_relations_and_ages_are_consistent(people: Population) -> None:
    for household in people.households:
        head, *others = household.members
        assert head.relation == "self"
        assert all(p.relation != "self" for p in others)
        assert sum(p.relation == "spouse" for p in others) <= 1
        for person in others:
            assert person.birth_date <= people.as_of
            if person.relation == "spouse":
                assert person.sex != head.sex
                gap = years_between(*sorted((head.birth_date, person.birth_date)))
                assert gap <= 10
            elif person.relation == "child":
                assert 20 <= years_between(head.birth_date, person.birth_date) <= 35
                assert years_between(person.birth_date, people.as_of) <= 30
            elif person.relation == "parent":
                assert 20 <= years_between(person.birth_date, head.birth_date) <= 35
            elif person.relation == "grandchild":
                assert 40 <= years_between(head.birth_date, person.birth_date) <= 70
            elif person.relation == "sibling":
                assert years_between(*sorted((head.birth_date, person.birth_date))) <= 15
            else:
                assert person.relation == "other"
                assert years_between(person.birth_date, people.as_of) >= 18


def test_names_follow_the_family(people: Population) -> None:
    for household in people.households:
        head = household.members[0]
        names = [p.name for p in household.members]
        assert len(set(names)) == len(names)
        for person in household.members:
            assert 2 <= len(person.name) <= 3
            assert all("\u4e00" <= char <= "\u9fff" for char in person.name)
            if person.relation == "spouse":
                assert person.name[0] != head.name[0]
            elif person.relation in ("child", "grandchild", "sibling"):
                assert person.name[0] == head.name[0]


def test_marital_status_is_consistent(people: Population) -> None:
    for household in people.households:
        head = household.members[0]
        spouse = next((p for p in household.members if p.relation == "spouse"), None)
        if spouse is not None:
            assert spouse.marital_status == "married"
            assert head.marital_status == ("widowed" if spouse.deceased else "married")
        else:
            assert head.marital_status != "married"
        for person in household.members:
            if years_between(person.birth_date, people.as_of) < 20:
                assert person.marital_status == "single"


def test_deaths_and_disabilities(people: Population) -> None:
    everyone = [p for h in people.households for p in h.members]
    deceased = [p for p in everyone if p.deceased]
    assert len(deceased) >= 3
    for person in deceased:
        assert person.death_date is not None
        assert person.birth_date < person.death_date <= people.as_of
    # Most registered deaths are also recorded on the household register.
    random_deceased = [p for h in random_households(people) for p in h.members if p.deceased]
    assert sum(not p.on_register for p in random_deceased) > len(random_deceased) / 2
    grades = Counter(p.disability_grade for p in everyone if p.disability_grade is not None)
    assert set(grades) == {1, 2, 3, 4}
    assert 0.02 < sum(grades.values()) / len(everyone) < 0.12


# -- income and assets ---------------------------------------------------------------------------------


def test_monthly_series_and_who_earns_what(people: Population) -> None:
    for household in random_households(people):
        for person in household.members:
            for series in (person.wages, person.business_income, person.pension):
                assert len(series) == 12
                assert all(amount >= 0 for amount in series)
            age = years_between(person.birth_date, people.as_of)
            if age < 16:
                assert monthly_income(person) == 0
            retired = age >= (60 if person.sex == "M" else 55)
            if retired and not person.deceased:
                assert all(amount > 0 for amount in person.pension)
                assert sum(person.wages) + sum(person.business_income) == 0
            if sum(person.business_income):
                assert person.businesses


def test_wages_are_regional_and_vary_a_little(people: Population) -> None:
    wages: dict[str, list[float]] = defaultdict(list)
    for household in random_households(people):
        for person in household.members:
            if all(person.wages):
                monthly = sorted(person.wages)
                wages[household.region].append(statistics.median(monthly))
                assert monthly[-2] <= monthly[1] * 1.5  # besides a bonus month, casual work varies most
    assert statistics.median(wages["110101"]) > 1.5 * statistics.median(wages["510502"])
    assert statistics.median(wages["110101"]) > 1.5 * statistics.median(wages["450902"])


def test_a_realistic_share_is_low_income(people: Population) -> None:
    households = random_households(people)
    low = [h for h in households if per_capita_income(h) < 1.5 * STANDARD[h.region]]
    assert 0.25 <= len(low) / len(households) <= 0.35
    for region in STANDARD:
        in_region = [h for h in households if h.region == region]
        assert 0.2 <= sum(h in low for h in in_region) / len(in_region) <= 0.4


def test_assets_properties_vehicles_businesses(people: Population) -> None:
    institutions = {"ICBC", "CCB", "ABC", "BOC", "BOCOM", "PSBC", "CMB", "CITIC-SEC", "HTSC", "GTJA"}
    institutions |= {"PICC", "CHINA-LIFE", "PINGAN"}
    certificates: dict[str, str] = {}
    accounts: set[str] = set()
    plates: set[str] = set()
    credit_codes: set[str] = set()
    joint_homes = 0
    for household in people.households:
        owned: dict[str, object] = {}
        for person in household.members:
            for asset in person.assets:
                assert asset.institution in institutions
                assert asset.amount >= 0
                assert asset.account_ref not in accounts
                accounts.add(asset.account_ref)
            for prop in person.properties:
                assert certificates.setdefault(prop.certificate, household.household_id) == household.household_id
                assert owned.setdefault(prop.certificate, prop) == prop
                assert prop.area_m2 > 0
                assert "不动产权第" in prop.certificate
            for vehicle in person.vehicles:
                assert vehicle.plate.startswith(PLATE_PREFIX[household.region])
                assert len(vehicle.plate) in (7, 8)
                assert vehicle.plate not in plates
                plates.add(vehicle.plate)
                assert vehicle.value > 0
            for business in {b.credit_code: b for b in person.businesses}.values():
                assert validate_credit_code(business.credit_code) == business.credit_code
                assert business.credit_code[2:8] == household.region
                assert business.registered_capital > 0
                credit_codes.add(business.credit_code)
            assert person.provident_fund_balance >= 0
        spouse = next((p for p in household.members if p.relation == "spouse"), None)
        if spouse is not None:
            head_homes = {p.certificate for p in household.members[0].properties if p.kind == "residential"}
            joint_homes += bool(head_homes & {p.certificate for p in spouse.properties})
    assert joint_homes > 200
    assert len(plates) > 300
    assert len(credit_codes) > 50
    assert sum(p.provident_fund_balance > 0 for h in people.households for p in h.members) > 500
    kinds = Counter(prop.kind for h in people.households for p in h.members for prop in p.properties)
    assert kinds["residential"] > kinds["commercial"] > 0


def test_enrollments_match_the_household(people: Population) -> None:
    programs: Counter[str] = Counter()
    for household in random_households(people):
        for person in household.members:
            for enrollment in person.enrollments:
                programs[enrollment.program] += 1
                assert enrollment.region == household.region
                assert enrollment.since <= people.as_of
                assert enrollment.monthly_amount >= 0
                if enrollment.program in ("dibao", "tekun"):
                    assert per_capita_income(household) < STANDARD[household.region]
                if enrollment.program == "marginal":
                    assert per_capita_income(household) < 1.5 * STANDARD[household.region]
    assert set(programs) == {"dibao", "marginal", "tekun", "rigid_expenditure"}
    assert programs["dibao"] > 100


# -- scenarios -----------------------------------------------------------------------------------------


def test_every_required_scenario_is_present(people: Population) -> None:
    assert {s.name: s.region for s in people.scenarios} == REQUIRED_SCENARIOS
    for scenario in people.scenarios:
        household = people.household(scenario.household_id)
        assert household.scenario == scenario.name
        assert household.region == scenario.region
        assert scenario.purpose == "dibao.application"
        assert scenario.description
        expected = scenario.expected
        assert set(expected) == {"indicators", "recommendation", "flags", "programs"}
        assert set(expected["indicators"]) == INDICATOR_CODES
        assert expected["recommendation"] in ("eligible", "ineligible", "review")


def indicators_of(members: Sequence[Person]) -> dict[str, Decimal | int]:
    """The indicator arithmetic of docs/population.md, written out plainly."""
    living = [m for m in members if m.death_date is None]
    size = len(living)
    income = Decimal(sum(monthly_income(m) for m in living)) / 12
    assets = sum(a.amount for m in members for a in m.assets)
    residential: dict[str, Decimal] = {}
    commercial: set[str] = set()
    for member in members:
        for prop in member.properties:
            if prop.kind == "residential":
                residential[prop.certificate] = Decimal(str(prop.area_m2))
            else:
                commercial.add(prop.certificate)
    businesses = {b.credit_code: b.registered_capital for m in members for b in m.businesses}
    return {
        "household_size": size,
        "monthly_income_total": income,
        "monthly_income_per_capita": income / size,
        "financial_assets_total": assets,
        "financial_assets_per_capita": Decimal(assets) / size,
        "residential_properties": len(residential),
        "residential_area_per_capita": sum(residential.values(), Decimal(0)) / size,
        "commercial_properties": len(commercial),
        "vehicles_count": sum(len(m.vehicles) for m in members),
        "vehicles_value": sum(v.value for m in members for v in m.vehicles),
        "registered_businesses": len(businesses),
        "registered_capital_total": sum(businesses.values()),
        "deceased_members": sum(m.death_date is not None for m in members),
        "existing_enrollments": sum(len(m.enrollments) for m in members),
        "medical_expenses_12m": sum(m.medical_expenses_12m for m in members),
        "disabled_members": sum(m.disability_grade is not None for m in members),
        "hukou_count": len({m.hukou_id for m in members if m.on_register}),
        "provident_fund_total": sum(m.provident_fund_balance for m in members),
    }


def outcome_of(region: str, members: Sequence[Person], values: dict[str, Any]) -> dict[str, Any]:
    """The design rules written at the top of scenarios.yaml."""
    standard = STANDARD[region]
    income = values["monthly_income_per_capita"]
    size = values["household_size"]
    assets_ok = (
        values["financial_assets_per_capita"] <= 24 * standard
        and values["residential_properties"] <= 1
        and values["commercial_properties"] == 0
        and all(v.value <= 50_000 for m in members for v in m.vehicles)
        and values["registered_businesses"] == 0
    )
    twelve_months = income * size * 12
    programs = []
    if assets_ok and income < standard:
        programs.append("dibao")
    if assets_ok and standard <= income < Decimal("1.5") * standard:
        programs.append("marginal")
    if assets_ok and income >= standard and (twelve_months - values["medical_expenses_12m"]) / 12 / size < standard:
        programs.append("rigid_expenditure")
    flags = []
    if values["deceased_members"]:
        flags.append("deceased_member")
    if any(e.region != region for m in members for e in m.enrollments):
        flags.append("duplicate_enrollment")
    if len({m.hukou_id for m in members}) > 1:
        flags.append("split_hukou")
    if {"deceased_member", "duplicate_enrollment"} & set(flags):
        recommendation = "review"
    else:
        recommendation = "eligible" if "dibao" in programs else "ineligible"
    return {"recommendation": recommendation, "flags": flags, "programs": programs}


@pytest.mark.parametrize("name", sorted(REQUIRED_SCENARIOS))
def test_scenario_expectations_recomputed_from_the_people(people: Population, name: str) -> None:
    scenario = people.scenario(name)
    members = people.household(scenario.household_id).members
    computed = indicators_of(members)
    for code, expected in scenario.expected["indicators"].items():
        value = computed[code]
        if isinstance(value, Decimal):
            assert Decimal(str(expected)).quantize(CENT) == value.quantize(CENT), code
        else:
            assert expected == value, code
    assert outcome_of(scenario.region, members, computed) == {
        key: scenario.expected[key] for key in ("recommendation", "flags", "programs")
    }


def test_scenario_people_have_generated_identifiers(people: Population) -> None:
    households = [h for h in people.households if h.scenario]
    joint = people.household("110101-clearly_eligible").members
    assert joint[0].properties == joint[1].properties
    shared_business = people.household("110101-income_above_standard").members
    assert shared_business[0].businesses == shared_business[1].businesses
    wife = people.household("450902-split_hukou").members[1]
    assert wife.hukou_region == "450921"
    assert wife.id_number.startswith("450921")
    assert all(
        p.vehicles[0].plate.startswith(PLATE_PREFIX[h.region]) for h in households for p in h.members if p.vehicles
    )


def test_a_malformed_scenario_file_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    document = yaml.safe_load(population.SCENARIOS_FILE.read_text(encoding="utf-8"))
    document["scenarios"][0]["members"][0]["wage"] = 3000  # misspelt key: must not be dropped silently
    broken = tmp_path / "scenarios.yaml"
    broken.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(population, "SCENARIOS_FILE", broken)
    with pytest.raises(ConfigurationError, match="clearly_eligible") as caught:
        generate(households=1)
    assert "王建国" not in str(caught.value)


def test_an_unknown_owner_is_refused_without_naming_anyone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    document = yaml.safe_load(population.SCENARIOS_FILE.read_text(encoding="utf-8"))
    document["scenarios"][0]["properties"][0]["owners"] = ["王建军"]
    broken = tmp_path / "scenarios.yaml"
    broken.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(population, "SCENARIOS_FILE", broken)
    with pytest.raises(ConfigurationError) as caught:
        generate(households=1)
    assert "王建军" not in str(caught.value)
