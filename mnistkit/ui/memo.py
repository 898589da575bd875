"""Work done once per input, per visitor: a rerun that asks again gets the answer it kept.

A pen lift reruns the Draw page's pad; what the teaching sections and charts show changes only
when the drawing, the model or a switch does. Each named piece of work keeps its newest answer
in the visitor's session (one slot per name, so memory stays bounded), keyed by a fingerprint of
its inputs: the drawing's bytes, the models' keys, the switches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import streamlit as st

MEMO_KEY = "mnistkit_memo"  # name -> (fingerprint of the inputs, the answer)
LAST_ARRAY_KEY = "mnistkit_memo_last_array"  # (the array, its fingerprint): hashed once per run

Answer = TypeVar("Answer")


def fingerprint(*inputs) -> str:
    """A short digest of ``inputs``: arrays by shape, type and bytes, the rest by ``repr``."""
    digest = hashlib.blake2b(digest_size=16)
    for part in inputs:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.shape}{part.dtype.str}".encode())
            digest.update(np.ascontiguousarray(part).data)
        else:
            digest.update(repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def array_key(array: np.ndarray) -> str:
    """The fingerprint of a large array (the drawing), hashed once however often it is asked."""
    held = st.session_state.get(LAST_ARRAY_KEY)
    if held is not None and held[0] is array:
        return held[1]
    key = fingerprint(array)
    st.session_state[LAST_ARRAY_KEY] = (array, key)
    return key


def once(name: str, inputs: tuple, compute: Callable[[], Answer]) -> Answer:
    """``compute()`` the first time ``name`` is asked with these ``inputs``; its answer after."""
    store = st.session_state.setdefault(MEMO_KEY, {})
    key = fingerprint(*inputs)
    held = store.get(name)
    if held is not None and held[0] == key:
        return held[1]
    answer = compute()
    store[name] = (key, answer)
    return answer
