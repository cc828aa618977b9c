"""Returns processed per minute (Cin7 Core pattern): ``returns`` shipped, invoiced and returned orders, one returns
run crediting them all after inventory sync booked their stock-in; Cin7 calls per return.

Set-up (not measured): Cin7 orders released to Peoplevox, despatched there, shipped in Cin7 by dispatch confirmation,
invoiced by finance (the simulator), received back in a sellable condition, and booked in Cin7 by inventory sync.
Measured: one run of the returns DAG. The Cin7 limit is raised, so the figure is the flow's own speed; at Cin7's
real 60 calls per minute a return costs the calls counted here (see the notes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness import GOOD_SKUS, INTEGRATION, World

RAISED_SIM_RATE = 1_000_000
RAISED_CLIENT_RATE = 6000


def returns_processed(returns: int, workdir: Path) -> list[dict[str, Any]]:
    from erp_wms_simulators.peoplevox import Warehouse

    with World(workdir, cin7_rate=RAISED_SIM_RATE, client_rate=RAISED_CLIENT_RATE) as world:
        world.run_dag("item_master_sync")
        floor = Warehouse(world.stack.peoplevox, INTEGRATION)
        for sku in GOOD_SKUS:
            floor.goods_in(sku, 100_000, "MAIN")
            world.stack.cin7core.set_stock(sku, "Main Warehouse", 100_000)
        world.run_dag("inventory_sync")
        numbers = world.create_orders(returns, lines_per_order=1)
        world.run_dag("order_release")
        wanted = set(numbers)
        sales = {str(s["OrderNumber"]): s["SaleID"] for s in world.stack.cin7core.sales()
                 if str(s.get("OrderNumber")) in wanted}
        for number in numbers:
            floor.allocate(number)
            floor.start_picking(number)
            floor.pick(number)
            floor.despatch(number, carrier="Royal Mail", tracking=f"RM{number}")
        world.run_dag("dispatch_confirmation")
        for sale_id in sales.values():
            world.stack.cin7core.invoice_sale(sale_id)
        for number in numbers:
            sku = floor.order(number)["lines"][0]["item_code"]
            floor.receive_return(number, {sku: 1}, "sellable", f"RET-{number}")
        world.run_dag("inventory_sync")
        world.stack.reset_traffic()
        result = world.run_dag("returns")
        cin7 = world.stack.traffic()["cin7core"]
        notes = sum(len(world.stack.cin7core.sale(sale_id).get("CreditNotes") or []) for sale_id in sales.values())
    minutes = result.seconds / 60.0
    common = {"run": result.state, "failed_tasks": result.failed_tasks, "wall_seconds": result.seconds,
              "credit_notes": notes, "invoiced_sales": len(sales),
              "by_endpoint": {k: v["answered"] for k, v in cin7["endpoints"].items() if v["answered"]}}
    return [
        {"figure": "returns_processed_per_minute", "size": returns, "unit": "returns/min",
         "value": round(notes / minutes, 2) if minutes > 0 else None, "detail": common},
        {"figure": "cin7_calls_per_return", "size": returns, "unit": "calls/return",
         "value": round(cin7["answered"] / max(notes, 1), 2), "detail": common},
    ]
