"""One exception root per package: every Exception class a package defines derives from its root.

A caller that wants "anything the printing side can raise" catches ``PrintingError``; one that
wants a particular failure catches its class. The walk imports every module of each package (its
subpackages too) and checks each class defined there, so an exception added later is held to it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

ROOTS = {
    "pos.wechatpay": ("pos.wechatpay.errors", "WeChatPayError"),
    "pos.ledger": ("pos.ledger.errors", "LedgerError"),
    "pos.printing": ("pos.printing.errors", "PrintingError"),
    "pos.till": ("pos.till.exceptions", "TillError"),
    "pos.orders": ("pos.orders.errors", "OrdersError"),
    "pos.listener": ("pos.listener.errors", "ListenerError"),
    "pos.sandbox": ("pos.sandbox.errors", "SandboxError"),
    "pos.reconcile": ("pos.reconcile.errors", "ReconcileError"),
    "pos.setup": ("pos.setup.errors", "SetupError"),
}


def modules_of(package_name: str) -> list[ModuleType]:
    package = importlib.import_module(package_name)
    found = [package]
    for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
        if ".migrations" in info.name:  # alembic's scripts run inside a migration, not on import
            continue
        found.append(importlib.import_module(info.name))
    return found


def exceptions_defined_in(module: ModuleType) -> list[type[BaseException]]:
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Exception)
        and not issubclass(value, Warning)  # a warning (PreviewFontWarning) is not an error
        and value.__module__ == module.__name__
    ]


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_exception_of_a_package_derives_from_its_root(package):
    module_name, root_name = ROOTS[package]
    root = getattr(importlib.import_module(module_name), root_name)
    assert root.__doc__, f"{module_name}.{root_name} says what it covers"
    defined = [cls for module in modules_of(package) for cls in exceptions_defined_in(module)]
    assert root in defined
    strays = [f"{cls.__module__}.{cls.__qualname__}" for cls in defined if not issubclass(cls, root)]
    assert strays == [], f"derive these from {root_name}"


def test_errors_callers_catch_as_value_errors_still_are():
    from pos.inputs import InputError
    from pos.orders.checkout import CheckoutError
    from pos.printing.devices.base import DeviceSpecError
    from pos.printing.encoder import EncodeError
    from pos.printing.profiles import ProfileError
    from pos.printing.qr import QRSizeError

    for cls in (CheckoutError, DeviceSpecError, EncodeError, ProfileError, QRSizeError, InputError):
        assert issubclass(cls, ValueError), cls
