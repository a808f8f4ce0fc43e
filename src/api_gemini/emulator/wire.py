"""Wire helpers shared by the HTTP and Live sides: JSON, base64, Google errors.

Both spellings of field names are handled by :mod:`.schema`."""

from __future__ import annotations

import binascii
from typing import Any

import msgspec

__all__ = [
    "STATUS_BY_CODE",
    "WireError",
    "b64decode_any",
    "decode_json",
    "encode_json",
    "error_body",
]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

#: Encode plain data as compact JSON bytes.
encode_json = _encoder.encode
#: Decode JSON bytes or str into plain data (raises msgspec.DecodeError).
decode_json = _decoder.decode

#: google.rpc.Code names for the HTTP statuses the emulator uses.
STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class WireError(Exception):
    """A request the emulator rejects: the HTTP status, message and error details."""

    def __init__(
        self,
        code: int,
        message: str,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_BY_CODE.get(code, "UNKNOWN")
        self.details = details
        #: Extra response headers (``Retry-After``).
        self.headers = headers or {}


def error_body(err: WireError) -> bytes:
    """Google's error JSON: ``{"error": {"code", "message", "status", "details"?}}``."""
    error: dict[str, Any] = {"code": err.code, "message": err.message, "status": err.status}
    if err.details:
        error["details"] = err.details
    return encode_json({"error": error})


_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")


def b64decode_any(data: str) -> bytes:
    """Decode base64 in the standard or URL-safe alphabet, padded or not.

    Raises:
        ValueError: not base64.
    """
    raw = data.encode("ascii", "strict").translate(_URLSAFE_TO_STD)
    raw = raw.rstrip(b"=")
    raw += b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64: {exc}") from None
