"""``python -m training suggest``: which unlabelled articles to label next so that the model learns most.

The algorithm (uncertainty sampling with a rarity boost, then diversity, balanced across sources):

1. Read the pool like ``predict`` does; drop repeated texts (same body after Unicode/space normalisation) and
   the articles the model was trained or selected on (content hashes recorded in its artefact).
2. Score every article with the model. *Uncertainty* ``u = (1 - margin + entropy) / 2`` where ``margin`` is the
   gap between the two highest scores and ``entropy`` the normalised entropy of the scores (both in [0, 1]).
3. *Rarity*: each label's share of the model's training articles (its manifest) gives it a rarity
   ``1 - count / largest count``; an article's expected rarity is the mean rarity under its scores, and its
   priority is ``u * (1 + rare_boost * expected rarity)``: doubtful articles that are likely rare topics first.
4. *Sources*: when the pool names more than one source, the ``n`` picks are split equally among them (a source
   with too few articles gives its share to the others), so one large publisher cannot fill the batch.
5. *Shortlist*: per source, the ``shortlist`` x its share of highest-priority articles.
6. *Diversity*: TF-IDF vectors (scikit-learn) of the shortlist; a greedy max-min pick takes, at each step, the
   source furthest below its share, and from it the article maximising ``priority x (1 - highest cosine
   similarity to any article already picked)``, so near-duplicates and one story's many versions are not all
   sent to annotators.

The order of the output is the pick order (most useful first). Everything is deterministic for a seed: equal
priorities are ordered by a permutation drawn from ``--seed``.

Writes ``OUT.csv`` for spreadsheets (UTF-8 with BOM so Excel shows Arabic; fill the empty ``label`` column),
``OUT.label-studio.json`` (tasks with the model's label as a prediction) and ``OUT.label-studio.xml`` (the
labelling config). A filled CSV, or Label Studio's JSON export, is read by ``train --data``.
"""
from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from .artifact import load, refuse_existing, write_json_atomic, write_text_atomic
from .config import ColumnsConfig, ConfigError, setting
from .data.identity import canonical, content_hash
from .data.loading import DataError
from .predict import read_input, report_skipped, score_batches, shared_id
from .registry import locate

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("id", "source", "title", "text", "predicted_label", "score", "margin", "label")


@dataclass
class SuggestConfig:
    """Settings of `python -m training suggest`."""

    model: str = setting("", "Artefact directory, or BentoML store tag; required.", common=True)
    pool: str = setting("", "Unlabelled articles: JSONL, CSV, TSV, Parquet or a folder of .txt files; required.",
                        common=True)
    n: int = setting(200, "How many articles to suggest.", common=True)
    out: str = setting("to_label.csv", "CSV to write; the Label Studio files are written next to it "
                                       "(OUT.label-studio.json, OUT.label-studio.xml).", common=True)
    seed: int = setting(13, "Seed ordering equal priorities (the output is identical for a seed).")
    shortlist: int = setting(5, "Diversity is sought among the shortlist x n most uncertain articles.")
    rare_boost: float = setting(1.0, "Weight of the boost for articles likely of rare topics (0: uncertainty only).")
    batch_size: int = setting(64, "Articles per call to the model.")
    overwrite: bool = setting(False, "Replace an existing --out and its Label Studio files (otherwise refused: "
                                     "annotators may be filling the sheet in).")
    on_error: Literal["stop", "skip"] = setting("stop", "A pool row that cannot be read: stop, or skip and list it.")
    data: ColumnsConfig = setting(ColumnsConfig(), "Pool columns (default: as the model's training data).")

    def validate(self) -> None:
        if not self.model or not self.pool:
            raise ConfigError("suggest: --model and --pool are required")
        if self.n < 1 or self.shortlist < 1 or self.batch_size < 1:
            raise ConfigError(f"suggest: --n, --shortlist and --batch-size must be positive, found {self.n}, "
                              f"{self.shortlist} and {self.batch_size}")
        if Path(self.out).suffix.lower() != ".csv":
            raise ConfigError(f"suggest: --out {self.out}: expected a .csv file name (Label Studio files go next to it)")
        if self.rare_boost < 0:
            raise ConfigError(f"--rare-boost: expected 0 or more, found {self.rare_boost}")


# ------------------------------------------------------------------------------------------- selection

def uncertainty(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per article: (uncertainty in [0, 1], margin between the top two scores)."""
    probs = np.clip(np.asarray(scores, dtype=float), 1e-12, None)
    probs = probs / probs.sum(axis=1, keepdims=True)  # multi-label scores are independent: compare them as shares
    top = np.sort(probs, axis=1)[:, ::-1]
    margin = top[:, 0] - (top[:, 1] if probs.shape[1] > 1 else 0.0)
    entropy = -(probs * np.log(probs)).sum(axis=1) / np.log(max(probs.shape[1], 2))
    return (1 - margin + entropy) / 2, margin


def label_rarity(labels: Sequence[str], train_counts: dict[str, int] | None) -> np.ndarray:
    """``1 - count / largest count`` per label (0 for all when the counts are unknown)."""
    counts = np.array([float((train_counts or {}).get(label, 0)) for label in labels])
    return 1 - counts / counts.max() if counts.max() > 0 else np.zeros(len(labels))


def priority(scores: np.ndarray, labels: Sequence[str], train_counts: dict[str, int] | None,
             rare_boost: float) -> tuple[np.ndarray, np.ndarray]:
    doubt, margin = uncertainty(scores)
    probs = np.asarray(scores, dtype=float) / np.clip(np.asarray(scores).sum(axis=1, keepdims=True), 1e-12, None)
    return doubt * (1 + rare_boost * probs @ label_rarity(labels, train_counts)), margin


def source_quotas(sources: Sequence[str], n: int) -> dict[str, int]:
    """``n`` split equally among the sources; a source with too few articles passes its share on."""
    available = dict(sorted(Counter(sources).items()))
    quotas = dict.fromkeys(available, 0)
    remaining = min(n, len(sources))
    while remaining:
        for source in available:
            if remaining and quotas[source] < available[source]:
                quotas[source] += 1
                remaining -= 1
    return quotas


def pick_diverse(docs: Sequence[str], weights: np.ndarray, groups: Sequence[str], quotas: dict[str, int]) -> list[int]:
    """Greedy max-min over TF-IDF cosine distance, weighted by priority, filling each group's quota in turn.
    ``docs`` are in priority order, so ties go to the higher priority."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        vectors = TfidfVectorizer(sublinear_tf=True, min_df=1).fit_transform(docs)  # rows are L2-normalised
    except ValueError:  # no word in any article (digits, symbols): nothing to tell them apart by
        from scipy.sparse import csr_matrix

        vectors = csr_matrix((len(docs), 1))
    closest = np.zeros(len(docs))  # highest similarity to anything picked so far
    free = np.ones(len(docs), dtype=bool)
    groups = np.asarray(groups)
    taken = dict.fromkeys(quotas, 0)
    picks: list[int] = []
    while True:
        open_groups = [g for g in quotas if taken[g] < quotas[g] and (free & (groups == g)).any()]
        if not open_groups:
            return picks
        group = min(open_groups, key=lambda g: taken[g] / quotas[g])  # the furthest below its share (stable)
        gain = np.where(free & (groups == group), weights * (1 - closest) + 1e-9, -np.inf)
        choice = int(np.argmax(gain))
        picks.append(choice)
        free[choice] = False
        taken[group] += 1
        closest = np.maximum(closest, (vectors @ vectors[choice].T).toarray().ravel())


def select(scores: np.ndarray, docs: Sequence[str], sources: Sequence[str], labels: Sequence[str], n: int, *,
           train_counts: dict[str, int] | None = None, seed: int = 13, shortlist: int = 5,
           rare_boost: float = 1.0) -> tuple[list[int], np.ndarray]:
    """Indices of the ``n`` articles to label, in pick order, and every article's margin. ``docs`` are the
    articles' texts (with titles) for the diversity step; ``sources`` may be all empty."""
    weights, margin = priority(scores, labels, train_counts, rare_boost)
    tie_break = np.random.default_rng(seed).permutation(len(docs))
    order = np.lexsort((tie_break, -weights))  # highest priority first; equal priorities in seeded order
    groups = list(sources) if len(set(sources)) > 1 else [""] * len(sources)
    quotas = source_quotas([groups[i] for i in order], n)
    short: list[int] = []
    for group, quota in quotas.items():
        short += [i for i in order if groups[i] == group][:quota * shortlist]
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    short.sort(key=lambda i: rank[i])  # back into priority order
    picked = pick_diverse([docs[i] for i in short], weights[short], [groups[i] for i in short], quotas)
    return [short[i] for i in picked], margin


# ------------------------------------------------------------------------------------------- output

def distinct(texts: Sequence[str], titles: Sequence[str], labelled: set[str] = frozenset()) -> tuple[list[int], int]:
    """Indices of the first occurrence of each text (compared after Unicode and whitespace normalisation),
    leaving out articles already labelled (content hash in ``labelled``); and how many those were."""
    seen: set[str] = set()
    keep, known = [], 0
    for index, (title, text) in enumerate(zip(titles, texts)):
        key = canonical(text)
        if key in seen:
            continue
        seen.add(key)
        if labelled and content_hash(title, text) in labelled:
            known += 1
            continue
        keep.append(index)
    return keep, known


def annotator_csv(rows: list[dict]) -> str:
    """UTF-8 text with a byte order mark first: Excel then reads the file as UTF-8 and shows Arabic."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({**row, "predicted_label": row["label"], "label": ""} for row in rows)
    return "\ufeff" + buffer.getvalue()


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    out = Path(out)
    return out, out.with_suffix(".label-studio.json"), out.with_suffix(".label-studio.xml")


def run_suggest(config: SuggestConfig) -> int:
    from .data.identity import recorded_hashes  # what the model was fitted and selected on: not worth labelling again
    from .data.label_studio import import_tasks, labelling_config

    csv_path, tasks_path, xml_path = output_paths(config.out)
    refuse_existing([csv_path, tasks_path, xml_path], config.overwrite,
                    "a sheet being labelled? Choose another --out, or add --overwrite to replace it")
    model_version, directory = locate(config.model)  # a store name as the NAME:VERSION it resolved to
    model = load(directory)
    articles = read_input(config.pool, config.data, model, config.on_error)
    keep, known = distinct(articles.texts, articles.titles, recorded_hashes(directory) or set())
    if not keep:
        raise DataError(f"{config.pool}: no article left to suggest ({len(articles.texts)} read, {known} of them "
                        "already in the model's training data); give a pool of unlabelled articles")
    if where := shared_id(articles, keep):  # the labelled sheet would be refused by train, after the annotators' work
        raise DataError(f"{where} are different articles with one id: train refuses such labelled data; give every "
                        "row of the pool its own id")
    if len(keep) < len(articles.texts):
        logger.info("pool: %d repeated texts and %d articles of the model's training data left out",
                    len(articles.texts) - len(keep) - known, known)
    texts, titles = [articles.texts[i] for i in keep], [articles.titles[i] for i in keep]
    sources = [str(articles.sources[i] or "") for i in keep]
    scores = score_batches(model, texts, titles, config.batch_size, desc="score pool")
    train_counts = ((model.manifest.get("data") or {}).get("counts") or {}).get("train")
    docs = [f"{title}\n{text}" for title, text in zip(titles, texts)]
    picks, margin = select(scores, docs, sources, model.labels, config.n, train_counts=train_counts, seed=config.seed,
                           shortlist=config.shortlist, rare_boost=config.rare_boost)
    rows = []
    for i in picks:
        top = int(np.argmax(scores[i]))
        rows.append({"id": articles.ids[keep[i]], "source": sources[i], "title": titles[i], "text": texts[i],
                     "label": model.labels[top], "score": round(float(scores[i, top]), 4),
                     "margin": round(float(margin[i]), 4)})
    write_text_atomic(csv_path, annotator_csv(rows))
    write_json_atomic(tasks_path, import_tasks(rows, model_version))
    write_text_atomic(xml_path, labelling_config(model.labels, model.multi_label))
    by_source = {s: sum(r["source"] == s for r in rows) for s in sorted({r["source"] for r in rows})}
    print(f"suggested {len(rows)} of {len(keep)} distinct unlabelled articles"
          + (f" ({', '.join(f'{s} {c}' for s, c in by_source.items())})" if len(by_source) > 1 else "")
          + f": {csv_path}, Label Studio: {tasks_path} with {xml_path}")
    report_skipped(articles)
    return 0
