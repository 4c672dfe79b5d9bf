"""What goes on paper: receipt documents as data, layout in printer cells, and the slip templates.

Nothing in this package knows ESC/POS; ``pos.printing.encoder`` turns a
``Document`` into bytes for one printer profile.
"""
