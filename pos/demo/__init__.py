"""``pos demo``: the whole loop on this machine — simulator, listener and till on loopback.

A newcomer runs one command and gets a working shop: the WeChat Pay simulator
(8702) stands in for WeChat, the listener (8701) receives its signed
notifications, and the till (8700) serves the cashier's page with a virtual
``dir:`` printer that writes every job's bytes and a PNG picture of it. The
configuration is written to ``<dir>/pos.toml`` so every other command
(``pos sale``, ``pos printer preview``, ...) works on the demo's data with
``--config <dir>/pos.toml``.

The three share one clock, the simulator's, so ``--auto`` can pass a
15-minute deadline in a moment and the till and "WeChat" still agree on the
time. ``--auto`` runs a short scripted shift without a person and exits 0 when
every sale ended as it should.

This is the one production package besides cli.py that imports pos.sandbox.

The parts: :mod:`.cli` (the command), :mod:`.files` (the demo's pos.toml, its lock, the manager's
password and the cashier), :mod:`.shop` (the running services) and :mod:`.shift` (``--auto``).
"""

from pos.lazy import lazy_exports

# Loaded when first asked for, so that `pos --help` imports only pos.demo.cli (see pos/cli.py).
__getattr__ = lazy_exports(
    __name__,
    {
        "banner": "pos.demo.shop",
        "running_shop": "pos.demo.shop",
        "DemoShop": "pos.demo.shop",
        "auto_shift": "pos.demo.shift",
        "demo_config_text": "pos.demo.files",
        "set_demo_manager_password": "pos.demo.files",
        "write_demo_config": "pos.demo.files",
    },
)

__all__ = [
    "DemoShop",
    "auto_shift",
    "banner",
    "demo_config_text",
    "running_shop",
    "set_demo_manager_password",
    "write_demo_config",
]
