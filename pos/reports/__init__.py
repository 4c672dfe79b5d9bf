"""Where a sale is reported: the figures of a business day (:mod:`pos.reports.day`).

A use case over the ledger: the manager's day view and CSV, ``pos report`` and the printed Z report
all take their numbers from here, so they cannot disagree by a fen.
"""
