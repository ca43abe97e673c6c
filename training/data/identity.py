"""What makes two articles the same one, and what follows from it: content keys and hashes, the data fingerprint,
exact duplicates within a split, one id for two articles, texts shared by two splits (leakage), and the articles
an artefact records it was trained on."""
from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Sequence

from .files import DataError
from .splits import Split

logger = logging.getLogger(__name__)


def canonical(text: str) -> str:
    """Canonical form for fingerprints and duplicate detection: NFC, one space between words."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def article_key(title: str, text: str) -> str:
    """What makes two articles the same one: their canonical headline and body."""
    return canonical(f"{title}\n{text}")


def content_hash(title: str, text: str) -> str:
    """sha1 of ``article_key``: how artefacts record the articles they were trained on."""
    return hashlib.sha1(article_key(title, text).encode("utf-8")).hexdigest()


def split_hashes(split: Split) -> list[str]:
    return [content_hash(title, text) for title, text in zip(split.titles, split.texts)]


def fingerprint(splits: Sequence[Split]) -> str:
    """sha256 of every split's name, ids, canonical texts and labels: an artefact records it, and it changes with any
    article, label or split assignment."""
    digest = hashlib.sha256()
    for split in splits:
        for row_id, title, text, labels in zip(split.ids, split.titles, split.texts, split.labels):
            digest.update("\x1f".join([split.name, row_id, canonical(title), canonical(text), "|".join(labels)]).encode())
            digest.update(b"\x1e")
    return "sha256:" + digest.hexdigest()


def dedupe(split: Split) -> tuple[Split, list[str]]:
    """``split`` without exact copies (the same ``article_key``; the first is kept), and the ids dropped."""
    seen: dict[str, int] = {}
    keep, dropped = [], []
    for row, (title, text) in enumerate(zip(split.titles, split.texts)):
        key = article_key(title, text)
        if key in seen:
            dropped.append(split.ids[row])
            if split.labels[row] != split.labels[seen[key]]:
                logger.warning("%s: duplicate of %s with other labels (%s vs %s); keeping the first",
                               split.ids[row], split.ids[seen[key]], split.labels[row], split.labels[seen[key]])
            continue
        seen[key] = row
        keep.append(row)
    return split.subset(keep), dropped


def check_unique_ids(splits: Iterable[Split]) -> None:
    """Stop on one id given to two different articles (exact copies were dropped before): reports, predictions
    and error messages name articles by id, so an id must name one."""
    first: dict[str, tuple[Split, int]] = {}
    for split in splits:
        for row, row_id in enumerate(split.ids):
            if row_id not in first:
                first[row_id] = (split, row)
                continue
            other, other_row = first[row_id]
            if article_key(split.titles[row], split.texts[row]) != article_key(other.titles[other_row], other.texts[other_row]):
                # (the same article in two splits is a leak, reported apart)
                raise DataError(f"{split.where(row)}: id {row_id!r} is also the id of another article "
                                f"({other.where(other_row)}); give every article its own id, or leave the id column "
                                "out to number the rows")


def leakage(*splits: Split) -> dict[str, Any]:
    """Texts found in two splits, per pair of splits (logged: a test article seen in training inflates its scores)."""
    owners: dict[str, str] = {}
    found: dict[str, list[str]] = {}
    for split in splits:
        for row_id, title, text in zip(split.ids, split.titles, split.texts):
            key = canonical(text)
            if key in owners and owners[key] != split.name:
                found.setdefault(f"{owners[key]}/{split.name}", []).append(row_id)
            owners.setdefault(key, split.name)
    for pair, ids in found.items():
        logger.warning("leakage: %d texts of %s occur in both splits %s (e.g. %s)", len(ids), pair.split("/")[1], pair,
                       ", ".join(ids[:3]))
    return {pair: {"count": len(ids), "ids": ids[:20]} for pair, ids in found.items()}


TRAINING_ARTICLES = "training_articles.json"


def training_articles(data) -> dict:
    """What an artefact records of the articles it was fitted and selected on: ids and content hashes."""
    return {"hash": "sha1 of training.data.identity.canonical(title + '\\n' + text)",
            **{split.name: [{"id": row_id, "sha1": digest} for row_id, digest in zip(split.ids, split_hashes(split))]
               for split in (data.train, data.validation)}}


def recorded_hashes(artifact_dir: Path) -> set[str] | None:
    """Content hashes of the articles a model was fitted and selected on (train and validation), as its artefact
    records them; None for artefacts from before they were recorded."""
    recorded = artifact_dir / TRAINING_ARTICLES
    if not recorded.is_file():
        return None
    values = json.loads(recorded.read_text(encoding="utf-8"))
    return {entry["sha1"] for split in ("train", "validation") for entry in values.get(split, [])}
