"""Moved to :mod:`pos.orders.checkout`; an alias until code written against this path is updated."""

from pos.orders.checkout import *  # noqa: F403
from pos.orders.checkout import Checkout, CheckoutError, close_and_settle, message, settle_paid  # noqa: F401
