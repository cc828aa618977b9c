"""The sequencing rules of inventory sync: which stock counts, what a movement changes, and the plan per SKU × site
(in Peoplevox's order, despatches left to dispatch confirmation, stale movements set aside)."""

from __future__ import annotations

import pytest

from erp_wms_sync.domain import stock_sequencing as seq

RULES = seq.LocationRules(("*",), ("QUARANTINE*",), ("Goods in", "Customer", "Despatched", "Adjustment"))


def move(history_id: int, delta: int, kind: str = seq.STOCK, order: str = "", quantity: int | None = None,
         item: str = "A", site: str = "MAIN") -> seq.Move:
    size = abs(delta) if quantity is None else quantity
    return seq.Move(history_id, history_id, item, site, delta, kind, order, size)


def states(**by_history: str):
    return lambda m: by_history.get(f"h{m.history_id}", seq.BOOKED)


def test_counted_locations_follow_the_settings() -> None:
    assert RULES.counts("A-01-01") and RULES.counts("DESPATCH")
    assert not RULES.counts("QUARANTINE") and not RULES.counts("quarantine-2")
    assert not RULES.counts("Goods in") and not RULES.counts("") and not RULES.counts("X", "Customer")
    picky = seq.LocationRules(("A-*", "despatch"))
    assert picky.counts("a-02-03") and picky.counts("DESPATCH") and not picky.counts("B-01-01")
    with pytest.raises(ValueError, match="no sellable locations"):
        seq.LocationRules(("  ",))


@pytest.mark.parametrize(("source", "target", "delta"), [
    ("Goods in", "A-01-01", 5),  # goods in
    ("A-01-01", "DESPATCH", 0),  # pick: Cin7 still holds it
    ("DESPATCH", "Despatched", -5),  # despatch
    ("A-01-01", "QUARANTINE", -5),  # damaged: no longer sellable
    ("Adjustment", "QUARANTINE", 0),  # damaged stock booked straight into quarantine
    ("Customer", "A-01-01", 5),  # sellable return
])
def test_counted_delta(source: str, target: str, delta: int) -> None:
    assert seq.counted_delta(5, source, target, RULES) == delta


def test_only_stock_leaving_against_an_order_as_a_despatch_is_a_despatch() -> None:
    assert seq.movement_kind(-2, "SO1", "Despatch", "Despatched") == seq.DESPATCH
    assert seq.movement_kind(-2, "SO1", "Short pick", "Short pick") == seq.STOCK
    assert seq.movement_kind(-2, "", "Despatch", "Despatched") == seq.STOCK
    assert seq.movement_kind(0, "SO1", "Pick", "DESPATCH") == seq.STOCK


def test_a_pair_is_planned_in_history_order_whatever_the_arrival_order() -> None:
    moves = [move(12, -3), move(10, 5), move(11, 2), move(10, 5)]  # shuffled, one repeated
    plan = seq.plan_pair(seq.Position(9, 20), moves, states())
    assert [m.history_id for m in plan.apply] == [10, 11, 12]
    assert (plan.counted, plan.through, plan.target, plan.needs_adjustment) == (24, 12, 24, True)


def test_older_movements_are_stale_unless_the_opening_snapshot_holds_them() -> None:
    plan = seq.plan_pair(seq.Position(50, 10, opened_history_id=40), [move(30, 1), move(45, 1), move(51, 1)],
                         states())
    assert [m.history_id for m in plan.in_opening] == [30]
    assert [m.history_id for m in plan.stale] == [45]
    assert [m.history_id for m in plan.apply] == [51] and plan.counted == 11


def test_a_despatch_cin7_has_not_shipped_holds_the_pair_back() -> None:
    moves = [move(1, 4), move(2, -2, seq.DESPATCH, "SO1"), move(3, 1)]
    plan = seq.plan_pair(seq.Position(0, 0), moves, states(h2=seq.PENDING))
    assert [m.history_id for m in plan.apply] == [1] and [m.history_id for m in plan.waiting] == [2, 3]
    assert (plan.counted, plan.through) == (4, 1)


def test_despatches_shipped_refused_or_without_an_erp_order() -> None:
    shipped = seq.plan_pair(seq.Position(0, 10), [move(1, -2, seq.DESPATCH, "SO1")], states())
    assert (shipped.target, shipped.needs_adjustment) == (8, False)  # Cin7 took it out itself
    refused = seq.plan_pair(seq.Position(0, 10), [move(1, -2, seq.DESPATCH, "SO1")], states(h1=seq.REFUSED))
    assert (refused.counted, refused.compensation, refused.target) == (8, 2, 10)
    unknown = seq.plan_pair(seq.Position(0, 10), [move(1, -2, seq.DESPATCH, "SO9")], states(h1=seq.NO_ERP_ORDER))
    assert (unknown.target, unknown.needs_adjustment) == (8, True)
    overwritten = seq.plan_pair(seq.Position(0, 10), [move(1, -2, seq.DESPATCH, "SO1")],
                                states(h1=seq.OVERWRITTEN))
    assert (overwritten.target, overwritten.needs_adjustment) == (8, True)
    earlier = seq.plan_pair(seq.Position(0, 10), [move(1, 3)], states(), refused_earlier=2)
    assert earlier.target == 15  # a still-refused despatch applied before keeps its stock in Cin7


def test_a_pair_with_only_picks_needs_no_adjustment() -> None:
    plan = seq.plan_pair(seq.Position(0, 10), [move(1, 0), move(2, 0)], states())
    assert not plan.needs_adjustment and plan.through == 2


def test_opening_from_a_snapshot() -> None:
    moves = [move(3, 5), move(4, -1, seq.DESPATCH, "SO1"), move(8, 2)]
    assert seq.plan_opening(30, 5, moves, states(h4=seq.PENDING)) is None  # the snapshot has it out, Cin7 not yet
    plan = seq.plan_opening(30, 5, moves, states(h4=seq.REFUSED))
    assert plan is not None
    assert [m.history_id for m in plan.in_opening] == [3, 4] and [m.history_id for m in plan.apply] == [8]
    assert (plan.counted, plan.compensation, plan.target, plan.needs_adjustment) == (32, 1, 33, True)


def test_a_plan_refuses_a_movement_of_another_pair() -> None:
    with pytest.raises(ValueError, match="is for"):
        seq.plan_pair(seq.Position(0, 0), [move(1, 1), move(2, 1, item="B")], states())


def test_batches_carry_only_pairs_that_change_in_stable_order() -> None:
    plans = [seq.plan_pair(seq.Position(0, 0), [move(1, n + 1, item=f"I{n}")], states()) for n in range(5)]
    plans.append(seq.plan_pair(seq.Position(0, 0), [move(1, 0, item="PICKED")], states()))
    batches = seq.batches(plans, 2)
    assert [[p.item_code for p in b] for b in batches] == [["I0", "I1"], ["I2", "I3"], ["I4"]]
