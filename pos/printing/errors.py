"""The root of every error the printing side raises: :class:`PrintingError`.

Profiles, the encoder, QR sizing, fonts, raster text, previews and devices each have their own
error class under it, so a caller can catch one failure or anything printing can raise. Errors
about bad input (a profile, a font, a QR that does not fit) are also ``ValueError``\\ s, as they
were before this root existed, so code that catches ``ValueError`` behaves as it did.
"""

from __future__ import annotations


class PrintingError(Exception):
    """Anything the printing package (profiles, encoder, fonts, previews, devices) raises."""
