"""The three ways the simulator says no, each mapped to the shape WeChat (or the phone) uses.

- :class:`Refused`  -> ``return_code=FAIL`` + ``return_msg``, no ``result_code``, unsigned
  (bad method, empty/bad body, bad signature, unknown merchant).
- :class:`Rejected` -> ``return_code=SUCCESS``, ``result_code=FAIL``, ``err_code``,
  ``err_code_des``, signed (the request was authentic; the business answer is no).
- :class:`CustomerError` -> a JSON error from the customer's side (``/_sim/pay``, ``/_sim/scan``).
"""

from __future__ import annotations


class SandboxError(Exception):
    """The root of every error the simulator raises: its refusals, rejections and customer errors."""


class Refused(SandboxError):
    def __init__(self, err_code: str, return_msg: str) -> None:
        super().__init__(f"{err_code}: {return_msg}")
        self.err_code = err_code
        self.return_msg = return_msg


class Rejected(SandboxError):
    def __init__(self, err_code: str, err_code_des: str) -> None:
        super().__init__(f"{err_code}: {err_code_des}")
        self.err_code = err_code
        self.err_code_des = err_code_des


class CustomerError(SandboxError):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
