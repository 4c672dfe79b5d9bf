"""What the spooler checks before the first customer: the profile, the font, the device, the language.

Each refusal is a :class:`~pos.till.exceptions.SpoolerConfigError` (a
:class:`~pos.config.ConfigError`) naming the setting to change, raised when the till starts
rather than when a customer is waiting for a slip.
"""

from __future__ import annotations

from dataclasses import dataclass

from pos.config import Config
from pos.printing import fonts
from pos.printing.devices import DeviceSpecError, PrinterDevice, open_device
from pos.printing.encoder import EncodeError, encode
from pos.printing.fonts import Font
from pos.printing.profiles import PrinterProfile, ProfileError, load_profile
from pos.receipts import samples, templates
from pos.till.exceptions import SpoolerConfigError


@dataclass(frozen=True)
class PrinterSetup:
    """The printer the spooler owns: its profile, the raster font for text, and the open device."""

    profile: PrinterProfile
    raster_font: Font
    device: PrinterDevice


def set_up_printer(
    config: Config, *, profile: PrinterProfile | None = None, device: PrinterDevice | None = None
) -> PrinterSetup:
    """Load ``[printer] profile``, pick the font, open ``[printer] device`` and prove the store's
    slips print on them. ``profile`` and ``device`` replace the configured ones (tests).

    :raises SpoolerConfigError: bad device string, unknown profile, a font that lacks the slips'
        characters, or a profile that cannot print the store's language.
    """
    printer = config.printer
    if profile is None:
        extra = [printer.profiles_dir] if printer.profiles_dir else []
        try:
            profile = load_profile(printer.profile, extra)
        except ProfileError as exc:
            raise SpoolerConfigError(f"{config.source}: [printer] profile: {exc}") from exc
    problem = fonts.font_problem(config)
    if problem:
        raise SpoolerConfigError(f"{config.source}: {problem}")
    raster_font = fonts.for_config(config)
    if device is None:
        try:
            device = open_device(printer.device, width_dots=profile.printable_dots, font=raster_font)
        except DeviceSpecError as exc:
            raise SpoolerConfigError(f"{config.source}: [printer] device: {exc}") from exc
    check_language(config, profile, raster_font)
    return PrinterSetup(profile=profile, raster_font=raster_font, device=device)


def check_language(config: Config, profile: PrinterProfile, raster_font: Font) -> None:
    """Encode a sample slip with the store's name, footer and language now, so a printer that
    cannot print them is refused at start-up rather than at the first customer."""
    store = config.store
    sample = samples.sale(3, ascii_only=store.language == "en")
    probe = templates.SaleSlipData(
        store_name=store.name,
        lane="01",
        cashier="",
        out_trade_no=sample.out_trade_no,
        items=sample.items,
        total_fen=sample.total_fen,
        code_url=sample.code_url,
        expires_at=sample.expires_at,
        timezone=store.timezone,
        created_at=sample.created_at,
        store_address=store.address,
        store_phone=store.phone,
        footer=store.footer,
    )
    try:
        document = templates.sale_slip(probe, profile.columns, store.language)
        encode(document, profile, raster_font=raster_font)
    except (EncodeError, ValueError) as exc:
        raise SpoolerConfigError(
            f"{config.source}: printer profile {profile.name!r} cannot print this store's "
            f"slips ([store] language = {store.language!r}): {exc}"
        ) from exc
