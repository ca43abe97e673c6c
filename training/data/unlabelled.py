"""Unlabelled articles for a training run (``train --unlabelled``): read, with the reserved evaluation set refused
and copies of the run's labelled articles dropped, so teacher labels never reach validation or test."""
from __future__ import annotations

import logging
from pathlib import Path

from ..config import DataConfig
from .articles import Articles, read_articles
from .files import DataError
from .identity import article_key
from .splits import LabelledData

logger = logging.getLogger(__name__)

RESERVED = "holdout"  # ../shared/holdout: scored only at the very end, never trained, tuned or pre-trained on


def refuse_reserved(path: str | Path) -> None:
    """Stop when ``path`` lies in the reserved evaluation set."""
    if RESERVED in Path(path).expanduser().resolve().parts:
        raise DataError(f"{path}: the {RESERVED} set is reserved for final evaluation; never train, tune, select or "
                        "pre-train on it")


def read_unlabelled(path: str | Path, config: DataConfig, data: LabelledData) -> Articles:
    """Unlabelled articles of ``path`` (unusable rows skipped and counted), without copies of labelled ones."""
    refuse_reserved(path)
    articles = read_articles(path, config, on_error="skip")
    labelled = {article_key(title, text) for split in data.splits() for title, text in zip(split.titles, split.texts)}
    keep = [i for i, (title, text) in enumerate(zip(articles.titles, articles.texts))
            if article_key(title, text) not in labelled]
    if len(keep) < len(articles):
        articles.copies_dropped = len(articles) - len(keep)
        logger.info("%s: %d of %d unlabelled articles are copies of labelled ones and were dropped", path,
                    articles.copies_dropped, len(articles))
        for name in ("ids", "titles", "texts", "sources", "locations"):
            values = getattr(articles, name)
            setattr(articles, name, [values[i] for i in keep])
    if not articles:
        raise DataError(f"{path}: no unlabelled article left once copies of the labelled data were dropped")
    logger.info("unlabelled: %d articles from %s", len(articles), path)
    return articles
