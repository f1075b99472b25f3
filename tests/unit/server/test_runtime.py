"""``server.runtime``: numpy's huge pages turned off only where the kernel stalls on them, and
never against an operator's explicit ``NUMPY_MADVISE_HUGEPAGE``."""

from __future__ import annotations

import contextlib

import pytest

try:
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _set_madvise_hugepage


@pytest.fixture
def hugepages():
    """numpy's setting, put back after the test; reads it by setting it (the call returns the
    setting before)."""
    before = _set_madvise_hugepage(True)

    def current() -> bool:
        now = _set_madvise_hugepage(True)
        _set_madvise_hugepage(now)
        return bool(now)

    yield current
    _set_madvise_hugepage(before)


@pytest.mark.parametrize(("selected", "stalls"), [
    ("always defer defer+madvise [madvise] never", True),
    ("[always] defer defer+madvise madvise never", True),
    ("always defer [defer+madvise] madvise never", False),
    ("always [defer] defer+madvise madvise never", False),
    ("always defer defer+madvise madvise [never]", False),
])
def test_huge_pages_are_turned_off_only_where_they_stall(tmp_path, monkeypatch, hugepages, selected, stalls):
    from server.runtime import hugepages_stall, tune_memory

    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    defrag = tmp_path / "defrag"
    defrag.write_text(selected + "\n")
    assert hugepages_stall(defrag) is stalls
    assert tune_memory(defrag) is stalls
    assert hugepages() is not stalls


def test_an_operators_choice_and_a_kernel_without_the_setting_are_left_alone(tmp_path, monkeypatch, hugepages):
    from server.runtime import tune_memory

    defrag = tmp_path / "defrag"
    defrag.write_text("always defer defer+madvise [madvise] never\n")
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    assert tune_memory(defrag) is False and hugepages() is True
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE")
    assert tune_memory(tmp_path / "missing") is False and hugepages() is True


def test_a_frozen_heap_is_given_back_even_when_the_batch_fails():
    import gc

    import pytest

    from server.runtime import frozen_heap

    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 1000  # the imported modules' objects, at least
        cycle: list = []
        cycle.append(cycle)  # garbage made during the batch is still the collector's
        del cycle
        assert gc.collect() >= 1
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("the batch failed")
    assert gc.get_freeze_count() == 0


def test_the_full_rescore_runs_with_the_heap_frozen():
    """``score_platform``'s body runs inside ``frozen_heap`` (what it costs is measured in
    ``docs/scale.md``; here only that it is in place)."""
    import ast
    import inspect

    from server.scores import pipeline

    tree = ast.parse(inspect.getsource(pipeline.score_platform))
    withs = [w for w in ast.walk(tree) if isinstance(w, ast.With)]
    assert any(isinstance(i.context_expr, ast.Call) and getattr(i.context_expr.func, "id", "") == "frozen_heap"
               for w in withs for i in w.items)


@pytest.mark.parametrize("fails", [False, True])
def test_a_large_batch_runs_on_huge_pages_and_puts_the_setting_back(monkeypatch, hugepages, fails):
    from server.runtime import LARGE_BATCH_CELLS, large_batch

    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    _set_madvise_hugepage(False)  # as tune_memory leaves a process where they stall
    with large_batch(LARGE_BATCH_CELLS - 1) as asked:
        assert asked is False and hugepages() is False
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        with large_batch(LARGE_BATCH_CELLS) as asked:
            assert asked is True and hugepages() is True
            if fails:
                raise RuntimeError("the batch failed")
    assert hugepages() is False
    _set_madvise_hugepage(True)  # a process that kept them: kept after a large batch too
    with large_batch(LARGE_BATCH_CELLS):
        assert hugepages() is True
    assert hugepages() is True


def test_an_operators_choice_holds_through_a_large_batch(monkeypatch, hugepages):
    from server.runtime import LARGE_BATCH_CELLS, large_batch

    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "0")
    _set_madvise_hugepage(False)
    with large_batch(LARGE_BATCH_CELLS * 10) as asked:
        assert asked is False and hugepages() is False
    assert hugepages() is False
