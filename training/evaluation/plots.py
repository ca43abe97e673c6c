"""Matplotlib figures for the evaluation and data notebooks, readable with Arabic labels.

Arabic needs its letters joined (shaping) and right-to-left runs put in visual order (bidi). Matplotlib
3.11 does both itself through libraqm; older versions do neither, and then ``arabic()`` joins the letters
with arabic_reshaper and reorders them with python-bidi's ``get_display``. Which one applies is probed once
(``native_arabic_layout``): doing it twice would reverse the text again. The font is DejaVu Sans, which
has the Arabic letters and presentation forms and ships with matplotlib. Each function takes tables from
``training.evaluation.analysis`` and returns a ``Figure`` (no pyplot state: display it, or ``save`` it).
"""
from __future__ import annotations

import functools
import html
import re
from typing import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
ARABIC_FONTS = ["DejaVu Sans", "Noto Naskh Arabic", "Noto Sans Arabic", "Amiri", "Arial"]


def arabic(text: object) -> str:
    """Text ready for matplotlib: Arabic letters joined and in visual order, unless matplotlib does that itself."""
    text = str(text)
    if not ARABIC.search(text):
        return text
    shapes, reorders = native_arabic_layout()
    if not shapes:
        import arabic_reshaper

        text = arabic_reshaper.reshape(text)
    if not reorders:
        from bidi.algorithm import get_display

        text = get_display(text)
    return text


@functools.lru_cache(maxsize=None)
def native_arabic_layout() -> tuple[bool, bool]:
    """(shapes, reorders): whether matplotlib's own text layout joins Arabic letters and lays out
    right-to-left runs. Probed on the font: "بب" must come out as joined glyphs, "اب" with ب first."""
    try:
        from matplotlib import _text_helpers, font_manager
        from matplotlib.ft2font import FT2Font

        font = FT2Font(font_manager.findfont(use_arabic_font()))
        isolated = font.get_char_index(ord("ب"))
        shapes = any(item.glyph_index != isolated for item in _text_helpers.layout("بب", font))
        reorders = [item.char for item in _text_helpers.layout("اب", font)][0] == "ب"
        return shapes, reorders
    except Exception:  # older matplotlib: no libraqm layout (or a different private API) -> do it here
        return False, False


def use_arabic_font() -> str:
    """Make the first installed font of ``ARABIC_FONTS`` matplotlib's default; return its name."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    chosen = next((name for name in ARABIC_FONTS if name in installed), "DejaVu Sans")
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = [chosen] + [f for f in matplotlib.rcParams["font.sans-serif"] if f != chosen]
    return chosen


def _figure(width: float, height: float, columns: int = 1, rows: int = 1, **kwargs) -> tuple[Figure, np.ndarray]:
    use_arabic_font()
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, **kwargs)
    return figure, axes


def save(figure: Figure, path, dpi: int = 110):
    figure.savefig(path, dpi=dpi)
    return path


def _bar_groups(axes, table: pd.DataFrame, columns: Sequence[str], value_format: str = "{:.0f}",
                legend_outside: bool = False) -> None:
    """Grouped vertical bars: one group per row of ``table``, one bar per column."""
    positions = np.arange(len(table))
    width = 0.8 / max(len(columns), 1)
    for n, column in enumerate(columns):
        bars = axes.bar(positions + (n - (len(columns) - 1) / 2) * width, table[column].to_numpy(dtype=float),
                        width, label=arabic(column))
        axes.bar_label(bars, labels=[value_format.format(v) if np.isfinite(v) else "" for v in table[column]],
                       fontsize=7, padding=1)
    axes.set_xticks(positions, [arabic(v) for v in table.index], rotation=20, ha="right")
    if legend_outside:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        axes.legend(fontsize=8)


# ---------------------------------------------------------------------------------------------- data

def plot_label_counts(balance: pd.DataFrame, splits: Sequence[str] = ("train", "validation", "test")) -> Figure:
    """Bars of primary-label counts per split (``analysis.label_balance``)."""
    figure, axes = _figure(1.6 * len(balance) + 3, 3.8)
    _bar_groups(axes[0, 0], balance, [s for s in splits if s in balance.columns])
    axes[0, 0].set_ylabel("articles")
    axes[0, 0].set_title("Primary label per split")
    return figure


def plot_length_distribution(lengths: Mapping[str, np.ndarray], max_words: int | None = None) -> Figure:
    """Histogram of article length in words per label, plus a box plot (``analysis.lengths_by_label``)."""
    figure, axes = _figure(11, 3.8, columns=2)
    values = [np.asarray(v) for v in lengths.values()]
    everything = np.concatenate(values) if values else np.array([0])
    top = max_words or (int(np.percentile(everything, 99)) + 1 if everything.size else 1)
    bins = np.linspace(min(int(everything.min()), top - 1) if everything.size else 0, top, 30)
    for label, counts in lengths.items():
        axes[0, 0].hist(np.clip(counts, 0, top), bins=bins, histtype="step", linewidth=1.5, label=arabic(label))
    axes[0, 0].set_xlabel(f"words (longer than {top} counted in the last bin)")
    axes[0, 0].set_ylabel("articles")
    axes[0, 0].legend(fontsize=8)
    axes[0, 0].set_title("Article length")
    axes[0, 1].boxplot(values, tick_labels=[arabic(label) for label in lengths], showfliers=False)
    axes[0, 1].set_ylabel("words")
    axes[0, 1].set_title("Length per label (no outliers)")
    return figure


def plot_cooccurrence(matrix: pd.DataFrame) -> Figure:
    """Heat map of primary x secondary topic counts (``analysis.cooccurrence``)."""
    figure, axes = _figure(1.1 * len(matrix.columns) + 3, 1.0 * len(matrix) + 2)
    _heatmap(axes[0, 0], matrix.to_numpy(), list(matrix.index), list(matrix.columns), "Greens")
    axes[0, 0].set_xlabel("secondary topic")
    axes[0, 0].set_ylabel("primary topic")
    axes[0, 0].set_title("Secondary topics by primary topic")
    return figure


def plot_top_ngrams(table: pd.DataFrame, labels: Sequence[str] | None = None, columns: int = 2) -> Figure:
    """Horizontal bars of each label's heaviest n-grams (``analysis.top_ngrams``), Arabic shaped."""
    labels = list(labels or dict.fromkeys(table["label"]))
    rows = -(-len(labels) // columns)
    k = int(table.groupby("label").size().max()) if len(table) else 1
    figure, axes = _figure(5.2 * columns, 0.28 * k * rows + 1.2 * rows, columns=columns, rows=rows)
    for n, axis in enumerate(axes.flat):
        if n >= len(labels):
            axis.set_visible(False)
            continue
        part = table[table["label"] == labels[n]].sort_values("rank", ascending=False)
        axis.barh(range(len(part)), part["weight"], color=f"C{n}")
        axis.set_yticks(range(len(part)), [arabic(g.strip()) for g in part["ngram"]], fontsize=9)
        axis.set_title(arabic(labels[n]))
        axis.set_xlabel("weight")
    return figure


# ----------------------------------------------------------------------------------------- evaluation

def _heatmap(axes, matrix: np.ndarray, rows: Sequence[str], columns: Sequence[str], cmap: str) -> None:
    matrix = np.asarray(matrix)
    axes.imshow(matrix, cmap=cmap, vmin=0, vmax=max(matrix.max(), 1))
    axes.set_xticks(range(len(columns)), [arabic(c) for c in columns], rotation=30, ha="right")
    axes.set_yticks(range(len(rows)), [arabic(r) for r in rows])
    for (row, column), value in np.ndenumerate(matrix):
        axes.text(column, row, str(value), ha="center", va="center", fontsize=9,
                  color="white" if value > matrix.max() / 2 else "black")


def plot_confusion_matrices(confusions: Mapping[str, pd.DataFrame]) -> Figure:
    """Confusion matrices (``analysis.confusion_frame``) side by side, one per model."""
    size = len(next(iter(confusions.values())))
    figure, axes = _figure((1.0 * size + 2) * len(confusions), 0.9 * size + 2, columns=len(confusions))
    for axis, (name, frame) in zip(axes[0], confusions.items()):
        _heatmap(axis, frame.to_numpy(), list(frame.index), list(frame.columns), "Blues")
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        axis.set_title(arabic(name))
    return figure


def plot_pr_curves(curves: Mapping[str, Mapping[str, dict]], columns: int = 4) -> Figure:
    """One panel per label, one precision-recall curve per model (``analysis.pr_curves``) with its AP."""
    labels = list(next(iter(curves.values())))
    columns = min(columns, len(labels))
    rows = -(-len(labels) // columns)
    figure, axes = _figure(3.3 * columns, 3.1 * rows, columns=columns, rows=rows, sharey=True)
    for n, axis in enumerate(axes.flat):
        if n >= len(labels):
            axis.set_visible(False)
            continue
        for m, (model, per_label) in enumerate(curves.items()):
            curve = per_label[labels[n]]
            axis.plot(curve["recall"], curve["precision"], drawstyle="steps-post", color=f"C{m}",
                      label=f"{arabic(model)} (AP {curve['ap']:.3f})")
        axis.set_title(f"{arabic(labels[n])}")
        axis.set_xlabel("recall")
        axis.set_xlim(0, 1.02)
        axis.set_ylim(0, 1.05)
        axis.legend(fontsize=7, loc="lower left")
    for axis in axes[:, 0]:
        axis.set_ylabel("precision")
    return figure


def plot_reliability(tables: Mapping[str, pd.DataFrame], eces: Mapping[str, float]) -> Figure:
    """Reliability diagram: accuracy against mean confidence per bin (``analysis.reliability_table``) for
    each model, the diagonal as perfect calibration, and article counts per bin below."""
    figure, axes = _figure(6, 6.2, rows=2, gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    width = 0.8 / max(len(tables), 1)
    for m, (name, table) in enumerate(tables.items()):
        filled = table[table["count"] > 0]
        top.plot(filled["confidence"], filled["accuracy"], marker="o", color=f"C{m}",
                 label=f"{arabic(name)} (ECE {eces[name]:.3f})")
        centres = (table["lower"] + table["upper"]) / 2
        bottom.bar(centres + (m - (len(tables) - 1) / 2) * width / len(table), table["count"],
                   width=width / len(table), color=f"C{m}")
    top.set_ylabel("accuracy")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.legend(fontsize=8, loc="upper left")
    top.set_title("Reliability (top-label confidence)")
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("articles")
    return figure


def plot_accuracy_by_group(table: pd.DataFrame, title: str) -> Figure:
    """Grouped bars of accuracy per group and model (``analysis.accuracy_by_length`` / ``_by_source``), with
    each group's article count under its name."""
    models = [c for c in table.columns if c != "articles"]
    figure, axes = _figure(1.4 * len(table) + 3 + 0.06 * max(len(str(m)) for m in models), 3.8)
    shown = table.copy()
    shown.index = [f"{arabic(g)}\n(n={n})" for g, n in zip(table.index, table["articles"])]
    _bar_groups(axes[0, 0], shown, models, "{:.2f}", legend_outside=True)
    axes[0, 0].set_xticks(range(len(shown)), shown.index, rotation=0, ha="center")
    axes[0, 0].set_ylim(0, 1.1)
    axes[0, 0].set_ylabel("accuracy")
    axes[0, 0].set_xlabel(arabic(table.index.name or ""))
    axes[0, 0].set_title(title)
    return figure


# ---------------------------------------------------------------------------------------------- tables

def rtl_html(frame: pd.DataFrame, rtl_columns: Sequence[str] = ("title", "text"), max_chars: int = 400,
             float_format: str = "{:.3f}") -> str:
    """An HTML table whose Arabic cells read right to left (``dir="rtl"``); other cells stay left to right.
    Text is escaped and cut to ``max_chars`` characters."""
    def cell(column: str, value: object) -> str:
        if isinstance(value, (float, np.floating)):
            text = float_format.format(value)
        else:
            text = str(value)
        if len(text) > max_chars:
            text = text[:max_chars].rstrip() + "…"
        escaped = html.escape(text).replace("\n", "<br>")
        if column in rtl_columns or ARABIC.search(text):
            return f'<td dir="rtl" lang="ar" style="text-align:right; min-width:12em">{escaped}</td>'
        return f'<td dir="ltr" style="text-align:left">{escaped}</td>'

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(cell(c, v) for c, v in zip(frame.columns, row)) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="rtl-table" dir="ltr"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
