"""`keep_freed_memory`: after it, glibc keeps the heap a process freed instead of trimming it back to the system (the
control, a process without it, trims). Each case runs in a fresh interpreter: the suite's own process already calls
it (tests/conftest.py)."""

import os
import platform
import subprocess
import sys

import pytest

from kerobust.allocator import keep_freed_memory

pytestmark = [pytest.mark.smoke,
              pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(3) is glibc's")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAP_AFTER_FREE = """
import ctypes, sys
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                    "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, (ctypes.c_size_t,), (ctypes.c_void_p,)
libc.mallinfo2.restype = Mallinfo2
if sys.argv[1] != "plain":
    from kerobust.allocator import keep_freed_memory
    assert keep_freed_memory()
if sys.argv[1] == "keep, then TensorFlow's reset":
    libc.mallopt(-1, 128 << 10)  # M_TRIM_THRESHOLD back to 128 KiB, as TensorFlow's generator dataset sets it
blocks = (ctypes.c_void_p * 1024)()  # allocated first, so that nothing of Python's lands above the blocks
for i in range(1024):
    blocks[i] = libc.malloc(64 << 10)  # 64 MiB in blocks under the mmap threshold: on the heap
for i in reversed(range(1024)):
    libc.free(blocks[i])
print(libc.mallinfo2().arena >> 20)
"""


def heap_after_free(mode):
    """MiB of heap a fresh interpreter holds after allocating and freeing 64 MiB, with (`keep`) or without it."""
    result = subprocess.run([sys.executable, "-c", HEAP_AFTER_FREE, mode], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": ROOT}, check=True)
    return int(result.stdout.split()[-1])


def test_the_freed_heap_is_kept_where_glibc_would_trim_it():
    assert heap_after_free("plain") < 8
    assert heap_after_free("keep") >= 64


def test_the_heap_stays_kept_after_tensorflow_resets_the_trim_threshold():
    """TensorFlow's generator dataset sets M_TRIM_THRESHOLD back to 128 KiB at a fit's first epoch ("Memory patch
    applied"); the top pad keeps the heap all the same."""
    assert heap_after_free("keep, then TensorFlow's reset") >= 64


def test_it_reports_glibc_taking_both_settings():
    assert keep_freed_memory() is True
