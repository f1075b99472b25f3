"""The annual report's charts, drawn by matplotlib (Agg) as PNG bytes, with the CJK font the PDF
embeds (Noto Sans CJK SC from the ``mplfonts`` package), so Chinese labels render in both."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402

__all__ = ["bar", "cjk_font", "grouped_bars", "heatmap", "lines", "matrix", "stacked_months"]

GRADE_COLORS = {"A": "#1B9E5A", "B": "#1F5FBF", "C": "#E08A00", "D": "#D93025"}
LEVEL_COLORS = {"red": "#D93025", "yellow": "#E0A800", "blue": "#1F6FD1"}
PRIMARY = "#1F5FBF"
DPI = 150


@cache
def cjk_font() -> Path:
    """Noto Sans CJK SC (SIL Open Font License), shipped by the ``mplfonts`` wheel."""
    import mplfonts

    path = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    if not path.exists():
        raise RuntimeError(f"the CJK font is missing: {path}")
    font_manager.fontManager.addfont(str(path))
    return path



def _figure(width: float = 7.0, height: float = 3.4) -> tuple[plt.Figure, plt.Axes]:
    name = font_manager.FontProperties(fname=str(cjk_font())).get_name()
    plt.rcParams.update({"font.family": "sans-serif", "font.sans-serif": [name, "DejaVu Sans"],
                         "axes.unicode_minus": False, "font.size": 9})
    fig, ax = plt.subplots(figsize=(width, height), dpi=DPI)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#E6EAF0", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def lines(series: dict[str, list[tuple[str, float]]], *, title: str, xlabel: str, ylabel: str,
          highlight: str | None = None) -> bytes:
    """Index lines by month; ``highlight`` drawn thick in the primary colour."""
    fig, ax = _figure()
    months = sorted({m for pts in series.values() for m, _ in pts})
    at = {m: i for i, m in enumerate(months)}
    for name, pts in series.items():
        if not pts:
            continue
        xs, ys = [at[m] for m, _ in pts], [v for _, v in pts]
        strong = name == highlight
        ax.plot(xs, ys, marker="o" if len(pts) < 4 else None, linewidth=2.6 if strong else 1.2,
                color=PRIMARY if strong else None, alpha=1.0 if strong else 0.75, label=name)
    step = max(1, len(months) // 8)
    ax.set_xticks(range(0, len(months), step), [months[i] for i in range(0, len(months), step)], rotation=30)
    ax.axhline(100, color="#9AA4B2", linewidth=0.8, linestyle="--")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(fontsize=7, ncol=2, frameon=False)
    return _png(fig)


def grouped_bars(categories: list[str], groups: dict[str, list[float]], *, title: str, xlabel: str,
                 ylabel: str, colors: list[str] | None = None) -> bytes:
    fig, ax = _figure()
    n = max(1, len(groups))
    width = 0.8 / n
    x = np.arange(len(categories))
    for i, (name, values) in enumerate(groups.items()):
        ax.bar(x + (i - (n - 1) / 2) * width, values, width, label=name,
               color=None if colors is None else colors[i % len(colors)])
    ax.set_xticks(x, categories)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return _png(fig)


def bar(labels: list[str], values: list[float], *, title: str, xlabel: str, ylabel: str,
        color: str = PRIMARY, horizontal: bool = False) -> bytes:
    fig, ax = _figure(7.0, max(3.0, 0.32 * len(labels) + 1.0) if horizontal else 3.4)
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color=color)
        ax.grid(axis="x", color="#E6EAF0", linewidth=0.8)
    else:
        ax.bar(labels, values, color=color)
        ax.tick_params(axis="x", rotation=30)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _png(fig)


def stacked_months(months: list[str], levels: dict[str, list[int]], *, title: str, xlabel: str,
                   ylabel: str, labels: dict[str, str]) -> bytes:
    fig, ax = _figure()
    bottom = np.zeros(len(months))
    for level, values in levels.items():
        ax.bar(months, values, bottom=bottom, color=LEVEL_COLORS.get(level), label=labels.get(level, level))
        bottom += np.array(values, dtype=float)
    ax.tick_params(axis="x", rotation=30)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return _png(fig)


def heatmap(rows: list[str], cols: list[str], values: dict[tuple[str, str], float | None], *, title: str,
            xlabel: str, ylabel: str, row_labels: list[str], withheld: str) -> bytes:
    """Mean scores by industry × town; a withheld cell is hatched grey and says so in the legend."""
    fig, ax = _figure(7.2, max(3.2, 0.34 * len(rows) + 1.6))
    grid = np.full((len(rows), len(cols)), np.nan)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            v = values.get((r, c))
            if v is not None:
                grid[i, j] = v
    ax.grid(False)
    ax.set_facecolor("#E5E7EB")
    shown = np.ma.masked_invalid(grid)
    image = ax.imshow(shown, cmap="RdYlGn", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(cols)), cols, rotation=35)
    ax.set_yticks(range(len(rows)), row_labels)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    bar_ = fig.colorbar(image, ax=ax, fraction=0.04)
    bar_.set_label(withheld, fontsize=7)
    return _png(fig)


def matrix(labels: list[str], cells: dict[tuple[str, str], int | None], *, title: str, xlabel: str,
           ylabel: str) -> bytes:
    """The grade migration matrix: counts, with withheld cells marked "—"."""
    fig, ax = _figure(5.6, 4.2)
    grid = np.zeros((len(labels), len(labels)))
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            grid[i, j] = cells.get((a, b)) or 0
    ax.grid(False)
    ax.imshow(grid, cmap="Blues", aspect="auto")
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            v = cells.get((a, b))
            ax.text(j, i, "—" if v is None else str(v), ha="center", va="center", fontsize=10)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _png(fig)
