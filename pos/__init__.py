"""pos: a till for shops that take WeChat Pay by QR code on paper receipts."""

__version__ = "0.1.0"
