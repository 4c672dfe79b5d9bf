"""``pos doctor``'s line for v3 certificate mode: the platform certificates on disk, in date.

Runs after the key check, whose v3 client downloads the certificates when the folder has none
(certificate mode's first start), so on a working setup this line reads what that call kept.
It reads the folder only (no call of its own): a file refused here (changed, planted, written
with another APIv3 key) is one the till and the listener refuse too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pos.setup.checks import Context, Result, Status

NAME = "platform-certificates"


def check_platform_certificates(ctx: Context) -> Result:
    """Certificate mode: at least one platform certificate kept, checked and unexpired."""
    from pos.wechatpay.v3.certstore import CertificateStore

    merchant = ctx.cfg.merchant
    if merchant.api != "v3":
        return Result(NAME, Status.SKIP, "skipped: API v2 does not use platform certificates")
    if not merchant.platform_certificates_dir:
        return Result(NAME, Status.OK, f"public key mode ({merchant.wechatpay_public_key_id}): none needed")
    folder = merchant.platform_certificates_dir
    store = CertificateStore(folder, merchant.apiv3_key, clock=lambda: datetime.fromtimestamp(ctx.now(), UTC))
    fix = (
        f"remove the refused files from {folder}; the next call downloads WeChat's certificates again "
        "(check [merchant] apiv3_key_file if every file is refused: a changed APIv3 key refuses them all)"
    )
    if store.refused:
        return Result(NAME, Status.FAIL, "refused: " + "; ".join(store.refused), fix)
    newest = store.newest()
    if newest is None:
        return Result(
            NAME,
            Status.FAIL,
            f"no platform certificate in date in {folder}",
            "check the wechat-key line above (the download from /v3/certificates needs it); WeChat gives "
            "certificates only to merchants not switched to the public key (then set "
            "wechatpay_public_key_file and wechatpay_public_key_id instead)",
        )
    left = newest.not_after - store.clock()
    serials = ", ".join(h.serial_no for h in store.certificates)
    detail = (
        f"{len(store.certificates)} in {folder} ({serials}); newest valid until {newest.not_after:%Y-%m-%d}"
    )
    if left <= store.margin:
        return Result(
            NAME,
            Status.WARN,
            detail + f", under {store.margin.total_seconds() / 3600:.0f} h from now and no successor yet",
            "the till and listener keep asking /v3/certificates; see WeChat Pay's notices about certificate "
            "rotation",
        )
    return Result(NAME, Status.OK, detail)
