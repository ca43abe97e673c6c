"""The linear baseline: one scikit-learn Pipeline, normaliser -> word + character TF-IDF -> linear model.

The feature union is fitted once per feature setting and every linear model of the search reuses it,
so a search costs one vectorisation plus a few cheap linear fits. Settings are chosen on validation only
(test is never looked at here); see README.md (The linear baseline) for how the defaults were chosen and what they cost.
"""
from __future__ import annotations

import gzip
import logging
import pickle
import time
from array import array
from collections import Counter, defaultdict
from itertools import chain
from pathlib import Path
from typing import Any, Iterable, Sequence

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l1, inplace_csr_row_normalize_l2
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ..artifact import ArtifactError, Classifier
from ..config import BaselineConfig, ConfigError
from ..data.loading import LabelledData, compose_inputs
from ..data.normalize import ArabicNormalizer
from ..evaluation.metrics import tune_thresholds

try:  # what scikit-learn's own vectorisers return through (sparse array or matrix, per its config)
    from sklearn.utils._sparse import _align_api_if_sparse
except ImportError:  # pragma: no cover - other scikit-learn versions
    def _align_api_if_sparse(X: Any) -> Any:
        return X

logger = logging.getLogger(__name__)

PIPELINE_FILE = "pipeline.joblib"
CALIBRATION_FOLDS = 3


# ---------------------------------------------------------------------------------------- vectoriser

def _wb_grams(word: str, min_n: int, max_n: int) -> list[str]:
    """scikit-learn's ``char_wb`` n-grams of one whitespace-free word (padded with a space on each side)."""
    padded = f" {word} "
    size = len(padded)
    grams: list[str] = []
    for n in range(min_n, max_n + 1):
        if n >= size:  # a word no longer than n counts once, whole, and longer n add nothing
            grams.append(padded)
            break
        grams += [padded[i:i + n] for i in range(size - n + 1)]
    return grams


def _index_dict() -> defaultdict:
    """A dict giving each new key the next integer (scikit-learn's vocabulary-building trick, run in C)."""
    index: defaultdict = defaultdict()
    index.default_factory = index.__len__
    return index


class FastTfidfVectorizer(TfidfVectorizer):
    """``TfidfVectorizer`` with the same parameters, vocabulary and output, computed with less Python work.

    * ``char_wb`` n-grams never cross a word boundary, so a document's n-gram counts are its word counts
      times each word's n-gram counts. The n-grams are built once per distinct word (and at prediction time
      remembered per word across calls) and the counts come from one sparse product, instead of one Python
      step per n-gram of every document (about 1,200 per article).
    * ``transform`` weights the counts (sublinear tf, idf, l2) in place, with TfidfTransformer's arithmetic,
      without re-validating the matrix it has just built: that validation was most of the cost of one article.

    Other analysers and settings (custom preprocessors, accents stripping, file input) use scikit-learn's own
    counting. ``tests/test_baseline.py`` checks that the matrices equal the stock vectoriser's.
    """

    _CACHE_WORDS = 200_000  # words whose n-gram ids are remembered between transform calls (tens of MB at most)

    def _fast_char_wb(self) -> bool:
        return (self.analyzer == "char_wb" and self.input == "content" and self.preprocessor is None
                and not self.strip_accents)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_word_ids", None)  # a cache: not saved, rebuilt on use
        return state

    def _count_vocab(self, raw_documents: Iterable[Any], fixed_vocab: bool) -> tuple[dict, Any]:
        if not self._fast_char_wb():
            return super()._count_vocab(raw_documents, fixed_vocab)
        # documents -> counts of their distinct words
        word_index = _index_dict()
        lookup = word_index.__getitem__
        columns, counts, indptr = array("i"), array("i"), array("i", [0])
        for doc in raw_documents:
            if not isinstance(doc, str):
                doc = self.decode(doc)
            words = Counter((doc.lower() if self.lowercase else doc).split())
            columns.extend(map(lookup, words))
            counts.extend(words.values())
            indptr.append(len(columns))
        words = list(word_index)
        doc_words = sp.csr_array((np.frombuffer(counts, dtype=np.int32), np.frombuffer(columns, dtype=np.int32),
                                  np.frombuffer(indptr, dtype=np.int32)), shape=(len(indptr) - 1, len(words)))
        # distinct words -> counts of their n-grams
        min_n, max_n = self.ngram_range
        if fixed_vocab:
            vocabulary = self.vocabulary_
            ids, lengths = self._known_word_ids(words, vocabulary, min_n, max_n)
        else:
            index = _index_dict()
            grams = [_wb_grams(word, min_n, max_n) for word in words]
            lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
            ids = np.fromiter(map(index.__getitem__, chain.from_iterable(grams)), dtype=np.int32,
                              count=int(lengths.sum()))
            vocabulary = dict(index)
            if not vocabulary:
                raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        word_ptr = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(lengths, out=word_ptr[1:])
        word_grams = sp.csr_array((np.ones(len(ids), dtype=np.int32), ids, word_ptr),
                                  shape=(len(words), len(vocabulary)))
        word_grams.sum_duplicates()  # an n-gram may occur twice in one word
        X = (doc_words @ word_grams).astype(self.dtype)
        X.sort_indices()
        return vocabulary, X

    def _known_word_ids(self, words: list[str], vocabulary: dict, min_n: int, max_n: int) -> tuple[np.ndarray, np.ndarray]:
        """Vocabulary ids of each word's n-grams (unknown n-grams left out), remembered across calls."""
        key = (id(vocabulary), len(vocabulary), min_n, max_n, self.lowercase)
        cached = getattr(self, "_word_ids", None)
        if cached is None or cached[0] != key:
            cached = self._word_ids = (key, {})
        memo: dict[str, bytes] = cached[1]
        get = vocabulary.get
        parts = []
        for word in words:
            ids = memo.get(word)
            if ids is None:
                ids = array("i", [i for i in map(get, _wb_grams(word, min_n, max_n)) if i is not None]).tobytes()
                if len(memo) >= self._CACHE_WORDS:
                    memo.clear()
                memo[word] = ids
            parts.append(ids)
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)) // 4
        return np.frombuffer(b"".join(parts), dtype=np.int32), lengths

    def transform(self, raw_documents: Iterable[Any]) -> Any:
        check_is_fitted(self, msg="The TF-IDF vectorizer is not fitted")
        if isinstance(raw_documents, str):
            raise ValueError("Iterable over raw text documents expected, string object received.")
        self._check_vocabulary()
        _, X = self._count_vocab(raw_documents, fixed_vocab=True)
        if self.binary:
            X.data.fill(1)
        tfidf = self._tfidf  # TfidfTransformer.transform's arithmetic, on a matrix known to be valid
        if tfidf.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        if tfidf.use_idf:
            X.data *= tfidf.idf_[X.indices]
        if tfidf.norm == "l2":
            inplace_csr_row_normalize_l2(X)
        elif tfidf.norm == "l1":
            inplace_csr_row_normalize_l1(X)
        elif tfidf.norm is not None:
            X = normalize(X, norm=tfidf.norm, copy=False)
        return _align_api_if_sparse(X)


def build_features(config: BaselineConfig, min_df: int) -> FeatureUnion:
    """Word and character TF-IDF blocks, each l2-normalised, weighted by ``word_weight`` / ``char_weight``."""
    common = dict(min_df=min_df, max_df=config.max_df, max_features=config.max_features, sublinear_tf=True,
                  dtype=np.float32)
    blocks, weights = [], {}
    for name, weight, vectorizer in (
            ("word", config.word_weight, lambda: FastTfidfVectorizer(
                analyzer="word", ngram_range=tuple(config.word_ngrams), token_pattern=r"(?u)\b\w+\b", **common)),
            ("char", config.char_weight, lambda: FastTfidfVectorizer(
                analyzer="char_wb", ngram_range=tuple(config.char_ngrams), **common))):
        if weight < 0:
            raise ConfigError(f"--baseline.{name}-weight: expected a weight >= 0, found {weight}")
        if weight > 0:
            blocks.append((name, vectorizer()))
            if weight != 1:
                weights[name] = float(weight)
    if not blocks:
        raise ConfigError("--baseline.word-weight and --baseline.char-weight are both 0; keep at least one block")
    return FeatureUnion(blocks, transformer_weights=weights or None)


def transform_features(features: FeatureUnion, docs: Sequence[str]) -> Any:
    """``features.transform(docs)`` without FeatureUnion's per-call machinery (joblib, routing, output
    adapters), which costs more than the vectorisers themselves on one article. Same result."""
    weights = features.transformer_weights or {}
    blocks = []
    for name, vectorizer in features.transformer_list:
        if vectorizer in ("drop", None):
            continue
        if vectorizer == "passthrough" or not isinstance(vectorizer, TfidfVectorizer):
            return features.transform(docs)
        block = vectorizer.transform(docs)
        blocks.append(block if name not in weights else block * weights[name])
    return sp.hstack(blocks, format="csr")


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
    if not grid:
        raise ConfigError(f"--baseline.{kind}-c-values is empty; give at least one C (or --baseline.c-values)")
    return list(grid)


class CalibratedLinearScores:
    """``CalibratedClassifierCV(LinearSVC, method="sigmoid").predict_proba`` as one sparse-dense product.

    The fitted model averages, over its calibration folds, each fold's per-class sigmoids of its linear
    margins, normalised to sum to one. scikit-learn computes that fold by fold and class by class behind input
    checks that cost ~6 ms per call, 80% of scoring one article; this computes the same arithmetic from the
    fitted parameters (the model itself is unchanged and stays what is saved). Built by :meth:`of`, which
    returns None for any model it does not reproduce exactly; tests compare it with ``predict_proba``.
    """

    def __init__(self, model: CalibratedClassifierCV) -> None:
        self.n_classes = len(model.classes_)
        self.folds, coefs, intercepts = [], [], []
        for part in model.calibrated_classifiers_:
            positions = np.searchsorted(part.classes, part.estimator.classes_)  # LabelEncoder over sorted classes
            self.folds.append((positions, np.array([c.a_ for c in part.calibrators], dtype=float),
                               np.array([c.b_ for c in part.calibrators], dtype=float)))
            coefs.append(part.estimator.coef_)
            intercepts.append(part.estimator.intercept_)
        self.coef = np.ascontiguousarray(np.vstack(coefs).T)
        self.intercept = np.concatenate(intercepts)

    @classmethod
    def of(cls, model: Any) -> "CalibratedLinearScores | None":
        if not (isinstance(model, CalibratedClassifierCV) and model.method == "sigmoid" and len(model.classes_) > 2):
            return None
        for part in getattr(model, "calibrated_classifiers_", []):
            estimator = part.estimator
            if type(estimator) is not LinearSVC or getattr(part, "method", "sigmoid") != "sigmoid" or \
                    estimator.coef_.shape[0] != len(estimator.classes_) or len(part.calibrators) != len(estimator.classes_) or \
                    not all(type(c).__name__ == "_SigmoidCalibration" for c in part.calibrators):
                return None
        return cls(model) if getattr(model, "calibrated_classifiers_", None) else None

    def predict_proba(self, X: Any) -> np.ndarray:
        from scipy.special import expit

        margins = X @ self.coef + self.intercept
        mean = np.zeros((X.shape[0], self.n_classes))
        start = 0
        for positions, a, b in self.folds:
            proba = np.zeros((X.shape[0], self.n_classes))
            proba[:, positions] = expit(-(a * margins[:, start:start + len(positions)] + b))
            start += len(positions)
            denominator = np.sum(proba, axis=1)[:, np.newaxis]
            proba = np.divide(proba, denominator, out=np.full_like(proba, 1 / self.n_classes), where=denominator != 0)
            proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
            mean += proba
        mean /= len(self.folds)
        return mean


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


def out_of_fold_scores(model: Any, X: Any, y: np.ndarray, n_labels: int, folds: int, seed: int) -> np.ndarray:
    """Scores of every training article from a model that did not see it.

    A calibrated SVM already holds one model per calibration fold, each calibrated on the fold it left out,
    so its out-of-fold scores cost one prediction pass (the folds are rebuilt exactly as calibration split
    them). Other models (logreg, one-vs-rest) are refitted on ``folds`` stratified folds: ``folds`` more fits.
    """
    from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_predict

    if isinstance(model, CalibratedClassifierCV) and model.ensemble is not False:
        splits = list(check_cv(model.cv, y, classifier=True).split(X, y))
        if len(splits) == len(model.calibrated_classifiers_):
            scores = np.zeros((X.shape[0], len(model.classes_)))
            for (_, held_out), part in zip(splits, model.calibrated_classifiers_):
                scores[held_out] = part.predict_proba(X[held_out])
            return _by_label(scores, model.classes_, n_labels)
    from sklearn.model_selection import KFold

    splitter = (StratifiedKFold if y.ndim == 1 else KFold)(folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(clone(model), X, y, cv=splitter, method="predict_proba")
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
        X = transform_features(steps["features"], docs)
        if getattr(self, "_scorer_of", None) is not steps["classify"]:
            self._scorer, self._scorer_of = CalibratedLinearScores.of(steps["classify"]), steps["classify"]
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
        path = directory / manifest["model"]["file"]
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        if gzipped:
            with gzip.open(path, "rb") as handle:
                pipeline = pickle.load(handle)
        else:  # artefacts written with joblib.dump
            pipeline = joblib.load(path)
        if not isinstance(pipeline, Pipeline) or "normalize" not in pipeline.named_steps:
            raise ArtifactError(f"{directory}: {manifest['model']['file']} is not a baseline pipeline; retrain")
        return cls(pipeline, labels=manifest["labels"], multi_label=manifest["multi_label"],
                   thresholds=manifest.get("thresholds"), low_confidence=manifest.get("low_confidence", 0.5))

    def describe(self) -> dict:
        return {**super().describe(), "normalizer": self.normalizer.get_params()}


# ---------------------------------------------------------------------------------------------- search

def train_baseline(data: LabelledData, config: BaselineConfig, normalizer: ArabicNormalizer, seed: int,
                   low_confidence: float = 0.5) -> tuple[BaselineClassifier, dict]:
    """Search the configured grid; return the chosen fitted classifier and the search log.

    Each trial is scored on validation and, by default, also on out-of-fold predictions of the training split
    (free for the calibrated SVM, whose calibration folds are such models): macro-F1 over both pools ~5,700
    articles instead of validation's ~630, whose small classes make it noisy. Test is never used here."""
    labels = data.label_names
    if config.multi_label_strategy not in ("softmax", "ovr"):
        raise ConfigError(f"--baseline.multi-label-strategy: expected softmax or ovr, found {config.multi_label_strategy!r}")
    unknown = [kind for kind in config.classifiers if kind not in ("logreg", "svm")]
    if unknown or not config.classifiers:
        raise ConfigError(f"--baseline.classifiers: expected logreg and/or svm, found {unknown[0] if unknown else 'nothing'}")
    if not config.min_df:
        raise ConfigError("--baseline.min-df is empty; give at least one minimum document frequency")
    one_vs_rest = data.multi_label and config.multi_label_strategy == "ovr"
    y_train = data.train.indicator(labels) if one_vs_rest else data.train.primary_ids(labels)
    y_valid = data.validation.primary_ids(labels)
    y_train_primary = data.train.primary_ids(labels)
    class_weight = None if str(config.class_weight).lower() in ("none", "") else config.class_weight
    if config.selection not in ("validation", "validation+train-oof"):
        raise ConfigError(f"--baseline.selection: expected validation or validation+train-oof, found {config.selection!r}")
    use_oof = config.selection == "validation+train-oof"  # (and more than one trial: see below)

    def macro_f1(truth: np.ndarray, scores: np.ndarray) -> float:
        return float(f1_score(truth, scores.argmax(axis=1), average="macro", labels=range(len(labels)), zero_division=0))

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
            features = build_features(config, min_df)
            x_train = features.fit_transform(train_norm)
            x_valid = transform_features(features, valid_norm)
            current = min_df
            features_seconds += time.perf_counter() - began
            logger.info("baseline features (min_df=%d): %s n-grams in %.1f s", min_df,
                        " + ".join(f"{len(vec.vocabulary_)} {name}" for name, vec in features.transformer_list),
                        time.perf_counter() - began)
        began = time.perf_counter()
        model = build_linear_model(kind, c, class_weight, one_vs_rest, seed, max(folds, 2)).fit(x_train, y_train)
        scores = label_scores(model, x_valid, len(labels))
        trial = {"classifier": kind, "C": c, "min_df": min_df, "validation_macro_f1": macro_f1(y_valid, scores)}
        if use_oof:
            oof = out_of_fold_scores(model, x_train, y_train, len(labels), max(folds, 2), seed)
            trial["train_oof_macro_f1"] = macro_f1(y_train_primary, oof)
            trial["selection_macro_f1"] = macro_f1(np.concatenate([y_valid, y_train_primary]), np.vstack([scores, oof]))
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
    pipeline = Pipeline([("normalize", fitted_normalizer), ("features", features), ("classify", model)])
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
