"""Keeping the server small: Streamlit Community Cloud's smallest machine has 700 MB or so.

Streamlit runs each page in a new thread, and glibc gives threads their own memory arenas, each
holding on to freed pages; training's large temporary arrays then linger in several of them.
Two arenas and a trim after each run keep the server's memory close to what it really uses.
Outside glibc (macOS, Windows) both functions do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc

M_ARENA_MAX = -8  # glibc's mallopt parameter number for the most arenas malloc may create
M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter: free memory kept at the top of the heap
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter: blocks this large get their own mapping


def _glibc():
    with contextlib.suppress(OSError):
        library = ctypes.CDLL("libc.so.6")
        if hasattr(library, "mallopt") and hasattr(library, "malloc_trim"):
            return library
    return None


def limit_allocator_arenas(
    arenas: int = 2, mapped_from: int = 4 << 20, keep_free: int = 64 << 20
) -> None:
    """Let malloc keep at most ``arenas`` arenas (like MALLOC_ARENA_MAX), for threads to come.

    Blocks of ``mapped_from`` bytes or more (arrays of thousands of digits) get a mapping of their
    own, handed back to the system when freed; left to itself glibc raises that threshold to 32 MB
    after the first large block is freed, and such arrays then fragment the arenas. Fixing it
    switches off glibc's tuning of the trim threshold too, so ``keep_free`` (the free memory a
    heap keeps at its top) is set here. The default is as high as the tuning would take it, for
    a process that trains: trimming the heap after every small batch doubles training's time.
    The app server trains nothing and asks for less (see ``app.py``).
    """
    library = _glibc()
    if library is not None:
        library.mallopt(M_ARENA_MAX, arenas)
        library.mallopt(M_MMAP_THRESHOLD, mapped_from)
        library.mallopt(M_TRIM_THRESHOLD, keep_free)


def release_memory(collect: bool = True) -> None:
    """Hand freed pages back to the system (after a training run); first collect garbage."""
    if collect:
        gc.collect()
    library = _glibc()
    if library is not None:
        library.malloc_trim(0)
