"""Reading zip archives, and the NumPy arrays inside them, without trusting them.

MNIST's ``.npz``, a learner's digit set and every model file are zip archives (a ``.npz`` is a
zip of ``.npy`` arrays; ``.skops`` and ``.keras`` files are zips too). The helpers here list and
check an archive's members (their unpacked size against zip bombs, their checksums against
damage) and read arrays with ``allow_pickle=False``, so nothing in a file ever runs as code.

They raise ``ArchiveError``, whose message is a clause such as "it is damaged or incomplete":
each caller puts it into its own sentence and its own error, e.g. ``DataError(f"Cannot load
{name}: {error}.")``.
"""

from __future__ import annotations

import lzma
import os
import zipfile
import zlib

import numpy as np

# What reading a damaged or unusual zip member can raise: beyond damage, zipfile refuses
# encrypted members (RuntimeError) and compression methods it does not know (NotImplementedError).
ZIP_READ_ERRORS = (
    ValueError,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
)
DAMAGED = "it is damaged or incomplete"
PICKLED = "pickled objects, which mnistkit never opens because they can run code"


class ArchiveError(ValueError):
    """An archive, or a member of one, that cannot be read safely; the message is a clause."""


def checked_members(source: str | os.PathLike, max_unpacked_bytes: int) -> list[zipfile.ZipInfo]:
    """The members of the zip archive at ``source``, once their size and checksums are checked.

    The sizes the archive announces are added up before anything is unpacked, so a zip bomb is
    refused unread; then every member is read once against its checksum (``testzip``), which
    catches flipped and missing bytes, encrypted members and unknown compression methods.
    """
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
            unpacked = sum(member.file_size for member in members)
            damaged = archive.testzip() if unpacked <= max_unpacked_bytes else None
    except ZIP_READ_ERRORS as error:
        raise ArchiveError(DAMAGED) from error
    if unpacked > max_unpacked_bytes:
        raise ArchiveError(
            f"it unpacks to more than {_size(max_unpacked_bytes)}, far more than it could hold"
        )
    if damaged is not None:
        raise ArchiveError(DAMAGED)
    return members


def member_names(source: str | os.PathLike) -> set[str]:
    """The names of the members of a zip archive (already checked by ``checked_members``)."""
    try:
        with zipfile.ZipFile(source) as archive:
            return set(archive.namelist())
    except ZIP_READ_ERRORS as error:
        raise ArchiveError(DAMAGED) from error


def read_member(source: str | os.PathLike | zipfile.ZipFile, member: str) -> bytes:
    """One member's bytes."""
    try:
        if isinstance(source, zipfile.ZipFile):
            return source.read(member)
        with zipfile.ZipFile(source) as archive:
            return archive.read(member)
    except (*ZIP_READ_ERRORS, KeyError) as error:
        raise ArchiveError(DAMAGED) from error


def npz_keys(source: str | os.PathLike | zipfile.ZipFile) -> set[str]:
    """The names of the arrays in a ``.npz`` (its ``.npy`` members, without the suffix)."""
    names = source.namelist() if isinstance(source, zipfile.ZipFile) else member_names(source)
    return {name.removesuffix(".npy") for name in names if name.endswith(".npy")}


def npy_header(archive: zipfile.ZipFile, key: str) -> tuple[tuple, np.dtype]:
    """The shape and dtype of the array ``key`` of a ``.npz``, read from its header alone."""
    try:
        with archive.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"unsupported .npy version {version}")
    except ZIP_READ_ERRORS as error:
        raise ArchiveError(f"its array {key} is damaged or truncated ({error})") from error
    return shape, dtype


def read_npy(archive: zipfile.ZipFile, key: str) -> np.ndarray:
    """The array ``key`` of a ``.npz``, never unpickled: object arrays are refused."""
    try:
        with archive.open(f"{key}.npy") as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    except ZIP_READ_ERRORS as error:
        # NumPy refuses object arrays when allow_pickle=False: they would need pickle.
        if isinstance(error, ValueError) and "pickle" in str(error):
            raise ArchiveError(f"its array {key} holds {PICKLED}") from error
        raise ArchiveError(f"its array {key} is damaged or truncated ({error})") from error


def read_npz(source: str | os.PathLike, keys: set[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the ``.npz`` at ``source``, never unpickled."""
    try:
        with zipfile.ZipFile(source) as archive:
            return {key: read_npy(archive, key) for key in sorted(keys)}
    except ArchiveError:
        raise
    except ZIP_READ_ERRORS as error:
        raise ArchiveError(DAMAGED) from error


def _size(count: int) -> str:
    """A number of bytes in words: "1 GB", "200 MB", "1,000 bytes"."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2)):
        if count >= size:
            return f"{count / size:,.0f} {unit}"
    return f"{count:,} bytes"
