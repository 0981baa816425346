"""Each misuse rule driven over a generated log: the alert comes at the threshold, names the entries behind
it, and nothing is raised for the same traffic below the threshold or inside the rules."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.misuse.detector import Alert, Detector, serves
from gateway.misuse.rules import MisuseRules, load_rules, parse_rules

RULES = Path(__file__).resolve().parents[3] / "contracts" / "misuse-rules.yaml"
MIS = "CN/GOV/11110101MB12345677/dibao-mis"
# Tuesday 2026-07-07 10:00 in Beijing, inside office hours.
OFFICE = datetime(2026, 7, 7, 2, 0, tzinfo=UTC)


def rules(**thresholds: int) -> MisuseRules:
    loaded = load_rules(RULES)
    changed = [
        rule.model_copy(update={"threshold": thresholds[rule.id]}) if rule.id in thresholds else rule
        for rule in loaded.rules
    ]
    return loaded.model_copy(update={"rules": tuple(changed)})


def ref(n: int) -> str:
    return hashlib.sha256(f"person {n}".encode()).hexdigest()


class Log:
    """A generated log: entries with increasing leaf indices and times."""

    def __init__(self, start: datetime = OFFICE) -> None:
        self.now = start
        self.leaves = itertools.count()

    def request(
        self,
        *people: int,
        operator: str = "staff-1",
        region: str = "110101",
        vid: str | None = None,
        actor: str = MIS,
        step_s: float = 10,
    ) -> tuple[int, dict[str, Any]]:
        self.now += timedelta(seconds=step_s)
        leaf = next(self.leaves)
        return leaf, {
            "type": "verification.requested",
            "time": self.now.isoformat(),
            "actor": actor,
            "operator": operator,
            "verification_id": vid or f"v-{leaf}",
            "region": region,
            "purpose": "dibao.application",
            "subject_refs": [ref(p) for p in people],
        }

    def end(self, vid: str, kind: str = "verification.completed", **extra: Any) -> tuple[int, dict[str, Any]]:
        self.now += timedelta(seconds=1)
        leaf = next(self.leaves)
        return leaf, {
            "type": kind,
            "time": self.now.isoformat(),
            "actor": MIS,
            "operator": "staff-1",
            "verification_id": vid,
            **extra,
        }


def run(
    detector: Detector, entries: Iterator[tuple[int, dict[str, Any]]] | list[tuple[int, dict[str, Any]]]
) -> list[Alert]:
    return [alert for leaf, entry in entries for alert in detector.feed(leaf, entry)]


def test_the_shipped_rules_load_and_every_kind_is_covered() -> None:
    loaded = load_rules(RULES)
    assert {rule.kind for rule in loaded.rules} == {
        "many_subjects",
        "off_hours",
        "consent_refusals",
        "watch_list",
        "foreign_region",
        "no_completion",
    }


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("threshold: 30", "threshold: 0"),
        ("window_s: 3600", "window_s: -5"),
        ("kind: off_hours", "kind: stargazing"),
        ("timezone: Asia/Shanghai", "timezone: Mars/Olympus"),
        ('start: "08:00"', 'start: "8am"'),
        ("id: watch_list", "id: many_subjects"),
    ],
)
def test_invalid_rules_are_refused(change: str, where: str) -> None:
    from gateway.errors import MisuseRulesInvalid

    text = RULES.read_text(encoding="utf-8")
    assert change in text
    with pytest.raises(MisuseRulesInvalid):
        parse_rules(text.replace(change, where, 1))


def test_many_unrelated_people_by_one_operator() -> None:
    detector = Detector(rules(many_subjects=5))
    log = Log()
    # Looking up the same household again is one look-up, not ten.
    assert run(detector, [log.request(1, 2) for _ in range(10)]) == []
    entries = [log.request(10 + n) for n in range(3)]
    assert run(detector, entries) == []
    last = log.request(99)
    alerts = run(detector, [last])
    assert [a.rule for a in alerts] == ["many_subjects"]
    assert alerts[0].key == f"{MIS} staff-1"
    assert set(alerts[0].leaf_indices) == {0} | {leaf for leaf, _ in entries} | {last[0]}


def test_many_subjects_counts_within_the_window_only() -> None:
    detector = Detector(rules(many_subjects=3))
    log = Log()
    entries = [log.request(n, step_s=3000) for n in range(10)]  # 50 minutes apart: at most 2 in an hour
    assert run(detector, entries) == []


def test_another_operator_is_counted_apart() -> None:
    detector = Detector(rules(many_subjects=4))
    log = Log()
    entries = [log.request(n, operator=f"staff-{n % 2}") for n in range(6)]
    assert run(detector, entries) == []


def test_off_hours_lookups() -> None:
    detector = Detector(rules(off_hours=3))
    log = Log(datetime(2026, 7, 7, 14, 0, tzinfo=UTC))  # 22:00 in Beijing
    alerts = run(detector, [log.request(n) for n in range(3)])
    assert [a.rule for a in alerts] == ["off_hours"]
    saturday = Log(datetime(2026, 7, 11, 2, 0, tzinfo=UTC))  # Saturday 10:00 in Beijing
    assert [a.rule for a in run(Detector(rules(off_hours=2)), [saturday.request(1), saturday.request(2)])] == [
        "off_hours"
    ]
    office = Log()
    assert run(Detector(rules(off_hours=1)), [office.request(n) for n in range(5)]) == []


def test_repeated_consent_refusals() -> None:
    detector = Detector(rules())
    log = Log()
    refusals = [log.end(f"x-{n}", "verification.rejected", reason="consent_missing") for n in range(3)]
    others = [log.end(f"y-{n}", "verification.rejected", reason="scope_missing") for n in range(5)]
    alerts = run(detector, [*refusals[:2], *others, refusals[2]])
    assert [(a.rule, a.leaf_indices) for a in alerts] == [("consent_refusals", tuple(leaf for leaf, _ in refusals))]


def test_watch_list_subject_looked_up() -> None:
    watched = {ref(7)}
    detector = Detector(rules(), watch_list=lambda: watched)
    log = Log()
    assert run(detector, [log.request(1), log.request(2, 3)]) == []
    hit = log.request(6, 7)
    assert [(a.rule, a.leaf_indices) for a in run(detector, [hit])] == [("watch_list", (hit[0],))]


def test_member_querying_a_region_it_never_serves() -> None:
    regions = {MIS: "110101", "CN/GOV/11110000MB1234567X/city": "110000"}
    detector = Detector(rules(), member_regions=lambda: regions)
    log = Log()
    assert run(detector, [log.request(1, region="110101")]) == []
    assert run(detector, [log.request(2, region="110105", actor="CN/GOV/11110000MB1234567X/city")]) == []
    foreign = log.request(3, region="510502")
    alerts = run(detector, [foreign])
    assert [(a.rule, a.key, a.leaf_indices) for a in alerts] == [("foreign_region", MIS, (foreign[0],))]


def test_region_coverage_follows_gbt_2260() -> None:
    assert serves("110000", "110101") and serves("110100", "110105") and serves("110101", "110101")
    assert not serves("110101", "110102") and not serves("110100", "110201") and serves(None, "110101")


def test_lookups_without_later_completion() -> None:
    detector = Detector(rules(no_completion=2))
    log = Log()
    done = log.request(1, vid="done")
    finished = log.end("done")
    stuck = [log.request(2, vid="stuck-1"), log.request(3, vid="stuck-2")]
    assert run(detector, [done, finished, *stuck]) == []
    # Ten minutes later nothing has ended them: the next tick counts both.
    alerts = detector.tick(log.now + timedelta(seconds=601))
    assert [(a.rule, a.leaf_indices) for a in alerts] == [("no_completion", tuple(leaf for leaf, _ in stuck))]
    assert detector.tick(log.now + timedelta(seconds=9999)) == []


def test_a_rejection_ends_a_request_too() -> None:
    detector = Detector(rules(no_completion=1))
    log = Log()
    run(detector, [log.request(1, vid="r"), log.end("r", "verification.rejected", reason="consent_missing")])
    assert detector.tick(log.now + timedelta(days=1)) == []
