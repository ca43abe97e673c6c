"""The ensemble candidate: a weighted mean of the members' probabilities (the baseline and the transformer).

Saved as one artefact directory: its ``manifest.json`` names the members and their weights, and each member
is a complete artefact of its own under ``members/<name>/``. The outer manifest's checksums cover every
member file too, so ``training.load`` of the ensemble verifies everything, and copying the directory (the
model store does) copies the whole model.

The weight is chosen on the members' validation scores (``tune_weight``), which the members also tuned on, so the
ensemble's validation score is optimistic; candidates are compared on the held-out selection half of validation,
and the test split, scored once for the winner, is the honest figure.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..artifact import Classifier
from ..evaluation.metrics import macro_f1, tune_thresholds

logger = logging.getLogger(__name__)

MEMBERS_DIR = "members"


class EnsembleClassifier(Classifier):
    model_type = "ensemble"

    def __init__(self, members: dict[str, Classifier], weights: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if len(members) != len(weights) or not np.isclose(sum(weights), 1.0):
            raise ValueError(f"one weight per member, summing to 1; got {list(weights)} for {list(members)}")
        for name, member in members.items():
            if member.labels != self.labels or member.multi_label != self.multi_label:
                raise ValueError(f"ensemble member {name} has labels {member.labels} (multi-label {member.multi_label}); "
                                 f"the ensemble has {self.labels} (multi-label {self.multi_label})")
        self.members = dict(members)
        self.weights = [float(w) for w in weights]

    def predict_scores(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
        return mix([member.predict_scores(texts, titles) for member in self.members.values()], self.weights)

    def save_model_files(self, directory: Path) -> dict:
        from ..artifact import save

        for name, member in self.members.items():
            # the member's own manifest (provenance, metrics) is kept; save() refreshes files and versions
            save(member, directory / MEMBERS_DIR / name, dict(member.manifest))
        return {"members": list(self.members), "weights": self.weights, "combination": "weighted mean of scores",
                "members_dir": MEMBERS_DIR}

    @classmethod
    def load_model_files(cls, directory: Path, manifest: dict) -> "EnsembleClassifier":
        from ..artifact import load

        model = manifest["model"]
        members = {name: load(directory / model.get("members_dir", MEMBERS_DIR) / name) for name in model["members"]}
        return cls(members, model["weights"], labels=manifest["labels"], multi_label=manifest["multi_label"],
                   thresholds=manifest.get("thresholds"), low_confidence=manifest.get("low_confidence", 0.5))

    def describe(self) -> dict:
        return super().describe() | {"members": list(self.members),
                                     "weights": {n: round(w, 4) for n, w in zip(self.members, self.weights)}}


def mix(scores: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The weighted mean of the members' score matrices (same articles, same label order)."""
    return sum(w * np.asarray(s, dtype=float) for w, s in zip(weights, scores))


def tune_weight(first: np.ndarray, second: np.ndarray, truth: np.ndarray, grid: Sequence[float],
                first_is_faster: bool) -> tuple[float, list[dict]]:
    """The weight w of ``first`` (``second`` gets 1 - w) with the best macro-F1 of ``truth`` (class ids).

    Ties (equal to 4 decimals) go to the weight nearest 0.5, an even blend being the least fitted to
    validation's noise; then to the weight that favours the faster member. Returns (weight, trials)."""
    trials = []
    for w in grid:
        predicted = mix([first, second], [w, 1 - w]).argmax(axis=1)
        trials.append({"weight": float(w), "macro_f1": macro_f1(truth, predicted)})
    faster = 1.0 if first_is_faster else -1.0
    best = max(trials, key=lambda t: (round(t["macro_f1"], 4), -round(abs(t["weight"] - 0.5), 6), faster * t["weight"]))
    return best["weight"], trials


def build_ensemble(members: dict[str, tuple[Classifier, np.ndarray, float]], data: Any, grid: Sequence[float],
                   low_confidence: float) -> tuple[EnsembleClassifier, dict]:
    """The ensemble of two trained members, weight tuned on validation. ``members``: name -> (classifier,
    its validation scores, its prediction throughput in articles/s). Multi-label thresholds are re-tuned on
    validation for the mixed scores (the members' own thresholds were tuned for theirs)."""
    (first, (model_a, scores_a, speed_a)), (second, (model_b, scores_b, speed_b)) = members.items()
    truth = data.validation.primary_ids(data.label_names)
    weight, trials = tune_weight(scores_a, scores_b, truth, grid, first_is_faster=speed_a >= speed_b)
    weights = [weight, 1 - weight]
    thresholds = None
    if data.multi_label:
        thresholds = tune_thresholds(mix([scores_a, scores_b], weights), data.validation.indicator(data.label_names))
    ensemble = EnsembleClassifier({first: model_a, second: model_b}, weights, labels=data.label_names,
                                  multi_label=data.multi_label, thresholds=thresholds, low_confidence=low_confidence)
    logger.info("ensemble: %s weight %.2f, %s weight %.2f (validation macro-F1 %.4f)", first, weight, second,
                1 - weight, max(t["macro_f1"] for t in trials))
    log = {"members": [first, second], "weights": {first: weight, second: round(1 - weight, 10)},
           "weight_trials": trials,
           "weight_search": f"{first} weight over {list(grid)} on validation macro-F1; ties to the weight nearest "
                            "0.5, then to the faster member",
           "note": "the weight (and multi-label thresholds) were tuned on validation, so its validation macro-F1 is "
                   "optimistic; candidates are compared on the held-out selection half, and only the winner is tested",
           "thresholds": [round(float(t), 4) for t in thresholds] if thresholds is not None else None}
    return ensemble, log
