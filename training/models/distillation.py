"""Distillation: a teacher (the run's baseline) labels unlabelled articles with its probabilities, and the
transformer trains on those soft labels together with the gold training split.

Unlabelled articles only ever join the training rows: `read_unlabelled` drops any copy of a labelled article,
so selection and the test score never see a teacher-labelled copy of their own articles.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..artifact import Classifier
from ..config import ConfigError
from ..data.articles import Articles
from ..data.splits import LabelledData

logger = logging.getLogger(__name__)


@dataclass
class DistillationSet:
    """Teacher-labelled articles: ``probabilities`` is (articles, labels) in the data's label order."""

    texts: list[str]
    titles: list[str | None]
    probabilities: np.ndarray
    teacher: str
    temperature: float
    source: str = ""
    copies_dropped: int = 0  # unlabelled articles dropped as copies of labelled ones, before any was scored

    def __len__(self) -> int:
        return len(self.texts)

    def describe(self) -> dict:
        top = self.probabilities.max(axis=1) if len(self) else np.zeros(0)
        return {"articles": len(self), "teacher": self.teacher, "temperature": self.temperature, "source": self.source,
                "copies_of_labelled_dropped": self.copies_dropped,
                "mean_teacher_confidence": round(float(top.mean()), 4) if len(top) else None}


def soften(probabilities: np.ndarray, temperature: float, multi_label: bool) -> np.ndarray:
    """Teacher probabilities at a temperature: softmax(log p / T) for one label, sigmoid(logit p / T) per label."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
    if temperature == 1.0:
        return p if multi_label else p / p.sum(axis=1, keepdims=True)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-np.log(p / (1 - p)) / temperature))
    logits = np.log(p) / temperature
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def teacher_labels(teacher: Classifier, data: LabelledData, texts: list[str], titles: list[str | None], *,
                   temperature: float, teacher_name: str, source: str = "", copies_dropped: int = 0) -> DistillationSet:
    """Score ``texts`` with ``teacher``, its probabilities in the data's label order. The texts come from
    ``training.data.unlabelled.read_unlabelled``, which has dropped copies of every labelled article."""
    if sorted(teacher.labels) != sorted(data.label_names):
        raise ConfigError(f"distillation teacher {teacher_name} has labels {teacher.labels}, the data has "
                          f"{data.label_names}; train the teacher on the same data")
    scores = teacher.predict_scores(texts, titles) if texts else np.zeros((0, len(data.label_names)))
    order = [teacher.labels.index(label) for label in data.label_names]
    probabilities = soften(scores[:, order], temperature, data.multi_label) if len(texts) else scores
    return DistillationSet(texts, titles, probabilities.astype(np.float32), teacher_name, temperature, source,
                           copies_dropped)


def distillation_for_run(config: Any, data: LabelledData, teacher: Classifier, teacher_name: str,
                         unlabelled: Articles) -> DistillationSet:
    """``train --unlabelled``: the teacher labels the first ``--transformer.distill-articles`` unlabelled articles."""
    limit = config.transformer.distill_articles
    titles: list[Any] = [title or None for title in unlabelled.titles[:limit]]
    result = teacher_labels(teacher, data, list(unlabelled.texts[:limit]), titles,
                            temperature=config.transformer.distill_temperature, teacher_name=teacher_name,
                            source=str(config.unlabelled), copies_dropped=unlabelled.copies_dropped)
    logger.info("distillation: %d unlabelled articles labelled by the %s teacher", len(result), teacher_name)
    return result
