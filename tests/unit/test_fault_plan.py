"""FaultPlan: seeded determinism, per-endpoint streams, limits, profiles, knob parsing and thread safety."""

from __future__ import annotations

import threading

import pytest

from erp_wms_simulators.faults import FAULT_KINDS, PROFILES, FaultPlan, FaultRule, parse_knob
from erp_wms_simulators.server import SimulatorStack, split_knob


def sequence(plan: FaultPlan, kind: str, endpoint: str, calls: int = 200) -> list[bool]:
    return [plan.fires(kind, endpoint) is not None for _ in range(calls)]


def test_same_seed_gives_the_same_faults_and_another_seed_differs() -> None:
    first = sequence(FaultPlan("cin7core", "hostile", seed=7), "http_5xx", "GET /externalapi/v2/product")
    again = sequence(FaultPlan("cin7core", "hostile", seed=7), "http_5xx", "GET /externalapi/v2/product")
    other = sequence(FaultPlan("cin7core", "hostile", seed=8), "http_5xx", "GET /externalapi/v2/product")
    assert first == again
    assert first != other
    assert 0 < sum(first) < len(first)


def test_calls_to_one_endpoint_do_not_shift_another_endpoints_faults() -> None:
    alone = FaultPlan("peoplevox", rules=[FaultRule("http_5xx", 0.4)], seed=3)
    expected = sequence(alone, "http_5xx", "GetData", 50)
    mixed = FaultPlan("peoplevox", rules=[FaultRule("http_5xx", 0.4)], seed=3)
    seen = []
    for _ in range(50):
        mixed.fires("http_5xx", "SaveData")
        mixed.fires("slow", "GetData")
        seen.append(mixed.fires("http_5xx", "GetData") is not None)
    assert seen == expected


def test_endpoint_names_are_globs_matched_ignoring_case() -> None:
    plan = FaultPlan("peoplevox", rules=[FaultRule("http_5xx", endpoint="savedata"),
                                         FaultRule("slow", endpoint="GET /ExternalApi/*", delay_seconds=0.1)])
    assert plan.fires("http_5xx", "SaveData") is not None
    assert plan.fires("http_5xx", "GetData") is None
    assert plan.fires("slow", "GET /externalapi/v2/product") is not None
    assert plan.fires("slow", "POST /externalapi/v2/product") is None


def test_count_caps_how_often_a_rule_fires() -> None:
    plan = FaultPlan("bluecherry", rules=[FaultRule("http_5xx", count=3)])
    assert sum(sequence(plan, "http_5xx", "GET /api/v1/skus", 10)) == 3
    assert plan.to_dict()["fired"] == {"http_5xx": 3}
    assert plan.to_dict()["rules"][0]["fired"] == 3


def test_a_rate_limit_burst_refuses_exactly_burst_consecutive_calls() -> None:
    plan = FaultPlan("cin7core", rules=[FaultRule("rate_limit_burst", count=1, burst=4, retry_after=9)])
    refused = [plan.fires("rate_limit_burst", "GET /externalapi/v2/product") for _ in range(7)]
    assert [rule is not None for rule in refused] == [True] * 4 + [False] * 3
    assert refused[0] is not None and refused[0].status == 429 and refused[0].retry_after == 9


def test_probability_zero_never_fires_and_nothing_fires_without_rules() -> None:
    assert not any(sequence(FaultPlan("x", rules=[FaultRule("slow", 0.0)]), "slow", "GET /"))
    assert not any(sequence(FaultPlan.none("x"), "http_5xx", "GET /"))
    assert not FaultPlan.none("x").active


def test_kind_defaults_and_validation() -> None:
    assert FaultRule("http_5xx").status == 503
    assert FaultRule("rate_limit_burst").status == 429
    assert FaultRule("timeout").status == 504
    assert FaultRule("rate_limit_burst", status=503).status == 503  # Cin7 Core's documented limit status
    with pytest.raises(ValueError, match="unknown fault kind 'teapot'.*http_5xx.*malformed_report_rows"):
        FaultRule("teapot")
    with pytest.raises(ValueError, match="probability must be between 0 and 1"):
        FaultRule("http_5xx", 1.5)
    with pytest.raises(ValueError, match="delay must be between 0 and 300"):
        FaultRule("timeout", delay_seconds=3600)
    with pytest.raises(ValueError, match="burst must be between"):
        FaultRule("rate_limit_burst", burst=0)
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultPlan("x").fires("nope", "GET /")


def test_profiles_are_valid_and_escalate() -> None:
    assert PROFILES["none"] == []
    flaky = {rule.kind for rule in PROFILES["flaky"]}
    hostile = {rule.kind for rule in PROFILES["hostile"]}
    assert {"http_5xx", "slow", "drop_callback", "duplicate_callback"} <= flaky
    assert "timeout" not in flaky
    assert hostile == set(FAULT_KINDS)
    for name, rules in PROFILES.items():
        plan = FaultPlan("x", name, seed=1)
        assert plan.profile == name and len(plan.rules) == len(rules)
    rate = {rule.kind: rule.probability for rule in PROFILES["flaky"]}
    assert all(rule.probability >= rate.get(rule.kind, 0) for rule in PROFILES["hostile"] if rule.status != 500)
    with pytest.raises(ValueError, match="unknown fault profile 'chaos'; choose from none, flaky, hostile"):
        FaultPlan("x", "chaos")


def test_plans_copy_profile_rules_so_one_plan_cannot_change_another() -> None:
    plan = FaultPlan("x", "flaky")
    plan.rules[0].probability = 1.0
    assert FaultPlan("y", "flaky").rules[0].probability == PROFILES["flaky"][0].probability


def test_set_profile_clear_and_reseed() -> None:
    plan = FaultPlan("x")
    plan.set_profile("hostile", seed=11)
    assert (plan.profile, plan.seed, plan.active) == ("hostile", 11, True)
    first = sequence(plan, "http_5xx", "GET /a", 30)
    plan.reseed(11)
    assert sequence(plan, "http_5xx", "GET /a", 30) == first
    plan.clear()
    assert (plan.profile, plan.seed, plan.active, plan.to_dict()["fired"]) == ("none", 11, False, {})


def test_knobs_parse_every_option() -> None:
    rule = parse_knob("rate_limit_burst@GET /externalapi/*=0.25,status=503,count=2,retry_after=30,burst=3")
    assert (rule.kind, rule.endpoint, rule.probability) == ("rate_limit_burst", "GET /externalapi/*", 0.25)
    assert (rule.status, rule.count, rule.retry_after, rule.burst) == (503, 2, 30, 3)
    slow = parse_knob(" slow=1,delay=0.2 ")
    assert (slow.endpoint, slow.delay_seconds) == ("*", 0.2)
    plan = FaultPlan("peoplevox")
    plan.set_knob("http_5xx@SaveData=1")
    assert plan.fires("http_5xx", "SaveData") is not None and plan.fires("http_5xx", "GetData") is None


@pytest.mark.parametrize(("knob", "message"), [
    ("http_5xx", "must look like kind\\[@endpoint\\]=probability"),
    ("teapot@x=1", "unknown kind 'teapot'"),
    ("http_5xx@=1", "the endpoint after '@' is empty"),
    ("http_5xx=often", "probability must be a number, got 'often'"),
    ("http_5xx=2", "probability must be between 0 and 1"),
    ("slow=1,delay=soon", "delay must be a number, got 'soon'"),
    ("slow=1,colour=red", "bad option 'colour=red'"),
    ("http_5xx=1,status=200", "status must be an HTTP error status"),
])
def test_knob_errors_name_the_bad_part(knob: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_knob(knob)


def test_rules_from_json_objects() -> None:
    rule = FaultRule.from_dict({"kind": "timeout", "delay": 0.5, "endpoint": "GetData"})
    assert (rule.kind, rule.delay_seconds, rule.endpoint) == ("timeout", 0.5, "GetData")
    with pytest.raises(ValueError, match="unknown fault rule field"):
        FaultRule.from_dict({"kind": "slow", "latency": 3})
    with pytest.raises(ValueError, match="needs a 'kind'"):
        FaultRule.from_dict({"probability": 1})


def test_concurrent_callers_never_exceed_the_count() -> None:
    plan = FaultPlan("x", rules=[FaultRule("http_5xx", count=250)])
    fired: list[int] = []

    def hammer() -> None:
        fired.append(sum(sequence(plan, "http_5xx", "GET /busy", 100)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sum(fired) == 250 == plan.count("http_5xx")


def test_the_fired_log_is_bounded() -> None:
    plan = FaultPlan("x", rules=[FaultRule("slow")])
    sequence(plan, "slow", "GET /", 1500)
    assert len(plan.fired) == 1000 and plan.fired[-1] == ("slow", "GET /")
    assert plan.count("slow") == 1500


def test_cli_knobs_may_target_one_simulator() -> None:
    assert split_knob("peoplevox:http_5xx@SaveData=0.3") == ("peoplevox", "http_5xx@SaveData=0.3")
    assert split_knob("http_5xx@GET /x=1") == (None, "http_5xx@GET /x=1")
    with pytest.raises(ValueError, match="unknown kind 'bogus'"):
        SimulatorStack(knobs=["cin7core:bogus=1"])
    with pytest.raises(ValueError, match="unknown fault profile"):
        SimulatorStack(faults="evil")
