"""The linear baseline: one scikit-learn Pipeline, normaliser -> word + character TF-IDF -> linear model.

The feature union is fitted once per feature setting and every linear model of the search reuses it,
so a search costs one vectorisation plus a few cheap linear fits. Settings are chosen on validation only
(test is never looked at here); see docs/training.md for how the defaults were chosen and what they cost. The fast paths
for scikit-learn's vectorisers and calibrated scores are isolated in ``sklearn_fast.py``.
"""
from __future__ import annotations

import gzip
import logging
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from tqdm.auto import tqdm

from ..artifact import ArtifactError, Classifier
from ..config import BaselineConfig, ConfigError, check
from ..data.loading import compose_inputs
from ..data.normalize import ArabicNormalizer
from ..data.splits import LabelledData
from ..evaluation.metrics import macro_f1, tune_thresholds
from .sklearn_fast import (
    CalibratedLinearScores,
    as_fast,
    as_stock,
    calibration_fold_scores,
    transform_blocks,
    vectorizer,
)
from .word_clusters import WORDS, cluster_vectorizer

logger = logging.getLogger(__name__)

PIPELINE_FILE = "pipeline.joblib"
CALIBRATION_FOLDS = 3


# ------------------------------------------------------------------------------------------ features

def build_features(config: BaselineConfig, min_df: int, clusters: dict[str, int] | None = None) -> FeatureUnion:
    """Word and character TF-IDF blocks, each l2-normalised, weighted by ``word_weight`` / ``char_weight``; with
    ``clusters`` ({word: cluster id}, see ``word_clusters.py``), a block of cluster n-grams weighted by
    ``cluster_weight``."""
    check(config)
    common = dict(min_df=min_df, max_df=config.max_df, max_features=config.max_features, sublinear_tf=True,
                  dtype=np.float32)
    blocks, weights = [], {}
    for name, weight, make in (
            ("word", config.word_weight, lambda: vectorizer(
                analyzer="word", ngram_range=tuple(config.word_ngrams), token_pattern=WORDS, **common)),
            ("char", config.char_weight, lambda: vectorizer(
                analyzer="char_wb", ngram_range=tuple(config.char_ngrams), **common))):
        if weight > 0:
            blocks.append((name, make()))
            if weight != 1:
                weights[name] = float(weight)
    if clusters:
        blocks.append(("cluster", cluster_vectorizer(clusters)))
        weights["cluster"] = float(config.cluster_weight)
    return FeatureUnion(blocks, transformer_weights=weights or None)


def transform_features(features: FeatureUnion, docs: Sequence[str]) -> Any:
    """``features.transform(docs)``, through the fast vectorisers where supported. Same result."""
    return transform_blocks(as_fast(features), docs)


# --------------------------------------------------------------------------------------- linear models

def build_linear_model(kind: str, c: float, class_weight: str | None, multi_label: bool, seed: int,
                       calibration_folds: int = CALIBRATION_FOLDS) -> Any:
    if kind == "logreg":
        model: Any = LogisticRegression(C=c, class_weight=class_weight, max_iter=2000, random_state=seed)
    elif kind == "svm":
        # LinearSVC has no probabilities; calibration turns its margins into scores that serving can threshold
        # (and, per class, puts the one-vs-rest margins on one scale, which is worth ~2 points of macro-F1).
        model = CalibratedClassifierCV(LinearSVC(C=c, class_weight=class_weight, random_state=seed),
                                       cv=calibration_folds)
    else:
        raise ValueError(f"unknown baseline classifier {kind!r}; expected logreg or svm")
    return OneVsRestClassifier(model) if multi_label else model


def c_grid(config: BaselineConfig, kind: str) -> list[float]:
    """The C values tried for one classifier: ``c_values`` when given (shared by all), else its own grid."""
    if config.c_values:
        return list(config.c_values)
    grid = {"logreg": config.logreg_c_values, "svm": config.svm_c_values}.get(kind)
    if grid is None:
        raise ValueError(f"unknown baseline classifier {kind!r}; expected logreg or svm")
    return list(grid)


def label_scores(model: Any, X: Any, n_labels: int, scorer: Any = None) -> np.ndarray:
    """(articles, labels) scores with one column per label, also when a label never was a training target
    (e.g. one that only occurs as a secondary topic): such a column scores 0."""
    return _by_label((scorer or model).predict_proba(X), getattr(model, "classes_", None), n_labels)


def select_trial(trials: list[dict], tolerance: float, classifiers: Sequence[str], key: str = "selection_macro_f1") -> int:
    """Index of the chosen trial: the best ``key`` score, where scores within ``tolerance`` of the best count as
    a tie and ties go to the classifier listed first, then to the middle C of that classifier's tied values
    (the grids are centred on the C that cross-validation preferred), the smaller of two middle ones."""
    best = max(t[key] for t in trials)
    tied = [i for i, t in enumerate(trials) if t[key] >= best - tolerance - 1e-12]
    order = {kind: rank for rank, kind in enumerate(classifiers)}
    kind = min((trials[i]["classifier"] for i in tied), key=lambda k: order.get(k, len(order)))
    same = sorted((i for i in tied if trials[i]["classifier"] == kind),
                  key=lambda i: (trials[i]["C"], trials[i]["min_df"]))
    return same[(len(same) - 1) // 2]


def out_of_fold_scores(model: Any, X: Any, y: np.ndarray, n_labels: int, folds: int, seed: int,
                       sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Scores of every training article from a model that did not see it: free for a calibrated SVM (its
    calibration folds are such models), else ``folds`` stratified refits."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    scores = calibration_fold_scores(model, X, y)
    if scores is not None:
        return _by_label(scores, model.classes_, n_labels)
    splitter = (StratifiedKFold if y.ndim == 1 else KFold)(folds, shuffle=True, random_state=seed)
    params = {"sample_weight": sample_weight} if sample_weight is not None else None
    scores = cross_val_predict(clone(model), X, y, cv=splitter, method="predict_proba", params=params)
    return _by_label(scores, getattr(model, "classes_", np.arange(scores.shape[1])), n_labels)


def _by_label(scores: np.ndarray, classes: Any, n_labels: int) -> np.ndarray:
    if scores.shape[1] == n_labels or classes is None or np.ndim(classes) != 1:
        return scores
    full = np.zeros((scores.shape[0], n_labels), dtype=scores.dtype)
    full[:, np.asarray(classes, dtype=int)] = scores
    return full


# ------------------------------------------------------------------------------------------ classifier

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
        # The pipeline's steps, called directly: Pipeline/FeatureUnion and the classifier's input checks cost
        # several milliseconds per call, more than scoring one article; the result is pipeline.predict_proba's.
        steps = self.pipeline.named_steps
        docs = steps["normalize"].transform(compose_inputs(texts, titles))
        if getattr(self, "_fast_of", None) is not self.pipeline:  # built once per fitted pipeline, never saved
            self._blocks, self._scorer = as_fast(steps["features"]), CalibratedLinearScores.of(steps["classify"])
            self._fast_of = self.pipeline
        X = transform_blocks(self._blocks, docs)
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return label_scores(steps["classify"], X, len(self.labels), self._scorer)

    def save_model_files(self, directory: Path) -> dict:
        # A gzip-compressed standard pickle: joblib.load reads it too, but joblib's own pickler is pure Python
        # and took ~4x longer to write (and to read) the vocabularies; gzip level 1 compresses nearly as well.
        with open(directory / PIPELINE_FILE, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) as handle:
            pickle.dump(self.pipeline, handle, protocol=pickle.HIGHEST_PROTOCOL)
        classify = self.pipeline.named_steps["classify"]
        return {"file": PIPELINE_FILE, "classifier": type(classify).__name__,
                "multi_label_strategy": "ovr" if isinstance(classify, OneVsRestClassifier) else "softmax",
                "features": {name: len(vec.vocabulary_) for name, vec in self.pipeline.named_steps["features"].transformer_list}}

    @classmethod
    def load_model_files(cls, directory: Path, manifest: dict) -> "BaselineClassifier":
        # Unpickles: only ever called on our own artefacts after their checksums matched the manifest.
        with gzip.open(directory / manifest["model"]["file"], "rb") as handle:
            pipeline = pickle.load(handle)
        if not isinstance(pipeline, Pipeline) or "normalize" not in pipeline.named_steps:
            raise ArtifactError(f"{directory}: {manifest['model']['file']} is not a baseline pipeline; retrain")
        return cls(pipeline, labels=manifest["labels"], multi_label=manifest["multi_label"],
                   thresholds=manifest.get("thresholds"), low_confidence=manifest.get("low_confidence", 0.5))

    def describe(self) -> dict:
        return {**super().describe(), "normalizer": self.normalizer.get_params()}


# ---------------------------------------------------------------------------------------------- search

@dataclass
class PseudoLabelled:
    """Articles labelled by a model rather than a person, added to the training split with their own weight."""

    texts: list[str]
    titles: list[str]
    label_ids: np.ndarray
    weight: float

    def __len__(self) -> int:
        return len(self.texts)


def train_baseline(data: LabelledData, config: BaselineConfig, normalizer: ArabicNormalizer, seed: int,
                   low_confidence: float = 0.5, pseudo: PseudoLabelled | None = None,
                   clusters: dict[str, int] | None = None) -> tuple[BaselineClassifier, dict]:
    """Search the configured grid; return the chosen fitted classifier and the search log.

    Each trial is scored on validation and, by default, also on out-of-fold predictions of the training split
    (free for the calibrated SVM, whose calibration folds are such models): macro-F1 over both pools ~5,700
    articles instead of validation's ~630, whose small classes make it noisy. Test is never used here.
    ``pseudo`` articles join the training rows (features and fits, weighted) but never the selection measure;
    ``clusters`` adds the word-cluster block (``build_features``)."""
    labels = data.label_names
    check(config)
    one_vs_rest = data.multi_label and config.multi_label_strategy == "ovr"
    if pseudo is not None and one_vs_rest:
        raise ConfigError("--unlabelled with --baseline.multi-label-strategy ovr: self-training needs the softmax "
                          "strategy (the default)")
    y_train = data.train.indicator(labels) if one_vs_rest else data.train.primary_ids(labels)
    gold = len(y_train)
    sample_weight = None
    if pseudo is not None and len(pseudo):
        y_train = np.concatenate([y_train, pseudo.label_ids])
        sample_weight = np.concatenate([np.ones(gold), np.full(len(pseudo), pseudo.weight)])
    y_valid = data.validation.primary_ids(labels)
    y_train_primary = data.train.primary_ids(labels)
    class_weight = None if str(config.class_weight).lower() in ("none", "") else config.class_weight
    use_oof = config.selection == "validation+train-oof"  # (and more than one trial: see below)

    def scored(truth: np.ndarray, scores: np.ndarray) -> float:
        return macro_f1(truth, scores.argmax(axis=1))

    # Calibration needs every class in each of its folds; a class with fewer training articles than folds
    # (a rare topic, or a one-source subset of the data) gets fewer folds, or no SVM at all with one article.
    class_sizes = y_train.sum(axis=0) if one_vs_rest else np.bincount(y_train, minlength=len(labels))
    present = class_sizes[class_sizes > 0]
    smallest = int(min(present.min(), (len(y_train) - class_sizes).min())) if one_vs_rest else int(present.min())
    folds = min(CALIBRATION_FOLDS, smallest)
    classifiers = list(config.classifiers)
    if "svm" in classifiers and folds < 2:
        logger.warning("baseline: a class has a single training article, too few to calibrate an SVM; "
                       "skipping svm%s", "" if len(classifiers) > 1 else " and using logreg")
        classifiers = [kind for kind in classifiers if kind != "svm"] or ["logreg"]
    if use_oof and folds < 2:
        logger.warning("baseline: a class has a single training article; choosing on validation alone")
        use_oof = False

    started = time.perf_counter()
    train_inputs = compose_inputs(data.train.texts, data.train.titles)
    if sample_weight is not None:
        train_inputs += compose_inputs(pseudo.texts, pseudo.titles)
    fitted_normalizer = clone(normalizer).fit(train_inputs)
    train_norm = fitted_normalizer.transform(train_inputs)
    valid_norm = fitted_normalizer.transform(compose_inputs(data.validation.texts, data.validation.titles))
    trials: list[dict] = []
    kept: dict[int, tuple[FeatureUnion, Any, np.ndarray]] = {}  # trials that can still be chosen
    grid = [(min_df, kind, c) for min_df in config.min_df for kind in classifiers for c in c_grid(config, kind)]
    use_oof = use_oof and len(grid) > 1  # a single trial has nothing to be chosen against
    features_seconds, current = 0.0, None
    for min_df, kind, c in tqdm(grid, desc="baseline search", unit="fit", leave=False):
        if min_df != current:  # the grid is ordered by min_df: one feature fit each, reused by every model
            began = time.perf_counter()
            features = build_features(config, min_df, clusters)
            x_train = features.fit_transform(train_norm)
            x_valid = transform_features(features, valid_norm)
            current = min_df
            features_seconds += time.perf_counter() - began
            logger.info("baseline features (min_df=%d): %s n-grams in %.1f s", min_df,
                        " + ".join(f"{len(vec.vocabulary_)} {name}" for name, vec in features.transformer_list),
                        time.perf_counter() - began)
        began = time.perf_counter()
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        model = build_linear_model(kind, c, class_weight, one_vs_rest, seed, max(folds, 2)).fit(x_train, y_train, **weights)
        scores = label_scores(model, x_valid, len(labels))
        trial = {"classifier": kind, "C": c, "min_df": min_df, "validation_macro_f1": scored(y_valid, scores)}
        if use_oof:
            oof = out_of_fold_scores(model, x_train, y_train, len(labels), max(folds, 2), seed, sample_weight)[:gold]
            trial["train_oof_macro_f1"] = scored(y_train_primary, oof)
            trial["selection_macro_f1"] = scored(np.concatenate([y_valid, y_train_primary]), np.vstack([scores, oof]))
        else:
            trial["selection_macro_f1"] = trial["validation_macro_f1"]
        trial["fit_seconds"] = round(time.perf_counter() - began, 2)
        trials.append(trial)
        logger.info("baseline %s C=%g min_df=%d: validation macro-F1 %.4f%s (%.1f s)", kind, c, min_df,
                    trial["validation_macro_f1"], f", with training out-of-fold {trial['selection_macro_f1']:.4f}"
                    if use_oof else "", trial["fit_seconds"])
        kept[len(trials) - 1] = (features, model, scores)
        best = max(t["selection_macro_f1"] for t in trials)  # only ever rises: what falls out of reach stays out
        kept = {i: entry for i, entry in kept.items()
                if trials[i]["selection_macro_f1"] >= best - config.selection_tolerance - 1e-12}
    assert trials, "empty baseline search grid"
    chosen_index = select_trial(trials, config.selection_tolerance, classifiers)
    features, model, valid_scores = kept[chosen_index]
    chosen = trials[chosen_index]
    thresholds = tune_thresholds(valid_scores, data.validation.indicator(labels)) if data.multi_label else None
    pipeline = Pipeline([("normalize", fitted_normalizer), ("features", as_stock(features)), ("classify", model)])
    classifier = BaselineClassifier(pipeline, labels=labels, multi_label=data.multi_label, thresholds=thresholds,
                                    low_confidence=low_confidence)
    best = max(t["selection_macro_f1"] for t in trials)
    measure = ("macro-F1 over validation plus out-of-fold predictions of the training split" if use_oof
               else "validation macro-F1")
    search = {"trials": trials, "chosen": chosen, "search_seconds": round(time.perf_counter() - started, 2),
              "features_seconds": round(features_seconds, 2),
              "selection": f"highest {measure}; trials within {config.selection_tolerance:g} of the best ({best:.4f}) "
                           f"tie, and ties go to the classifier listed first in {classifiers}, then to the middle C "
                           "of its tied values"}
    return classifier, search
