"""How a document becomes ink: printer profiles, the ESC/POS encoder, devices, status, previews.

- ``profiles``: what a class of printer can do (one TOML file per class).
- ``encoder``: a receipt document -> ESC/POS bytes for one profile.
- ``devices``: one small class per connection (usb, serial, tcp, file, dir) that moves bytes.
- ``status``: ``DLE EOT`` real-time status, where "no answer" is *unknown*, never "fine".
- ``preview``: ESC/POS bytes -> a picture of the paper, for the virtual printer, tests and people.
- ``devices.testing``: fake printers (loopback TCP, a pty) that answer ``DLE EOT`` like a real one.
- ``cli``: ``pos printer test|preview|status``.

The package imports nothing eagerly, so ``import pos.printing.status`` stays light.
"""
