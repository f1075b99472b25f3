"""Process-wide tuning of the platform's processes: the ``xinbao`` command (the API, the
scheduler, ``xinbao score`` and ``train``) and its Dask workers (``dask worker --preload
server.runtime``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["dask_setup", "hugepages_stall", "tune_memory"]

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


def dask_setup(worker: Any) -> None:
    """Dask's preload hook (``dask worker --preload server.runtime``): the worker's process
    tuned as the platform's own."""
    tune_memory()
