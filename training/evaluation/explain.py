"""Why did the model pick this topic? Evidence for one prediction, in the input's own spelling.

Two methods, one result type (:class:`Explanation`):

* ``linear`` (baseline TF-IDF models): the n-grams that pushed the label's score up most, measured as
  coefficient x tf-idf value for that label. The features are computed on *normalised* text (folded alef,
  ya, ta marbuta, no diacritics ...), so each n-gram is mapped back to the words of the original input
  that produce it: ``"الخارجيه"`` is shown as ``"الخارجية"`` if that is how the article spells it.
* ``occlusion`` (any :class:`~training.artifact.Classifier`, the transformer included): drop one sentence
  (or the title) at a time and measure how much the label's score falls. Model-agnostic but costs one
  prediction per sentence, so long texts are grouped into at most ``max_units`` spans.

``explain(classifier, text, title)`` picks ``linear`` when the model has linear coefficients over TF-IDF
features and ``occlusion`` otherwise. Usable from notebooks::

    from training import load
    from training.evaluation.explain import explain
    explain(load("runs/x/baseline"), text, title, top_k=10).to_dict()
"""
from __future__ import annotations

import re
import weakref
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..artifact import Classifier
from ..models.word_clusters import ClusterTokens

__all__ = ["Evidence", "Explanation", "WordWeight", "explain", "explain_linear", "explain_occlusion",
           "linear_coefficients", "split_sentences"]

METHODS = ("auto", "linear", "occlusion")
MAX_UNITS = 40          # occlusion: most spans (sentences or sentence groups) scored per explanation
OCCLUSION_BATCH = 32    # occlusion: variants scored per predict_scores call
_MAX_ORIGINALS = 5      # distinct original spellings listed per n-gram

# A word as written: letters/digits plus the marks and tatweel that normalisation deletes (Python's \w
# does not match combining marks, so "كَتَبَ" would otherwise split into pieces).
_PIECE_RE = re.compile(r"[\w\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]+")
_EDGE_PUNCT = "\"'«»“”„‟‘’‚‛`´()[]{}<>.,،;؛:!?؟…-–—_/\\|*#~"
# Sentence ends: Latin and Arabic full stops, question and exclamation marks, Arabic semicolon, ellipsis,
# and line breaks (scraped articles often have one sentence or paragraph per line).
_SENTENCE_END_RE = re.compile(r"(?:(?<!\d)\.|\.(?!\d)|[!?؟؛;…۔\n])+")  # not the point of a decimal number: 1.9


@dataclass
class Evidence:
    """One piece of evidence for the explained label.

    kind: ``word`` (word n-gram), ``char`` (character n-gram within a word; a space marks the word's
    start or end), ``cluster`` (n-gram of word clusters, such as ``c17 c4``), ``sentence`` or ``title``
    (occlusion units).
    feature: the model's view: the normalised n-gram; for occlusion units "sentence N" or "title".
    original: the input's own spelling(s) that produce the feature (n-grams), or the unit's text as written.
    weight: contribution to the label: coefficient x tf-idf (linear), or the score drop when the unit
    is removed (occlusion). Positive supports the label.
    start, end: character offsets of an occlusion unit in the text (None for the title and n-grams).
    """

    kind: str
    feature: str
    original: list[str]
    weight: float
    start: int | None = None
    end: int | None = None


@dataclass
class WordWeight:
    """A word of the input, as written, and the summed contribution of the features it takes part in."""

    word: str
    weight: float


@dataclass
class Explanation:
    label: str
    score: float
    method: str
    evidence: list[Evidence]
    words: list[WordWeight] = field(default_factory=list)
    counter_evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def explain(classifier: Classifier, text: str, title: str | None = None, *, label: str | None = None,
            top_k: int = 10, method: str = "auto", max_units: int = MAX_UNITS) -> Explanation:
    """Evidence for ``label`` (default: the predicted primary label) of one article."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if method in ("auto", "linear") and _linear_parts(classifier) is not None:
        return explain_linear(classifier, text, title, label=label, top_k=top_k)
    if method == "linear":
        raise ValueError(f"{type(classifier).__name__} has no linear TF-IDF coefficients; use method='occlusion'")
    return explain_occlusion(classifier, text, title, label=label, top_k=top_k, max_units=max_units)


def _label_index(classifier: Classifier, scores: np.ndarray, label: str | None) -> int:
    if label is None:
        return int(np.argmax(scores))
    if label not in classifier.labels:
        raise ValueError(f"unknown label {label!r}; the model's labels are {', '.join(classifier.labels)}")
    return classifier.labels.index(label)


# ------------------------------------------------------------------------------------------- linear

def linear_coefficients(estimator: Any, label_index: int) -> np.ndarray | None:
    """The weight vector that raises ``label_index``'s score, for the linear models the baseline trains:
    LogisticRegression / LinearSVC (binary or multinomial), CalibratedClassifierCV of them (averaged
    over folds) and OneVsRestClassifier of either. None for anything else."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.multiclass import OneVsRestClassifier

    if isinstance(estimator, OneVsRestClassifier):
        estimators = getattr(estimator, "estimators_", None)
        if estimators is None or label_index >= len(estimators):
            return None
        return linear_coefficients(estimators[label_index], 1)  # each is a binary "label vs rest" model
    if isinstance(estimator, CalibratedClassifierCV):
        vectors = []
        for calibrated in getattr(estimator, "calibrated_classifiers_", []):
            inner = getattr(calibrated, "estimator", None) or getattr(calibrated, "base_estimator", None)
            vector = _coef_for_class(inner, estimator.classes_, label_index)
            if vector is None:
                return None
            vectors.append(vector)
        return np.mean(vectors, axis=0) if vectors else None
    return _coef_for_class(estimator, getattr(estimator, "classes_", None), label_index)


def _coef_for_class(estimator: Any, classes: Any, label_index: int) -> np.ndarray | None:
    coef = getattr(estimator, "coef_", None)
    if coef is None or classes is None:
        return None  # e.g. OneVsRest's constant predictor for a label never seen in training
    coef = coef.toarray() if hasattr(coef, "toarray") else np.asarray(coef)
    positions = np.flatnonzero(np.asarray(classes) == label_index)
    if len(positions) == 0:
        return None
    position = int(positions[0])
    if coef.shape[0] == 1:  # binary: one vector for the second class
        return coef[0] if position == 1 else -coef[0]
    return coef[position]


class _LinearParts:
    """What the linear explanation needs from a baseline pipeline, with the inverse vocabularies cached."""

    def __init__(self, normalizer: Any, features: Any, classify: Any) -> None:
        from sklearn.base import clone

        self.normalizer = normalizer
        # Per-word normalisation must not apply page-level rules (boilerplate lines, dates).
        self.word_normalizer = clone(normalizer).set_params(strip_boilerplate=False) \
            if "strip_boilerplate" in normalizer.get_params() else normalizer
        self.features = features
        self.classify = classify
        self.blocks: list[tuple[str, Any, int, np.ndarray]] = []  # (kind, vectorizer, offset, index -> term)
        offset = 0
        for _, vectorizer in features.transformer_list:
            if vectorizer in ("drop", None):
                continue
            terms = vectorizer.get_feature_names_out()  # index -> n-gram
            kind = ("cluster" if isinstance(vectorizer.preprocessor, ClusterTokens) else
                    "char" if str(getattr(vectorizer, "analyzer", "word")).startswith("char") else "word")
            self.blocks.append((kind, vectorizer, offset, terms))
            offset += len(terms)
        self.n_features = offset


_PARTS: "weakref.WeakKeyDictionary[Any, _LinearParts]" = weakref.WeakKeyDictionary()


def _linear_parts(classifier: Classifier) -> _LinearParts | None:
    """The normaliser / TF-IDF union / linear model of a baseline pipeline, or None for other models."""
    pipeline = getattr(classifier, "pipeline", None)
    steps = getattr(pipeline, "named_steps", None)
    if not steps or not {"normalize", "features", "classify"} <= set(steps):
        return None
    if pipeline in _PARTS:
        return _PARTS[pipeline]
    features = steps["features"]
    if not hasattr(features, "transformer_list") or not all(
            hasattr(v, "vocabulary_") for _, v in features.transformer_list if v not in ("drop", None)):
        return None
    if linear_coefficients(steps["classify"], 0) is None:
        return None
    parts = _LinearParts(steps["normalize"], features, steps["classify"])
    _PARTS[pipeline] = parts
    return parts


@dataclass
class _Token:
    token: str      # as the vectoriser sees it (normalised, preprocessed)
    original: str   # the input's spelling
    segment: int    # 0: title, 1: text
    start: int      # offsets of ``original`` in its segment
    end: int


def _surface_streams(parts: _LinearParts, segments: Sequence[str]) -> tuple[list[_Token], list[_Token]]:
    """Word tokens (token_pattern) and whitespace chunks (char_wb's words) of the normalised input, each
    paired with the original spelling it came from. Each original word is normalised on its own; when its
    letter runs normalise to the same tokens piece by piece, each token gets its own piece (so "لـ"التحالف"
    gives "ل" and "التحالف"), otherwise (URLs, e-mails, mentions) every token gets the whole word."""
    word_block = next((b for b in parts.blocks if b[0] == "word"), None)  # the cluster block reads the same words
    word_vec = word_block[1] if word_block else None
    preprocess = word_vec.build_preprocessor() if word_vec is not None else str.lower
    tokenize = word_vec.build_tokenizer() if word_vec is not None else str.split
    cache: dict[str, str] = {}

    def normal(s: str) -> str:
        if s not in cache:
            cache[s] = preprocess(parts.word_normalizer.normalize(s))
        return cache[s]

    tokens: list[_Token] = []
    chunks: list[_Token] = []
    for number, segment in enumerate(segments):
        for match in re.finditer(r"\S+", segment):
            word, at = match.group(), match.start()
            normalised = normal(word)
            display = word.strip(_EDGE_PUNCT) or word
            lead = len(word) - len(word.lstrip(_EDGE_PUNCT)) if display != word else 0
            span = (at + lead, at + lead + len(display))
            chunks.extend(_Token(chunk, display, number, *span) for chunk in normalised.split())
            whole = tokenize(normalised)
            pieces = [(piece, tokenize(normal(piece.group()))) for piece in _PIECE_RE.finditer(word)]
            if [t for _, toks in pieces for t in toks] == whole:
                for piece, toks in pieces:
                    tokens.extend(_Token(t, piece.group(), number, at + piece.start(), at + piece.end()) for t in toks)
            else:
                tokens.extend(_Token(t, display, number, *span) for t in whole)
    return tokens, chunks


def _occurrences(parts: _LinearParts, tokens: list[_Token], chunks: list[_Token],
                 wanted: set[int]) -> dict[int, list[list[_Token]]]:
    """For each wanted feature column, every place it occurs in the input as the tokens producing it.

    Generated the way the vectorisers generate features (word n-grams over the token stream, char_wb
    n-grams of each whitespace chunk), so the cost is linear in the input length."""
    found: dict[int, list[list[_Token]]] = defaultdict(list)
    for kind, vectorizer, offset, _ in parts.blocks:
        vocabulary = vectorizer.vocabulary_
        if kind in ("word", "cluster"):
            low, high = vectorizer.ngram_range
            stream = tokens
            names = [t.token for t in tokens]
            if kind == "cluster":  # the words that have a cluster, each as its cluster's name
                cluster_of = vectorizer.preprocessor.clusters
                stream = [t for t in tokens if t.token in cluster_of]
                names = [f"c{cluster_of[t.token]}" for t in stream]
            for n in range(low, high + 1):
                for start in range(len(names) - n + 1):
                    column = vocabulary.get(names[start] if n == 1 else " ".join(names[start:start + n]))
                    if column is not None and offset + column in wanted:
                        found[offset + column].append(stream[start:start + n])
        else:
            analyze = vectorizer.build_analyzer()
            cache: dict[str, list[int]] = {}
            for chunk in chunks:
                if chunk.token not in cache:
                    columns = (vocabulary.get(g) for g in analyze(chunk.token))
                    cache[chunk.token] = [offset + c for c in columns if c is not None and offset + c in wanted]
                for column in cache[chunk.token]:
                    found[column].append([chunk])
    return found


def _spelling(occurrence: list[_Token], segments: Sequence[str]) -> str:
    """The stretch of the input an occurrence covers, as written (punctuation between its words included)."""
    first, last = occurrence[0], occurrence[-1]
    if first.segment == last.segment and first.start <= last.end:
        return segments[first.segment][first.start:last.end]
    return " ".join(t.original for t in occurrence)


def explain_linear(classifier: Classifier, text: str, title: str | None = None, *, label: str | None = None,
                   top_k: int = 10) -> Explanation:
    """Top n-grams by coefficient x tf-idf for the label, in the input's own spelling."""
    parts = _linear_parts(classifier)
    if parts is None:
        raise ValueError(f"{type(classifier).__name__} is not a linear TF-IDF pipeline; use explain_occlusion")
    from ..data.loading import compose_inputs

    titles = [title] if title is not None else None
    scores = classifier.predict_scores([text], titles)[0]
    k = _label_index(classifier, scores, label)
    coef = linear_coefficients(parts.classify, k)
    x = parts.features.transform(parts.normalizer.transform(compose_inputs([text], titles))).tocsr()
    if coef is None or coef.shape[0] != x.shape[1]:
        return explain_occlusion(classifier, text, title, label=classifier.labels[k], top_k=top_k)

    contributions = {int(c): float(v) * float(coef[c]) for c, v in zip(x.indices, x.data) if v * coef[c] != 0}
    segments = [title or "", text]
    tokens, chunks = _surface_streams(parts, segments)
    occurrences = _occurrences(parts, tokens, chunks, set(contributions))

    word_weights: dict[str, float] = defaultdict(float)
    for column, places in occurrences.items():  # spread each feature's contribution over its words
        share = contributions[column] / sum(len(p) for p in places)
        for place in places:
            for token in place:
                word_weights[token.original] += share

    def evidence(column: int) -> Evidence:
        kind, term = next((kind, terms[column - offset]) for kind, _, offset, terms in reversed(parts.blocks)
                          if column >= offset)
        originals = list(dict.fromkeys(_spelling(p, segments) for p in occurrences.get(column, [])))[:_MAX_ORIGINALS]
        return Evidence(kind=kind, feature=term, original=originals or [term], weight=round(contributions[column], 6))

    ranked = sorted(contributions, key=lambda c: -contributions[c])
    supporting = [evidence(c) for c in ranked[:top_k] if contributions[c] > 0]
    against = [evidence(c) for c in reversed(ranked[-top_k:]) if contributions[c] < 0]
    words = [WordWeight(w, round(v, 6)) for w, v in sorted(word_weights.items(), key=lambda kv: -kv[1]) if v > 0][:top_k]
    return Explanation(label=classifier.labels[k], score=round(float(scores[k]), 6), method="linear",
                       evidence=supporting, words=words, counter_evidence=against)


# ---------------------------------------------------------------------------------------- occlusion

def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the non-blank sentences of ``text``; each span keeps its closing punctuation."""
    spans, start = [], 0
    for match in _SENTENCE_END_RE.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for a, b in spans:
        segment = text[a:b]
        if segment.strip(" \t\r\n" + _EDGE_PUNCT):
            lead = len(segment) - len(segment.lstrip())
            trail = len(segment) - len(segment.rstrip())
            trimmed.append((a + lead, b - trail))
    return trimmed


def _group(spans: list[tuple[int, int]], max_units: int) -> list[tuple[int, int]]:
    """Merge neighbouring sentences into at most ``max_units`` spans of similar sentence counts."""
    if len(spans) <= max_units:
        return spans
    bounds = np.linspace(0, len(spans), max_units + 1).round().astype(int)
    return [(spans[a][0], spans[b - 1][1]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def explain_occlusion(classifier: Classifier, text: str, title: str | None = None, *, label: str | None = None,
                      top_k: int = 10, max_units: int = MAX_UNITS,
                      scorer: Callable[[list[str], list[str | None]], np.ndarray] | None = None) -> Explanation:
    """Drop each sentence (and the title) in turn; evidence is the fall of the label's score."""
    score = scorer or (lambda texts, titles: classifier.predict_scores(texts, titles))
    has_title = bool(title and title.strip())
    spans = _group(split_sentences(text), max_units)
    texts: list[str] = [text]
    titles: list[str | None] = [title if has_title else None]
    for a, b in spans:
        rest = (text[:a].rstrip() + "\n" + text[b:].lstrip()).strip()
        texts.append(rest or " ")
        titles.append(titles[0])
    if has_title:
        texts.append(text)
        titles.append(None)
    rows = [score(texts[i:i + OCCLUSION_BATCH], titles[i:i + OCCLUSION_BATCH]) for i in range(0, len(texts), OCCLUSION_BATCH)]
    matrix = np.vstack(rows)
    k = _label_index(classifier, matrix[0], label)
    base = float(matrix[0, k])
    units = [Evidence(kind="sentence", feature=f"sentence {i + 1}", original=[text[a:b]],
                      weight=round(base - float(matrix[i + 1, k]), 6), start=a, end=b) for i, (a, b) in enumerate(spans)]
    if has_title:
        units.append(Evidence(kind="title", feature="title", original=[title.strip()],
                              weight=round(base - float(matrix[-1, k]), 6)))
    ranked = sorted(units, key=lambda e: -e.weight)
    return Explanation(label=classifier.labels[k], score=round(base, 6), method="occlusion",
                       evidence=[e for e in ranked if e.weight > 0][:top_k],
                       counter_evidence=[e for e in reversed(ranked) if e.weight < 0][:top_k])
