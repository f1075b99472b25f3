"""Process-wide tuning of the platform's processes: the ``xinbao`` command (the API, the
scheduler, ``xinbao score`` and ``train``) and its Dask workers (``server.dask_preload``, their
preload)."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["frozen_heap", "hugepages_stall", "tune_memory"]

_DEFRAG = Path("/sys/kernel/mm/transparent_hugepage/defrag")


def hugepages_stall(defrag: Path = _DEFRAG) -> bool:
    """Whether the kernel compacts memory *while a process waits* to fault in the huge pages of
    a region the process asked huge pages for (``madvise``): Linux's transparent huge pages
    with ``defrag`` set to ``always`` or ``madvise`` (the selected value is in brackets)."""
    try:
        text = defrag.read_text()
    except OSError:
        return False
    return "[always]" in text or "[madvise]" in text


def tune_memory(defrag: Path = _DEFRAG) -> bool:
    """Large numpy arrays on ordinary pages where huge pages stall (:func:`hugepages_stall`),
    unless ``NUMPY_MADVISE_HUGEPAGE`` states a choice. numpy asks the kernel for huge pages for
    every large array; with ``defrag=madvise`` (Debian's default) the first touch of such an
    array waits for compaction. Measured on these machines: a fresh 242 MB array written in
    0.575 s with huge pages, 0.14 s without; the re-score of 10,000 firms (``xinbao score``,
    each run a fresh process) 4.56-4.62 s with, 3.70-3.74 s without. Whether it changed
    anything."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ or not hugepages_stall(defrag):
        return False
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _set_madvise_hugepage
    _set_madvise_hugepage(False)
    return True


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """While a batch runs, the objects alive when it starts (the imported modules': about
    180,000) are left out of the cyclic collector's full passes (``gc.freeze``), then given
    back (``gc.unfreeze``). Reference counting frees them as ever; only cyclic garbage among
    them waits for the batch's end. A full pass over them costs about 85 ms, and a re-score
    of 3,000 dense firms in a fresh process triggered one: with the heap frozen it cost
    5 ms. Two batches in one process share the freeze: the first to end gives the heap
    back, and the other runs on without it."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
