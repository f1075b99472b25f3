"""Process-wide tuning of the platform's processes: the ``xinbao`` command (the API, the
scheduler, ``xinbao score`` and ``train``) and its Dask workers (``server.dask_preload``, their
preload)."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["LARGE_BATCH_CELLS", "frozen_heap", "hugepages_stall", "large_batch", "tune_memory"]

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
    _madvise_hugepage()(False)
    return True


def _madvise_hugepage() -> Callable[[bool], bool]:
    """numpy's switch: sets whether large arrays ask for huge pages, returns the setting before."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _set_madvise_hugepage
    return _set_madvise_hugepage


#: A batch whose frames hold at least this many of the feature store's cells runs with numpy's
#: huge pages (:func:`large_batch`), even where :func:`tune_memory` turned them off: between the
#: sizes measured, 1.9 M cells (no gain) and 7.6 M (a gain).
LARGE_BATCH_CELLS = 5_000_000


@contextlib.contextmanager
def large_batch(cells: int) -> Iterator[bool]:
    """numpy's large arrays on huge pages while a batch of ``cells`` cells runs, when it is a
    large one (:data:`LARGE_BATCH_CELLS`); the setting before is put back after, also on
    failure. Yields whether it asked for them. An operator's ``NUMPY_MADVISE_HUGEPAGE`` is left
    as it is.

    Why by size: a batch's arrays of one value per cell are faulted in page by page as they are
    first written. At 120,000 firms (22.6 M cells, 181 MB per such array) the re-score faulted
    in 4.3 M pages of 4 kB, 28-29 s of its 77-84 s spent in the kernel; on huge pages it took
    61-62 s, with the memory free and with the file cache holding all of it alike (the kernel
    then compacts, and the pages the batch frees are reused by its next arrays). At 40,000 firms
    (7.6 M cells) 19.5-23.1 s against 20.5-24.1 s. At 10,000 firms (1.9 M cells) huge pages
    gained nothing and cost up to a tenth (5.3-5.8 s against 4.3-5.7 s), as :func:`tune_memory`
    found (``docs/scale.md``, 2026-12-07, seventh session)."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ or cells < LARGE_BATCH_CELLS:
        yield False
        return
    switch = _madvise_hugepage()
    before = switch(True)
    try:
        yield True
    finally:
        switch(before)


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
