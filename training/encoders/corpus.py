"""The unlabelled corpus that ``build-tokenizer`` and ``pretrain`` learn from: which columns hold what, the file
checks, and its normalised text, cached by ``datasets``.

Nothing here imports ``datasets`` at module level (the CLI imports this module at start-up).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.loading import DataError, compose_inputs
from ..data.unlabelled import refuse_reserved
from ..settings import setting

if TYPE_CHECKING:  # pragma: no cover
    from ..data.normalize import ArabicNormalizer

CORPUS_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass
class CorpusColumns:
    """Columns of the corpus file (``--data.text-column``, as for ``train`` and ``predict``)."""

    text_column: str = setting("text", "Corpus column holding the article body.", common=True)
    title_column: str = setting("title", "Corpus column holding the headline, read with the body when the file has "
                                "it (a column named here other than `title` must exist).", common=True)


def _open_text(path: Path) -> Any:
    """``path`` as text lines, gunzipped when it ends in .gz."""
    return (gzip.open(path, "rt", encoding="utf-8", errors="replace") if path.suffix.lower() == ".gz"
            else path.open(encoding="utf-8", errors="replace"))


def _first_bad_json_line(path: Path, column: str) -> str | None:
    """Where a JSON Lines file stops parsing, or first holds something other than text in ``column``: line and
    reason, for the error message."""
    with _open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                return f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
            value = row.get(column) if isinstance(row, dict) else None
            if value is not None and not isinstance(value, str):
                return f"line {number}: column `{column}` holds {type(value).__name__}, not text"
    return None


def check_corpus_file(path: str | Path) -> tuple[Path, str]:
    """(path, datasets builder) of a corpus file that exists, is not reserved, has a known format and holds an
    article; the cheap checks, made before anything is written or converted."""
    path = Path(path).expanduser()
    refuse_reserved(path)
    if not path.is_file():
        raise DataError(f"{path}: no such corpus file; expected JSON Lines (.jsonl or .jsonl.gz), CSV or Parquet "
                        "with a text column")
    suffixes = [s for s in path.suffixes if s.lower() != ".gz"]
    builder = CORPUS_BUILDERS.get(suffixes[-1].lower() if suffixes else "")
    if builder is None:
        raise DataError(f"{path}: unknown corpus format; name it .jsonl, .jsonl.gz, .csv or .parquet")
    if builder != "parquet":
        try:
            with _open_text(path) as lines:  # an article after the header line of a CSV
                empty = sum(1 for _ in islice(filter(str.strip, lines), 2)) <= int(builder == "csv")
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: cannot be read ({exc}); is it a complete gzip file?") from None
        if empty:
            raise DataError(f"{path}: the corpus is empty; expected one article per line (a row per article in CSV) "
                            "with a text column")
    return path, builder


def load_corpus(path: str | Path, max_docs: int | None = None, cache_dir: str | None = None, skip_docs: int = 0,
                columns: CorpusColumns | None = None) -> Any:
    """The corpus as a ``datasets.Dataset`` with a ``text`` column and, when the file has one, a ``title`` column
    (read from ``columns``' names): ``max_docs`` rows after the first ``skip_docs`` (all by default).

    ``datasets.load_dataset`` converts the file to Arrow once (about 10 s for the 84.5k-article, 49 MB gzip corpus,
    then 0.03 s from its cache) and every later ``Dataset.map`` (normalising, tokenising, packing) is cached
    beside it, so a second ``build-tokenizer`` or ``pretrain`` on the same corpus skips that work. Reads JSON
    Lines (.jsonl, .jsonl.gz), CSV and Parquet; rows with an empty text are dropped later, when normalised.
    """
    import datasets

    columns = columns or CorpusColumns()
    path, builder = check_corpus_file(path)
    # its ERROR line on a malformed row says, in other words, what the DataError below says with the line number
    logging.getLogger("datasets.packaged_modules.json.json").setLevel(logging.CRITICAL)
    try:
        corpus = datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache_dir)
    except (datasets.exceptions.DatasetGenerationError, ValueError) as exc:
        where = ((_first_bad_json_line(path, columns.text_column) if builder == "json" else None)
                 or f"a row that does not fit the others' columns ({type(exc).__name__}: {exc})")
        raise DataError(f"{path}: cannot be read as a corpus: {where}; fix or remove that row") from None
    found = ", ".join(corpus.column_names)
    text, title = columns.text_column, columns.title_column
    if text not in corpus.column_names:
        raise DataError(f"{path}: no `{text}` column (found {found}); name the column that holds the article body "
                        "with --data.text-column")
    if title not in corpus.column_names and title != "title":
        raise DataError(f"{path}: no `{title}` column (found {found}); fix --data.title-column, or leave it out")
    if getattr(corpus.features[text], "dtype", None) not in ("string", "large_string"):  # e.g. Json: a stray number
        kind = getattr(corpus.features[text], "dtype", type(corpus.features[text]).__name__)
        where = (_first_bad_json_line(path, text) if builder == "json" else None) or f"column `{text}` holds {kind}, not text"
        raise DataError(f"{path}: {where}; fix the file, or name the text column with --data.text-column")
    kept = {text: "text", **({title: "title"} if title in corpus.column_names and title != text else {})}
    corpus = corpus.select_columns(list(kept)).rename_columns({old: new for old, new in kept.items() if old != new})
    if skip_docs or max_docs is not None:
        end = len(corpus) if max_docs is None else min(len(corpus), skip_docs + max_docs)
        corpus = corpus.select(range(min(skip_docs, len(corpus)), end))
    return corpus


def fingerprint(*parts: Any) -> str:
    """A ``datasets`` fingerprint of ``parts``: cached maps are reused when, and only when, their inputs are."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def normalised_corpus(path: str | Path, normalizer: "ArabicNormalizer", max_docs: int | None = None,
                      cache_dir: str | None = None, skip_docs: int = 0, columns: CorpusColumns | None = None) -> Any:
    """``load_corpus`` mapped to one ``text`` column of normalised title + body (the exact input fine-tuning
    sees), without empty articles. Cached by corpus, row count and normaliser settings (shared by build-tokenizer
    and pretrain)."""
    corpus = load_corpus(path, max_docs, cache_dir, skip_docs, columns)
    has_title = "title" in corpus.column_names

    def normalise(batch: dict) -> dict:
        kept = [i for i, text in enumerate(batch["text"]) if isinstance(text, str) and text.strip()]
        titles = [title if isinstance(title := batch["title"][i], str) else "" for i in kept] if has_title else None
        return {"text": normalizer.transform(compose_inputs([batch["text"][i] for i in kept], titles))}

    texts = corpus.map(normalise, batched=True, remove_columns=corpus.column_names, desc="normalising",
                       new_fingerprint=fingerprint("normalise", corpus._fingerprint, normalizer.get_params()))
    if not len(texts):
        raise DataError(f"{path}: no article with a non-empty text; nothing to learn from")
    return texts


def corpus_texts(path: str | Path, normalizer: "ArabicNormalizer", max_docs: int | None = None,
                 skip_docs: int = 0, columns: CorpusColumns | None = None) -> list[str]:
    """Normalised title + body of corpus rows ``skip_docs`` .. ``skip_docs + max_docs`` (e.g. held-out text
    from the end of a corpus whose start built the vocabulary)."""
    return normalised_corpus(path, normalizer, max_docs, skip_docs=skip_docs, columns=columns)["text"]
