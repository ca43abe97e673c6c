"""The linear baseline: one scikit-learn Pipeline, normaliser -> word + character TF-IDF -> linear model.

The feature union is fitted once per feature setting and every linear model of the search reuses it,
so a search costs one vectorisation plus a few cheap linear fits. Settings are chosen on validation only.
"""
from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path
from typing import Any, Sequence

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from tqdm.auto import tqdm

from .artifact import ArtifactError, Classifier
from .config import BaselineConfig, ConfigError
from .data import LabelledData, compose_inputs
from .metrics import tune_thresholds
from .normalize import ArabicNormalizer

logger = logging.getLogger(__name__)

PIPELINE_FILE = "pipeline.joblib"


def build_features(config: BaselineConfig, min_df: int) -> FeatureUnion:
    word = TfidfVectorizer(analyzer="word", ngram_range=tuple(config.word_ngrams), min_df=min_df,
                           max_features=config.max_features, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b",
                           dtype=np.float32)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(config.char_ngrams), min_df=min_df,
                           max_features=config.max_features, sublinear_tf=True, dtype=np.float32)
    return FeatureUnion([("word", word), ("char", char)])


def build_linear_model(kind: str, c: float, class_weight: str | None, multi_label: bool, seed: int) -> Any:
    if kind == "logreg":
        model: Any = LogisticRegression(C=c, class_weight=class_weight, max_iter=2000, random_state=seed)
    elif kind == "svm":
        # LinearSVC has no probabilities; calibration turns its margins into scores that serving can threshold.
        model = CalibratedClassifierCV(LinearSVC(C=c, class_weight=class_weight, random_state=seed), cv=3)
    else:
        raise ValueError(f"unknown baseline classifier {kind!r}; expected logreg or svm")
    return OneVsRestClassifier(model) if multi_label else model


class BaselineClassifier(Classifier):
    model_type = "baseline"

    def __init__(self, pipeline: Pipeline, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline

    @property
    def normalizer(self) -> ArabicNormalizer:
        return self.pipeline.named_steps["normalize"]

    def predict_scores(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)))
        return self.pipeline.predict_proba(compose_inputs(texts, titles))

    def save_model_files(self, directory: Path) -> dict:
        joblib.dump(self.pipeline, directory / PIPELINE_FILE, compress=3)
        classify = self.pipeline.named_steps["classify"]
        return {"file": PIPELINE_FILE, "classifier": type(classify).__name__,
                "multi_label_strategy": "ovr" if isinstance(classify, OneVsRestClassifier) else "softmax",
                "features": {name: len(vec.vocabulary_) for name, vec in self.pipeline.named_steps["features"].transformer_list}}

    @classmethod
    def load_model_files(cls, directory: Path, manifest: dict) -> "BaselineClassifier":
        # joblib unpickles: only ever called on our own artefacts after their checksums matched the manifest.
        pipeline = joblib.load(directory / manifest["model"]["file"])
        if not isinstance(pipeline, Pipeline) or "normalize" not in pipeline.named_steps:
            raise ArtifactError(f"{directory}: {manifest['model']['file']} is not a baseline pipeline; retrain")
        return cls(pipeline, labels=manifest["labels"], multi_label=manifest["multi_label"],
                   thresholds=manifest.get("thresholds"), low_confidence=manifest.get("low_confidence", 0.5))

    def describe(self) -> dict:
        return {**super().describe(), "normalizer": self.normalizer.get_params()}


def train_baseline(data: LabelledData, config: BaselineConfig, normalizer: ArabicNormalizer, seed: int,
                   low_confidence: float = 0.5) -> tuple[BaselineClassifier, dict]:
    """Search the configured grid on validation; return the best fitted classifier and the search log."""
    labels = data.label_names
    train_inputs = compose_inputs(data.train.texts, data.train.titles)
    valid_inputs = compose_inputs(data.validation.texts, data.validation.titles)
    if config.multi_label_strategy not in ("softmax", "ovr"):
        raise ConfigError(f"--baseline.multi-label-strategy: expected softmax or ovr, found {config.multi_label_strategy!r}")
    one_vs_rest = data.multi_label and config.multi_label_strategy == "ovr"
    y_train = data.train.indicator(labels) if one_vs_rest else data.train.primary_ids(labels)
    y_valid = data.validation.primary_ids(labels)
    class_weight = None if str(config.class_weight).lower() in ("none", "") else config.class_weight

    started = time.perf_counter()
    fitted_normalizer = clone(normalizer).fit(train_inputs)
    train_norm = fitted_normalizer.transform(train_inputs)
    valid_norm = fitted_normalizer.transform(valid_inputs)
    trials, best = [], None
    grid = list(itertools.product(config.min_df, config.classifiers, config.c_values))
    features_by_min_df: dict[int, tuple[FeatureUnion, Any, Any]] = {}
    for min_df, kind, c in tqdm(grid, desc="baseline search", unit="fit", leave=False):
        if min_df not in features_by_min_df:
            features = build_features(config, min_df)
            x_train = features.fit_transform(train_norm)
            features_by_min_df = {min_df: (features, x_train, features.transform(valid_norm))}
        features, x_train, x_valid = features_by_min_df[min_df]
        model = build_linear_model(kind, c, class_weight, one_vs_rest, seed).fit(x_train, y_train)
        scores = model.predict_proba(x_valid)
        macro_f1 = float(f1_score(y_valid, scores.argmax(axis=1), average="macro", labels=range(len(labels)), zero_division=0))
        trials.append({"classifier": kind, "C": c, "min_df": min_df, "validation_macro_f1": macro_f1})
        logger.info("baseline %s C=%g min_df=%d: validation macro-F1 %.4f", kind, c, min_df, macro_f1)
        if best is None or macro_f1 > best[0]:
            best = (macro_f1, features, model, scores, trials[-1])
    assert best is not None, "empty baseline search grid"
    _, features, model, valid_scores, chosen = best
    thresholds = tune_thresholds(valid_scores, data.validation.indicator(labels)) if data.multi_label else None
    pipeline = Pipeline([("normalize", fitted_normalizer), ("features", features), ("classify", model)])
    classifier = BaselineClassifier(pipeline, labels=labels, multi_label=data.multi_label, thresholds=thresholds,
                                    low_confidence=low_confidence)
    search = {"trials": trials, "chosen": chosen, "search_seconds": round(time.perf_counter() - started, 2)}
    return classifier, search
