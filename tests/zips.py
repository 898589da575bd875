"""Zip archives whose members zipfile cannot read: encrypted, or packed by an unknown method."""

from __future__ import annotations

import io
import struct
import zipfile

LOCAL_HEADER = b"PK\x03\x04"
CENTRAL_HEADER = b"PK\x01\x02"


def unreadable_members(raw: bytes, how: str) -> bytes:
    """``raw`` (a zip) with every member marked ``encrypted`` or packed by ``unknown-method``.

    The same bytes otherwise: only the flag or method fields of each header change, in the local
    headers (flags at offset 6, method at 8) and the central directory (flags at 8, method at 10).
    """
    patched = bytearray(raw)
    for signature, flags_at in ((LOCAL_HEADER, 6), (CENTRAL_HEADER, 8)):
        start = patched.find(signature)
        while start != -1:
            if how == "encrypted":
                (flags,) = struct.unpack_from("<H", patched, start + flags_at)
                struct.pack_into("<H", patched, start + flags_at, flags | 0x1)
            elif how == "unknown-method":
                struct.pack_into("<H", patched, start + flags_at + 2, 99)  # AES, unsupported
            else:
                raise ValueError(how)
            start = patched.find(signature, start + 4)
    return bytes(patched)


def with_members(raw: bytes, changes: dict[str, bytes | None]) -> bytes:
    """``raw`` (a zip) with the members in ``changes`` replaced by new bytes, or left out (None).

    Members named in ``changes`` but not in ``raw`` are added at the end.
    """
    source = zipfile.ZipFile(io.BytesIO(raw))
    buffer = io.BytesIO()
    with source, zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in changes:
                target.writestr(info, source.read(info))
        for name, data in changes.items():
            if data is not None:
                target.writestr(name, data)
    return buffer.getvalue()
