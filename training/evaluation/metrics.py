"""Evaluation with scikit-learn's metrics, and per-label threshold tuning for multi-label models."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from ..data.loading import Split


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
        "macro_f1": float(f1_score(y_true, y_pred, labels=indices, average="macro", zero_division=0)),
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
            "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
            "exact_match": float((truth == predicted).all(axis=1).mean()),
        }
    by_source = per_source(y_true, y_pred, split.sources, label_names)
    if by_source:
        result["per_source"] = by_source
    return result


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
