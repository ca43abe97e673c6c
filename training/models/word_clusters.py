"""Word-cluster features for the baseline: words used in the same contexts share a cluster, so the words another
publisher uses for a topic land in the clusters the training publishers' words define.

Why: a TF-IDF model knows only the n-grams of its training articles, and a new publisher's terrorism vocabulary
differs from a Tunisian radio's. Word vectors learnt from the training articles and the ``--unlabelled`` ones
(never validation or test) bridge the two; each article's cluster 1-2-grams become one more TF-IDF block.
Measured on the cross-source proxy in docs/generalisation.md.

Vectors: positive PMI of words co-occurring within ``WINDOW`` words (context distribution smoothed by 0.75),
reduced to ``DIMENSIONS`` by truncated SVD and l2-normalised; clusters: k-means over them.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data.articles import Articles
    from ..data.splits import LabelledData

logger = logging.getLogger(__name__)

WORDS = r"(?u)\b\w+\b"  # the baseline's word tokens: its word block and the clusters read the same words
WINDOW, DIMENSIONS, MIN_COUNT, MAX_WORDS = 5, 150, 5, 60_000
CHUNK = 5_000  # articles whose word pairs are counted together
WORDS_PER_CLUSTER = 5  # fewer words per cluster on average: groups of one or two, the word block again


def word_vectors(docs: Sequence[str], dimensions: int = DIMENSIONS, window: int = WINDOW, min_df: int = MIN_COUNT,
                 max_words: int = MAX_WORDS, seed: int = 0) -> tuple[dict[str, int], np.ndarray]:
    """(vocabulary, l2-normalised vectors) of the ``max_words`` most frequent words in at least ``min_df`` docs."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    try:
        counter = CountVectorizer(token_pattern=WORDS, min_df=min_df, max_features=max_words).fit(docs)
    except ValueError:  # fewer articles than min_df, or no word in min_df of them
        return {}, np.zeros((0, dimensions), dtype=np.float32)
    vocabulary, analyze = counter.vocabulary_, counter.build_analyzer()
    size = len(vocabulary)
    if size < 3:  # too few words to reduce or to cluster
        return {}, np.zeros((0, dimensions), dtype=np.float32)
    counts = sp.csr_matrix((size, size), dtype=np.float32)
    for start in range(0, len(docs), CHUNK):  # word pairs counted a chunk at a time: all at once would take GBs
        left, right = [], []
        for doc in docs[start:start + CHUNK]:
            ids = np.array([vocabulary[t] for t in analyze(doc) if t in vocabulary], dtype=np.int32)
            for distance in range(1, window + 1):
                left.append(ids[:-distance])
                right.append(ids[distance:])
        pairs = (np.concatenate(left), np.concatenate(right))
        counts += sp.coo_matrix((np.ones(len(pairs[0]), np.float32), pairs), shape=(size, size)).tocsr()
    counts = (counts + counts.T).tocoo()
    total, words = counts.data.sum(), np.asarray(counts.sum(1)).ravel()
    contexts = np.asarray(counts.sum(0)).ravel() ** 0.75
    pmi = np.log(counts.data / total) - np.log(words[counts.row] / total) - np.log(contexts[counts.col] / contexts.sum())
    positive = pmi > 0
    ppmi = sp.csr_matrix((pmi[positive], (counts.row[positive], counts.col[positive])), shape=(size, size))
    return vocabulary, normalize(TruncatedSVD(min(dimensions, size - 1), random_state=seed).fit_transform(ppmi))


def learn_word_clusters(docs: Sequence[str], n_clusters: int, seed: int) -> dict[str, int]:
    """{word: cluster id} from normalised article texts (the training and unlabelled ones)."""
    from sklearn.cluster import MiniBatchKMeans

    vocabulary, vectors = word_vectors(docs, seed=seed)
    if not vocabulary:
        logger.warning("word clusters: too few words in %d articles (each word must be in %d of them); training "
                       "without them", len(docs), MIN_COUNT)
        return {}
    if len(vocabulary) < WORDS_PER_CLUSTER * n_clusters:
        logger.warning("word clusters: %d words for %d clusters, too few to group (words in %d articles or more "
                       "count); the cluster block will mostly repeat the word features: ask for about %d clusters, "
                       "or give more --unlabelled articles", len(vocabulary), n_clusters, MIN_COUNT,
                       max(2, len(vocabulary) // WORDS_PER_CLUSTER))
    found = MiniBatchKMeans(min(n_clusters, len(vocabulary)), random_state=seed, n_init=3,
                            batch_size=4096).fit(vectors).labels_
    return {word: int(found[index]) for word, index in vocabulary.items()}


class ClusterTokens:
    """The TF-IDF preprocessor of the cluster block: an article as the cluster ids of its words (``c17 c4 ...``),
    words without a cluster left out. A class rather than a closure so that the pipeline can be pickled."""

    def __init__(self, clusters: dict[str, int]) -> None:
        self.clusters = clusters

    def __call__(self, doc: str) -> str:
        get = self.clusters.get
        return " ".join(f"c{cluster}" for cluster in map(get, re.findall(WORDS, doc.lower())) if cluster is not None)


def cluster_vectorizer(clusters: dict[str, int]) -> object:
    """The cluster block: TF-IDF of cluster 1-2-grams (in at least two training articles), sublinear tf."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(preprocessor=ClusterTokens(clusters), token_pattern=r"\S+", ngram_range=(1, 2), min_df=2,
                           sublinear_tf=True, dtype=np.float32)


@dataclass
class RunClusters:
    """A run's word clusters, learnt once and shared by every baseline it trains, and what they were learnt from."""

    clusters: dict[str, int]
    log: dict


def clusters_for_run(config: "TrainConfig", data: "LabelledData", unlabelled: "Articles | None",
                     distills: bool = False) -> RunClusters | None:
    """The run's word clusters (None when ``--baseline.word-clusters`` is 0 or no baseline is trained: neither a
    candidate nor, when the run ``distills``, the transformer's teacher), learnt from the training split and the
    unlabelled articles (as many as self-training reads), normalised as the baseline sees them."""
    from ..data.loading import compose_inputs
    from ..data.normalize import normalizer_for

    if not config.baseline.word_clusters or not ("baseline" in config.models or distills):
        return None
    texts = compose_inputs(data.train.texts, data.train.titles)
    if unlabelled is not None:
        limit = config.self_training.max_unlabelled or len(unlabelled)
        texts += compose_inputs(unlabelled.texts[:limit], unlabelled.titles[:limit])
    started = time.perf_counter()
    normalizer = normalizer_for(config.normalizer.preset, **config.normalizer.overrides)
    clusters = learn_word_clusters(normalizer.transform(texts), config.baseline.word_clusters, config.seed)
    log = {"clusters": len(set(clusters.values())), "words": len(clusters), "articles": len(texts),
           "unlabelled": unlabelled is not None, "seconds": round(time.perf_counter() - started, 1)}
    logger.info("word clusters: %d words from %d articles in %d clusters (%.1f s)", log["words"], log["articles"],
                log["clusters"], log["seconds"])
    return RunClusters(clusters, log)
