"""Evaluation with scikit-learn's metrics, and per-label threshold tuning for multi-label models."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from ..data.splits import Split


def macro_f1(truth: Sequence[int], predicted: Sequence[int]) -> float:
    """Macro-F1 over the labels the articles have or the model predicts (scikit-learn's default label set), the one
    definition used by every score of a run: a label in neither is left out, since counting it as F1 0 would score
    the evaluated articles' mix of topics, not the model's errors."""
    return float(f1_score(truth, predicted, average="macro", zero_division=0))


def evaluate_scores(scores: np.ndarray, split: Split, label_names: Sequence[str], multi_label: bool,
                    thresholds: Sequence[float] | None = None) -> dict:
    """Primary-label metrics (accuracy, macro-F1, per class, confusion matrix) and, multi-label, set metrics."""
    label_names = list(label_names)
    y_true = split.primary_ids(label_names)
    y_pred = np.asarray(scores).argmax(axis=1)
    indices = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=indices, zero_division=0)
    result = {
        "articles": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": macro_f1(y_true, y_pred),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(label_names, precision, recall, f1, support)
        },
        "confusion_matrix": {"labels": label_names,
                             "matrix": confusion_matrix(y_true, y_pred, labels=indices).tolist()},
    }
    if multi_label:
        truth = split.indicator(label_names)
        predicted = multi_label_decisions(scores, thresholds)
        result["multi_label"] = {
            "micro_f1": float(f1_score(truth, predicted, average="micro", zero_division=0)),
            # over the labels some article has or the model predicts, as macro_f1
            "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0,
                                       labels=np.flatnonzero(truth.any(axis=0) | predicted.any(axis=0)))),
            "exact_match": float((truth == predicted).all(axis=1).mean()),
        }
    by_source = per_source(y_true, y_pred, split.sources, label_names)
    if by_source:
        result["per_source"] = by_source
    return result


def chosen_on(selection: dict | None, validation: dict) -> tuple[str, float]:
    """What a run ranks candidates by: macro-F1 on the held-out selection articles when the run had them, else on
    validation. Returns (what it is, the score)."""
    if selection is not None:
        return "held-out selection macro-F1", selection["macro_f1"]
    return "validation macro-F1", validation["macro_f1"]


def per_source(y_true: np.ndarray, y_pred: np.ndarray, sources: Sequence[str], label_names: Sequence[str]) -> dict:
    """Primary-label metrics of each publisher, when the split has two or more named ones (else empty).

    A topic a source never has (in truth or prediction) is left out of that source's macro-F1 and per_class:
    counting it as F1 0 would punish the model for the source's mix of topics, not for its errors. Articles
    without a source are in the overall metrics only."""
    names = sorted({s for s in sources if s})
    if len(names) < 2:
        return {}
    sources = np.asarray(list(sources), dtype=object)
    result = {}
    for name in names:
        rows = sources == name
        truth, predicted = y_true[rows], y_pred[rows]
        present = sorted(set(truth.tolist()) | set(predicted.tolist()))
        f1 = f1_score(truth, predicted, labels=present, average=None, zero_division=0)
        result[name] = {
            "articles": int(rows.sum()),
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(np.mean(f1)),
            "per_class": {label_names[i]: float(v) for i, v in zip(present, f1)},
        }
    return result


def multi_label_decisions(scores: np.ndarray, thresholds: Sequence[float] | None) -> np.ndarray:
    """The label sets a multi-label model predicts: top label always, others at or over their threshold."""
    scores = np.asarray(scores, dtype=float)
    limits = np.asarray(thresholds if thresholds is not None else [0.5] * scores.shape[1])
    decided = (scores >= limits).astype(np.int64)
    decided[np.arange(len(scores)), scores.argmax(axis=1)] = 1
    return decided


def tune_thresholds(scores: np.ndarray, truth: np.ndarray, grid: Sequence[float] = tuple(np.linspace(0.05, 0.95, 19))) -> list[float]:
    """Per label, the threshold that maximises that label's F1 on validation (0.5 for labels never seen there)."""
    thresholds = []
    for column in range(truth.shape[1]):
        if truth[:, column].sum() == 0:
            thresholds.append(0.5)
            continue
        best = max(grid, key=lambda t: (f1_score(truth[:, column], scores[:, column] >= t, zero_division=0), -abs(t - 0.5)))
        thresholds.append(float(best))
    return thresholds


# ---------------------------------------------------------------------------------------------- calibration

def confidence_and_correct(scores: np.ndarray, split: Split, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=float)
    return scores.max(axis=1), scores.argmax(axis=1) == split.primary_ids(labels)


def _bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins: bin i holds confidences in (i/bins, (i+1)/bins]; 0 goes to the first bin."""
    return np.clip(np.ceil(np.asarray(confidence, dtype=float) * bins - 1e-9).astype(int) - 1, 0, bins - 1)


def reliability_table(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> pd.DataFrame:
    """Per confidence bin: bounds, article count, mean confidence, accuracy and |accuracy - confidence|
    (NaN for empty bins)."""
    frame = pd.DataFrame({"bin": _bin_index(confidence, bins), "confidence": np.asarray(confidence, dtype=float),
                          "accuracy": np.asarray(correct, dtype=float)})
    table = frame.groupby("bin").agg(count=("accuracy", "size"), confidence=("confidence", "mean"),
                                     accuracy=("accuracy", "mean")).reindex(range(bins))
    table["count"] = table["count"].fillna(0).astype(int)
    table.insert(0, "upper", (np.arange(bins) + 1) / bins)
    table.insert(0, "lower", np.arange(bins) / bins)
    table["gap"] = (table["accuracy"] - table["confidence"]).abs()
    table.index.name = "bin"
    return table


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE: sum over bins of (bin share of articles) x |bin accuracy - bin mean confidence|."""
    table = reliability_table(confidence, correct, bins)
    total = table["count"].sum()
    if total == 0:
        return float("nan")
    filled = table[table["count"] > 0]
    return float((filled["count"] / total * filled["gap"]).sum())
