"""Domain-adaptation methods for new publishers, measured against the default baseline features.

Each method changes how the default baseline (word + character TF-IDF, calibrated LinearSVC at C = 1, the value
the default search picks) is trained, and is scored on the same figures as bench_generalisation.py:

- ``reference``: the default features and model, unchanged.
- ``source-balance``: sample weights that give every training publisher the same total weight (Tunisian JawharaFM
  is 86 % of the data), so the model leans less on one station's wording.
- ``easy-adapt``: Daumé's feature augmentation (2007): a shared copy of every feature plus one copy per training
  publisher; an article from an unknown publisher is scored with the shared copy only.
- ``importance``: sample weights p(corpus | article) / p(training | article) from a domain classifier that tells
  the training articles from ``--corpus`` articles (cross-validated, tempered by ``--importance-power``).
- ``scl``: structural correspondence learning (Blitzer et al., 2006): ``--pivots`` word n-grams frequent in both
  the training articles and the corpus and informative of the topic; ridge predictors of each pivot from the
  other word n-grams, over both; the top ``--scl-dimensions`` singular vectors of their weights project every
  article into a shared space, appended as a block of weight ``--scl-weight``.
- ``shared-vocabulary``: the n-grams whose document rate in the training articles is more than
  ``--shared-ratio`` times their rate in the ``--corpus`` articles (a station's own names and phrasing) are
  dropped, so the model leans on the wording the publishers share.
- ``word-clusters`` (``training.models.word_clusters``, what ``--baseline.word-clusters`` adds to the baseline):
  word vectors from the corpus and the figure's training articles (positive PMI of co-occurrence
  within 5 words, reduced by
  truncated SVD; Levy, Goldberg and Dagan, 2015), grouped by k-means (``--clusters``, seeded by ``--seed``); each
  article's words replaced by their cluster ids give a TF-IDF block of cluster 1-2-grams (``--cluster-weight``), so
  words the corpus uses alike (a Tunisian and an Egyptian name for the same thing) share a feature.

Figures: (a) JawharaFM -> Egyptian press, (b) leave one Egyptian publisher out (the methods that need two
training publishers), (c) in domain. Sport is left out of (a) and (b) as in the other benchmarks. The corpus
(``--corpus``, unlabelled) is only read, never labelled; ../shared/holdout is refused.

    .venv/bin/python benchmarks/bench_adaptation.py --out /tmp/adaptation.json   # ~15 min on 2 cores
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_baseline import (  # noqa: E402
    DATASET,
    SHARED,
    SPLITS,
    data_present,
    load_rows,
    macro_f1,
    run_benchmark,
    write_transfer_data,
)

CORPUS = SHARED / "corpora" / "arabic-news-unlabelled.jsonl.gz"
METHODS = ("reference", "source-balance", "easy-adapt", "importance", "scl", "shared-vocabulary", "word-clusters")
NEEDS_SOURCES = {"source-balance", "easy-adapt"}  # meaningful with two or more training publishers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATASET), help="labelled dataset directory (train/validation/test.jsonl)")
    parser.add_argument("--corpus", default=str(CORPUS), help="unlabelled articles of other publishers")
    parser.add_argument("--corpus-articles", type=int, default=12000, help="corpus articles drawn (seeded)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--importance-power", type=float, default=0.5, help="1 = the full density ratio")
    parser.add_argument("--pivots", type=int, default=500)
    parser.add_argument("--scl-dimensions", type=int, default=100)
    parser.add_argument("--scl-weight", type=float, default=0.5)
    parser.add_argument("--shared-ratio", type=float, default=10.0,
                        help="shared-vocabulary: drop n-grams this many times more frequent in training than in the corpus")
    parser.add_argument("--clusters", type=int, default=1000, help="k-means clusters of the word vectors")
    parser.add_argument("--cluster-weight", type=float, default=0.5)
    parser.add_argument("--min-source-examples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", help="write the figures as JSON here")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------- the methods

def source_balance_weights(sources: np.ndarray) -> np.ndarray:
    """Per-article weights, mean 1, that give each publisher the same total."""
    names, index, counts = np.unique(sources, return_inverse=True, return_counts=True)
    weights = len(sources) / (len(names) * counts[index])
    return weights / weights.mean()


def easy_adapt(X: sp.spmatrix, sources: np.ndarray, publishers: list[str]) -> sp.csr_matrix:
    """[shared | one copy per publisher], each copy zero except on that publisher's rows; unknown publishers
    (not in ``publishers``) get the shared copy only."""
    copies = [sp.diags((sources == name).astype(X.dtype)) @ X for name in publishers]
    return sp.hstack([X, *copies]).tocsr()


def importance_weights(p_target: np.ndarray, power: float, clip: tuple[float, float] = (0.05, 20.0)) -> np.ndarray:
    """Density-ratio weights (p / (1 - p)) ** power, mean 1, clipped (the sample sizes' ratio is a constant factor
    that the normalising removes)."""
    p = np.clip(p_target, 1e-6, 1 - 1e-6)
    weights = (p / (1 - p)) ** power
    weights = np.clip(weights / weights.mean(), *clip)
    return weights / weights.mean()


def scl_projection(source: sp.spmatrix, target: sp.spmatrix, y: np.ndarray, n_pivots: int, dimensions: int,
                   min_df: int = 20, ridge: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(pivot columns, projection): pivots are the columns with document frequency >= ``min_df`` in both
    matrices, ranked by mutual information with ``y`` on ``source``; the projection (columns x dimensions) maps
    the non-pivot columns to the top singular vectors of the pivot predictors' weights."""
    from scipy.linalg import solve
    from sklearn.feature_selection import mutual_info_classif

    frequent = np.flatnonzero((np.asarray((source > 0).sum(0)).ravel() >= min_df)
                              & (np.asarray((target > 0).sum(0)).ravel() >= min_df))
    information = mutual_info_classif((source[:, frequent] > 0).astype(np.float32), y, discrete_features=True,
                                      random_state=seed)
    pivots = frequent[np.argsort(-information, kind="stable")[:n_pivots]]
    both = sp.vstack([source, target]).tocsr()
    occurs = (both[:, pivots] > 0).toarray().astype(np.float64)
    others = both @ sp.diags(np.isin(np.arange(both.shape[1]), pivots, invert=True).astype(both.dtype))
    # ridge in its dual form: the articles (~15k) are far fewer than the n-grams (~100k)
    gram = (others @ others.T).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += ridge
    predictors = np.asarray(others.T @ solve(gram, occurs - occurs.mean(0), assume_a="pos"))
    vectors = np.linalg.svd(predictors, full_matrices=False)[0]
    return pivots, vectors[:, :dimensions]


def scl_block(X: sp.spmatrix, pivots: np.ndarray, projection: np.ndarray, weight: float) -> sp.csr_matrix:
    from sklearn.preprocessing import normalize

    X = X.tocsc(copy=True)
    for column in pivots:
        X.data[X.indptr[column]:X.indptr[column + 1]] = 0
    return sp.csr_matrix(normalize(np.asarray(X.tocsr() @ projection)) * weight)


def shared_columns(train: sp.spmatrix, corpus: sp.spmatrix, ratio: float) -> np.ndarray:
    """1 for the columns whose document rate in ``train`` is at most ``ratio`` times that in ``corpus`` (both
    smoothed by one corpus article), 0 for the others."""
    smoothing = 1 / corpus.shape[0]
    rate = lambda X: np.asarray((X > 0).mean(axis=0)).ravel() + smoothing  # noqa: E731
    return (rate(train) / rate(corpus) <= ratio).astype(train.dtype)


# ---------------------------------------------------------------------------------------------- figures

def docs_of(rows: list[dict]) -> list[str]:
    from training.data.loading import compose_inputs
    from training.data.normalize import ArabicNormalizer

    return ArabicNormalizer().transform(compose_inputs([r["text"] for r in rows], [r.get("title") or "" for r in rows]))


def one_figure(args: argparse.Namespace, name: str, files: dict, corpus_docs: list[str]) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from training.config import BaselineConfig
    from training.models.baseline import build_features, build_linear_model

    labels = sorted({r["label"] for r in files["train"]})
    train_docs, test_docs = docs_of(files["train"]), docs_of(files["test"])
    y = np.array([labels.index(r["label"]) for r in files["train"]])
    truth = [r["label"] for r in files["test"]]
    sources = np.array([r.get("source") for r in files["train"]])
    publishers = sorted(set(sources))
    features = build_features(BaselineConfig(), 2)
    X, X_test = features.fit_transform(train_docs), features.transform(test_docs)
    figures = {"train": len(y), "test": len(truth), "publishers": publishers, "methods": {}}
    for method in args.methods:
        if method in NEEDS_SOURCES and len(publishers) < 2:
            continue
        started, weights, fit_X, test_X = time.time(), None, X, X_test
        if method == "source-balance":
            weights = source_balance_weights(sources)
        elif method == "easy-adapt":
            fit_X, test_X = easy_adapt(X, sources, publishers), easy_adapt(X_test, np.array([None] * len(truth)), publishers)
        elif method == "importance":
            corpus_X = features.transform(corpus_docs)
            both = sp.vstack([X, corpus_X]).tocsr()
            is_corpus = np.r_[np.zeros(len(y)), np.ones(corpus_X.shape[0])]
            p = cross_val_predict(LogisticRegression(C=0.1, max_iter=1000), both, is_corpus, cv=5,
                                  method="predict_proba")[: len(y), 1]
            weights = importance_weights(p, args.importance_power)
        elif method == "scl":
            word = features.transformer_list[0][1]
            train_words, test_words = word.transform(train_docs), word.transform(test_docs)
            pivots, projection = scl_projection(train_words, word.transform(corpus_docs), y, args.pivots,
                                                args.scl_dimensions, seed=args.seed)
            fit_X = sp.hstack([X, scl_block(train_words, pivots, projection, args.scl_weight)]).tocsr()
            test_X = sp.hstack([X_test, scl_block(test_words, pivots, projection, args.scl_weight)]).tocsr()
        elif method == "shared-vocabulary":
            kept = sp.diags(shared_columns(X, features.transform(corpus_docs), args.shared_ratio))
            fit_X, test_X = (X @ kept).tocsr(), (X_test @ kept).tocsr()
        elif method == "word-clusters":  # never from a test article: the corpus and this figure's training ones
            from training.models.word_clusters import cluster_vectorizer, learn_word_clusters

            bag = cluster_vectorizer(learn_word_clusters(corpus_docs + train_docs, args.clusters, args.seed))
            fit_X = sp.hstack([X, bag.fit_transform(train_docs) * args.cluster_weight]).tocsr()
            test_X = sp.hstack([X_test, bag.transform(test_docs) * args.cluster_weight]).tocsr()
        model = build_linear_model("svm", 1.0, "balanced", False, args.seed).fit(fit_X, y, sample_weight=weights)
        predicted = [labels[i] for i in model.predict(test_X)]
        score = macro_f1(truth, predicted, labels)
        figures["methods"][method] = {"macro_f1": round(score, 4), "seconds": round(time.time() - started, 1)}
        print(f"{name:34s} {method:15s} {score:.4f}", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from training.config import DataConfig
    from training.data.articles import read_articles
    from training.data.unlabelled import refuse_reserved

    data, corpus = Path(args.data), Path(args.corpus)
    refuse_reserved(data)
    refuse_reserved(corpus)
    if not (all(data_present(data, DATASET, needs=f"{split}.jsonl") for split in SPLITS)
            and data_present(corpus, CORPUS, needs="", flag="--corpus")):
        return 0
    rows = load_rows(data)
    articles = read_articles(corpus, DataConfig(), on_error="skip")
    chosen = np.random.default_rng(args.seed).choice(len(articles.texts), min(args.corpus_articles, len(articles.texts)),
                                                     replace=False)
    corpus_docs = docs_of([{"text": articles.texts[i], "title": articles.titles[i]} for i in chosen])
    egyptian = {"masrawy", "elfagr"}
    settings = {"(a) jawharafm -> egyptian press": ({"jawharafm"}, egyptian),
                **{f"(b) leave out {name}": ({"jawharafm"} | egyptian - {name}, {name}) for name in sorted(egyptian)}}
    results: dict = {"seed": args.seed, "corpus_articles": len(corpus_docs), "figures": {}}
    with tempfile.TemporaryDirectory() as work:
        for name, (trained_on, tested_on) in settings.items():
            written = write_transfer_data(rows, lambda r: r.get("source") in trained_on,
                                          lambda r: r.get("source") in tested_on, args.min_source_examples,
                                          Path(work) / name.replace(" ", "_"))
            results["figures"][name] = one_figure(args, name, written["files"], corpus_docs)
    in_domain = {"train": rows["train"], "test": rows["test"]}
    results["figures"]["(c) in domain"] = one_figure(args, "(c) in domain", in_domain, corpus_docs)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_benchmark(main))
