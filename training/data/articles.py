"""Unlabelled articles to classify or pre-train on: one JSONL(.gz)/CSV/TSV/Parquet file, or a folder of .txt files.

Every article keeps where it came from (``data/x.csv line 5 (id a17)``) so that predictions and errors can
point back at the row. A bad row stops reading with a ``DataError`` naming the file, line, id and the fix,
or (``on_error="skip"``) is recorded in ``Articles.skipped`` and counted in one WARNING line (unless the caller
reports the skipped rows itself, as predict and suggest do at the end); article text is never logged.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from ..config import DataConfig
from .files import (
    DATA_SUFFIXES,
    DataError,
    check_named_columns,
    data_format,
    missing_text_column,
    read_rows,
    read_text,
    stem,
)

logger = logging.getLogger(__name__)


@dataclass
class Articles:
    ids: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (location, reason)
    copies_dropped: int = 0  # unlabelled articles left out as copies of labelled ones (read_unlabelled)
    encoding: str | None = None
    origin: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, article_id: str, title: str, text: str, source: str, location: str) -> None:
        self.ids.append(article_id)
        self.titles.append(title)
        self.texts.append(text)
        self.sources.append(source)
        self.locations.append(location)


def read_articles(path: str | Path, config: DataConfig, *, on_error: Literal["stop", "skip"] = "stop",
                  named: Sequence[str] = (), warn_skipped: bool = True) -> Articles:
    """Articles of ``path`` using ``config``'s columns, encoding and CSV delimiter; ``named``: optional column
    settings the user gave, which a table must have (see ``check_named_columns``); ``warn_skipped``: log the skipped
    rows' count and the first one (off when the caller reports them)."""
    if on_error not in ("stop", "skip"):
        raise ValueError(f"on_error must be 'stop' or 'skip', not {on_error!r}")
    path = Path(path).expanduser()
    if path.is_dir():
        articles = _read_text_folder(path, config, on_error)
    elif path.is_file():
        articles = _read_table(path, config, on_error, named)
    else:
        raise DataError(f"{path}: no such file or directory; give a JSONL/CSV/TSV/Parquet file or a folder of .txt files")
    if articles.skipped and warn_skipped:
        location, reason = articles.skipped[0]
        logger.warning("%s: skipped %d unusable row(s); first: %s: %s", path, len(articles.skipped), location, reason)
    if not articles:
        raise DataError(f"{path}: no usable articles" + (f" ({len(articles.skipped)} rows skipped)" if articles.skipped else "")
                        + f"; expected a non-empty {config.text_column!r} in each row")
    return articles


def _bad_row(articles: Articles, on_error: str, location: str, reason: str) -> None:
    if on_error == "stop":
        raise DataError(f"{location}: {reason}")
    articles.skipped.append((location, reason))


def _read_table(path: Path, config: DataConfig, on_error: str, named: Sequence[str]) -> Articles:
    table = read_rows(path, encoding=config.encoding, delimiter=config.csv_delimiter,
                      expected_columns=[config.text_column])
    if table.columns and config.text_column not in table.columns:
        raise missing_text_column(table, config)
    check_named_columns(table, config, named)
    articles = Articles(encoding=table.encoding, origin=str(path))
    for index, row in enumerate(table.rows):
        where = table.location(index)
        if row.values is None:  # the problem already names the line
            if on_error == "stop":
                raise DataError(f"{path}: {row.problem}")
            articles.skipped.append((where, str(row.problem)))
            continue
        values = row.values
        raw_id = values.get(config.id_column) if config.id_column else None
        article_id = str(raw_id) if raw_id not in (None, "") else f"{stem(path)}:{row.line or index + 1}"
        where += f" (id {article_id})"
        text = values.get(config.text_column)
        if not isinstance(text, str) or not text.strip():
            found = "is empty" if isinstance(text, str) else (
                "is missing" if text is None else f"holds {type(text).__name__}, not text")
            _bad_row(articles, on_error, where, f"column {config.text_column!r} {found}; fill it or remove the row")
            continue
        title = values.get(config.title_column) if config.title_column else None
        source = values.get(config.source_column) if config.source_column else None
        articles.add(article_id, title if isinstance(title, str) else "", text,
                     "" if source is None else str(source), where)
    return articles


def _read_text_folder(path: Path, config: DataConfig, on_error: str) -> Articles:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
    if not files:
        data_files = sorted(p.name for p in path.iterdir() if data_format(p))
        hint = f" (found {', '.join(data_files[:3])}: give one of them as the path)" if data_files else ""
        raise DataError(f"{path}: no .txt files; a folder must hold one article per .txt file{hint}. "
                        f"Data files ({', '.join(DATA_SUFFIXES)}) are read when given as the path")
    articles = Articles(origin=str(path))
    used: Counter[str] = Counter()
    for file in files:
        where = f"{file} (id {stem(file)})"
        try:
            text, codec, bad = read_text(file, config.encoding)
        except DataError as exc:
            _bad_row(articles, on_error, where, str(exc).removeprefix(f"{file}: "))
            continue
        if bad:
            line, problem = next(iter(bad.items()))
            _bad_row(articles, on_error, where, f"line {line} has {problem}")
            continue
        used[codec] += 1
        if not text.strip():
            _bad_row(articles, on_error, where, "the file is empty; remove it or give it the article's text")
            continue
        articles.add(stem(file), "", text, "", where)
    if used:
        articles.encoding = used.most_common(1)[0][0]
        logger.info("%s: %d .txt files, encodings %s", path, sum(used.values()),
                    ", ".join(f"{codec} ({count})" for codec, count in used.most_common()))
    return articles
