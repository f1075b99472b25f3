"""The preload of the platform's Dask processes (issue 16): ``dask scheduler --preload
server.dask_preload`` and ``dask worker tcp://host:8786 --preload server.dask_preload``.

Dask runs :func:`dask_setup` when the process starts, before it serves: the process is tuned as
the platform's own (``server.runtime.tune_memory``), and the code of every batch task the
platform submits (``BATCH_MODULES``) is imported then. Otherwise the first batch on a new
cluster waits for these imports twice over, about 2.4 s of a core each on these machines
(``python -c "import server.scores.distributed"``): on the scheduler, which unpickles the
tasks it is sent and so imports their functions' modules, and then on every worker.
"""

from __future__ import annotations

import importlib
from typing import Any

from server.runtime import tune_memory

__all__ = ["BATCH_MODULES", "dask_setup"]

#: The modules whose functions the platform hands to a Dask cluster: the re-score's parts, the
#: warning scan's parts and the annual figures' parts.
BATCH_MODULES = ("server.scores.distributed", "server.risk.distributed", "server.reports.annual.parts")


def dask_setup(server: Any) -> None:
    """Dask's preload hook (``server``: the scheduler or the worker): tuned, and the batch
    tasks' code imported before the first task."""
    tune_memory()
    for name in BATCH_MODULES:
        importlib.import_module(name)
