"""Setting a kiosk up and checking it: ``pos init`` and ``pos doctor``.

These are command-line tools that sit above every other layer (like :mod:`pos.cli` and
:mod:`pos.demo`): they read the config, ask WeChat, the printer, the ledger and the listener
how they are, and tell a person what to fix. Nothing below imports them.

- ``init_cli``: ``pos init``, the questions and the files it writes (``kiosk``, ``prompts``,
  ``hardware`` for the printers it can see; ``init_v3`` for API v3's keys).
- ``doctor``: ``pos doctor``; its checks live in ``checks`` (this machine) and
  ``wechat_checks`` (WeChat, the certificate, the clock, the notify URL).

The registering modules import only the standard library and :mod:`pos.config` at the top,
so ``pos --help`` stays fast; everything else is imported when a command runs.
"""
