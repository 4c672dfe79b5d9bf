"""Printer profiles: one TOML file per printer class, named by its file name.

Each file says what a class of ESC/POS printer can do (paper and printable
width, dpi, columns per font, Chinese mode, QR mode, cutter, status, cash
drawer) and which python-escpos capability profile it builds on. The loader
and the meaning of every key live in ``pos.printing.profiles``; a site adds
its own files in the directory named by ``[printer] profiles_dir``.
"""
