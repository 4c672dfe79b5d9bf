"""The simulator's v3 merchant written to disk as ``[merchant]`` settings: what the demo and tests use.

A v3 merchant's secrets live in files (the private key, the APIv3 key, both 0600) and the config
names them, exactly as a real shop's would (see :mod:`pos.config.v3`). Writing the simulator's
identity the same way means the demo and the tests load v3 through the real config path, mode
checks included, rather than a shortcut around it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

from pos.config import MerchantConfig, write_secret_file
from pos.config.v3 import resolve_v3


def write_v3_files(
    directory: Path, identity: Mapping[str, str], *, certificate_mode: bool = False
) -> dict[str, str]:
    """Write ``identity`` (``GET /_sim/``'s v3 keys) under ``directory``; the ``[merchant]`` keys
    that name the files (``api = "v3"`` included). ``certificate_mode``: WeChat's side is an empty
    ``platform_certificates`` folder (filled from ``/v3/certificates``) instead of the public key."""
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / "apiclient_key.pem"
    apiv3 = directory / "apiv3_key"
    public = directory / "wechatpay_public_key.pem"
    write_secret_file(private, identity["merchant_private_key"])
    write_secret_file(apiv3, identity["apiv3_key"] + "\n")
    settings = {
        "api": "v3",
        "appid": identity["appid"],
        "mch_id": identity["mchid"],
        "merchant_serial_no": identity["merchant_serial_no"],
        "private_key_file": str(private),
        "apiv3_key_file": str(apiv3),
    }
    if certificate_mode:
        settings["platform_certificates_dir"] = str(directory / "platform_certificates")
        return settings
    public.write_text(identity["wechatpay_public_key"], encoding="utf-8")
    settings["wechatpay_public_key_file"] = str(public)
    settings["wechatpay_public_key_id"] = identity["wechatpay_public_key_id"]
    return settings


def v3_merchant(
    base: MerchantConfig, directory: Path, identity: Mapping[str, str], *, certificate_mode: bool = False
) -> MerchantConfig:
    """``base`` switched to the simulator's v3 merchant, its keys read back through the config checks
    (in ``certificate_mode``, with platform certificates instead of the public key)."""
    settings = write_v3_files(directory, identity, certificate_mode=certificate_mode)
    merchant = dataclasses.replace(base, **settings)
    return resolve_v3(merchant, settings, "<sim v3>", {})


def use_v3_in_config(config_path: Path, directory: Path, identity: Mapping[str, str]) -> None:
    """Switch the demo's pos.toml (0600) to v3: key files under ``directory``, their names and
    ``api = "v3"`` added at the top of its ``[merchant]`` table. The v2 keys stay (mode one)."""
    settings = write_v3_files(directory, identity)
    text = config_path.read_text(encoding="utf-8")
    if "[merchant]\n" not in text:
        raise ValueError(f"{config_path} has no [merchant] table")
    for key in ("appid", "mch_id"):  # one merchant on both APIs: the v2 lines already name it
        text = re.sub(rf"(?m)^{key} = .*\n", "", text, count=1)
    lines = "".join(f'{key} = "{value}"\n' for key, value in settings.items())
    note = "# API v3: the simulator's v3 merchant, keys in 0600 files beside this one\n"
    write_secret_file(config_path, text.replace("[merchant]\n", "[merchant]\n" + note + lines, 1))
