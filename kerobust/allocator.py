"""Keeps freed memory in the process instead of handing it back to the operating system after every training step.

A TensorFlow or JAX step allocates and frees the same large buffers each time. glibc's malloc returns the top of its
heap to the system whenever more than `M_TRIM_THRESHOLD` (128 KiB by default) is free there, so the next step takes
the pages back one page fault at a time. On a virtual machine a page fault is costly: on the 2-core AMD EPYC of
kerobust's CI, an IBP step of the width-8 certcnn on digits (batch 32) spent more time in the kernel than in
arithmetic and took 0.36-0.46 s; with the heap kept (trim threshold 1 GiB, top pad 256 MiB, mallopt(3)) it took
0.18-0.25 s. The memory kept is the process's own peak heap, which it would fault back in at the next step anyway.
TensorFlow's generator dataset sets the trim threshold back to 128 KiB at a fit's first epoch ("Memory patch
applied"); the top pad, which glibc keeps at every trim, holds the heap regardless.

`keep_freed_memory` is called by the `kerobust` command, the study scripts and the test suite; a library user may
call it once at the start of a training script. It does nothing off glibc (macOS, musl, Windows).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> parameter numbers
M_TOP_PAD = -2
TRIM_THRESHOLD_BYTES = 1 << 30
TOP_PAD_BYTES = 256 << 20


def keep_freed_memory() -> bool:
    """Raises glibc's trim threshold and top pad (mallopt(3)) for the rest of the process; True when glibc took both
    settings, False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, TypeError, AttributeError):  # no C library found by name, or one without mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(mallopt(M_TOP_PAD, TOP_PAD_BYTES))
