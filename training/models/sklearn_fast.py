"""Faster paths through three computations the baseline repeats, applied to scikit-learn's own fitted objects.

Measured end to end on the shared dataset (benchmarks/bench_baseline.py, docs/benchmarks.md): with these paths a
baseline run trains in about a quarter of the time and one article scores in ~4 ms instead of ~33 ms. Each one
relies on scikit-learn internals, named where used; they are used only with the scikit-learn release they were
checked against (``SUPPORTED``), and any other release takes scikit-learn's stock path, which gives the same
numbers more slowly (tests/test_baseline.py compares the two). Nothing here is ever pickled: artefacts hold stock
``TfidfVectorizer`` and ``CalibratedClassifierCV`` objects (``as_stock``), and the fast views are rebuilt around
them when a model is loaded (``as_fast``).
"""
from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from itertools import chain
from typing import Any, Iterable

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l1, inplace_csr_row_normalize_l2
from sklearn.utils.validation import check_is_fitted

# The internals used: TfidfVectorizer._count_vocab (overridden), ._tfidf and ._check_vocabulary (read),
# sklearn.utils._sparse._align_api_if_sparse (output type), the fitted calibrators' a_/b_ and the folds that
# CalibratedClassifierCV draws with check_cv. All as in scikit-learn 1.9.
SUPPORTED = sklearn.__version__.startswith("1.9.")

if SUPPORTED:
    from sklearn.utils._sparse import _align_api_if_sparse
else:  # pragma: no cover - other scikit-learn releases use the stock path
    def _align_api_if_sparse(X: Any) -> Any:
        return X


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


def vectorizer(**params: Any) -> TfidfVectorizer:
    """A TF-IDF vectoriser to fit: the fast one where this scikit-learn release supports it."""
    return FastTfidfVectorizer(**params) if SUPPORTED else TfidfVectorizer(**params)


def _retyped(vectorizer: TfidfVectorizer, cls: type) -> TfidfVectorizer:
    """The same fitted state under another of the two classes (they share every attribute but the word memory)."""
    copy = cls.__new__(cls)
    copy.__dict__.update({k: v for k, v in vectorizer.__dict__.items() if k != "_word_ids"})
    return copy


def as_stock(features: Any) -> Any:
    """The feature union with every fast vectoriser replaced by a stock ``TfidfVectorizer`` in the same fitted
    state: what is pickled into an artefact, so loading never depends on this module."""
    features.transformer_list = [(name, _retyped(v, TfidfVectorizer) if isinstance(v, FastTfidfVectorizer) else v)
                                 for name, v in features.transformer_list]
    return features


def as_fast(features: Any) -> list[tuple[str, Any, float]]:
    """(name, vectoriser, weight) blocks for ``transform_blocks``: fast views of the union's fitted stock vectorisers
    where supported (the union itself is left as it is)."""
    weights = features.transformer_weights or {}
    blocks = []
    for name, v in features.transformer_list:
        if v in ("drop", None):
            continue
        if SUPPORTED and type(v) is TfidfVectorizer:
            v = _retyped(v, FastTfidfVectorizer)
        blocks.append((name, v, weights.get(name, 1.0)))
    return blocks


def transform_blocks(blocks: list[tuple[str, Any, float]], docs: Any) -> Any:
    """``FeatureUnion.transform`` without its per-call machinery (joblib, routing, output adapters), which costs
    more than the vectorisers themselves on one article. Same result (public APIs only)."""
    parts = [v.transform(docs) * weight if weight != 1 else v.transform(docs) for _, v, weight in blocks]
    return sp.hstack(parts, format="csr")


# --------------------------------------------------------------------------------------- calibration

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
        if not SUPPORTED or not (isinstance(model, CalibratedClassifierCV) and model.method == "sigmoid" and len(model.classes_) > 2):
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


def calibration_fold_scores(model: Any, X: Any, y: np.ndarray) -> np.ndarray | None:
    """Out-of-fold scores of every training article from a fitted calibrated SVM, at the cost of one prediction
    pass: it holds one model per calibration fold, each calibrated on the fold it left out (the folds are drawn
    again exactly as calibration drew them). None where that does not hold: refit instead."""
    from sklearn.model_selection import check_cv

    if not SUPPORTED or not isinstance(model, CalibratedClassifierCV) or model.ensemble is False:
        return None
    splits = list(check_cv(model.cv, y, classifier=True).split(X, y))
    if len(splits) != len(model.calibrated_classifiers_):
        return None
    scores = np.zeros((X.shape[0], len(model.classes_)))
    for (_, held_out), part in zip(splits, model.calibrated_classifiers_):
        scores[held_out] = part.predict_proba(X[held_out])
    return scores
