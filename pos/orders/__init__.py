"""Orders: placing, settling and closing a sale's WeChat Pay order.

The one place that turns the cashier's intent (ring up, retry, void) and
WeChat's answers (paid, closed, ORDERPAID) into ledger transitions. It sits
between the services and the domain: the till's checkout and watcher and the
listener's mode-one callback all use it, so they follow the same rules (one
order per sale, the 5-minute close rule, readable failures) and neither
service imports the other.
"""

from pos.orders.checkout import Checkout, CheckoutError

__all__ = ["Checkout", "CheckoutError"]
