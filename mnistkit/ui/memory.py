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


def _glibc():
    with contextlib.suppress(OSError):
        library = ctypes.CDLL("libc.so.6")
        if hasattr(library, "mallopt") and hasattr(library, "malloc_trim"):
            return library
    return None


def limit_allocator_arenas(arenas: int = 2) -> None:
    """Let malloc keep at most ``arenas`` arenas (like MALLOC_ARENA_MAX), for threads to come."""
    library = _glibc()
    if library is not None:
        library.mallopt(M_ARENA_MAX, arenas)


def release_memory() -> None:
    """Collect garbage and hand freed pages back to the system (after a training run)."""
    gc.collect()
    library = _glibc()
    if library is not None:
        library.malloc_trim(0)
