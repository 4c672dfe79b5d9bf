"""A refund WeChat could not return (the simulator's ``refund_outcome: change``) is HELD in the
ledger and agrees with the bill's CHANGE row, before and after the manager pays it back."""

from __future__ import annotations

from pos.ledger import RefundState, SaleState


def test_a_held_refund_reconciles_before_and_after_the_manager_resolves_it(shop, sim):
    sale = shop.pay_by_notice(shop.ring_up(1800))
    sim.set_faults(refund_outcome="change", refund_seconds=30)
    refund = shop.refund(sale, 1800, complete=False)
    shop.advance(31)
    status = shop.client.refund_query(out_refund_no=refund.out_refund_no)
    assert [r.refund_status for r in status.refunds] == ["CHANGE"]
    shop.ledger.hold_refund(refund.out_refund_no, "refund_status=CHANGE")
    assert shop.ledger.get_sale(sale.id).state is SaleState.PAID

    held = shop.reconcile()
    assert held.status == "matched", [d.detail for d in held.differences]
    assert held.matched == 2  # the payment and its refund row (CHANGE)

    shop.ledger.resolve_held_refund(refund.out_refund_no, "other_means", by="manager", note="cash")
    assert shop.ledger.get_refund(refund.out_refund_no).state is RefundState.SUCCEEDED
    resolved = shop.reconcile()
    assert resolved.status == "matched", [d.detail for d in resolved.differences]


def test_a_held_refund_the_ledger_released_would_be_a_difference(shop, sim):
    sale = shop.pay_by_notice(shop.ring_up(900))
    sim.set_faults(refund_outcome="change", refund_seconds=30)
    refund = shop.refund(sale, 900, complete=False)
    shop.advance(31)
    shop.client.refund_query(out_refund_no=refund.out_refund_no)
    shop.ledger.fail_refund(refund.out_refund_no, "as older code did")  # released: the money looks free
    result = shop.reconcile()
    assert result.status == "differences"
    assert [d.out_trade_no for d in result.differences] == [sale.out_trade_no]
