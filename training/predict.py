"""``python -m training predict``: classify articles with an artefact directory or a model store tag.

``--input`` reads what ``train`` reads (JSONL, CSV, TSV, Parquet or a folder of .txt files) with the same column
settings (``--data.text-column`` ...), which default to those the model was trained with (its manifest).
Predictions go to ``--output`` as JSONL or CSV (by extension), or to stdout as JSONL.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from .artifact import Classifier, load, refuse_existing, same_file, write_text_atomic
from .config import ColumnsConfig, setting

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = (".jsonl", ".csv")


@dataclass
class PredictConfig:
    """Settings of `python -m training predict`."""

    model: str = setting("", "Artefact directory, or BentoML store tag (name or name:version); required.", common=True)
    input: str | None = setting(None, "Articles to classify: JSONL, CSV, TSV, Parquet or a folder of .txt files.",
                                common=True)
    text: str | None = setting(None, "One article text to classify (prints JSON).", common=True)
    title: str | None = setting(None, "Headline for --text.")
    output: str | None = setting(None, "Where to write predictions: .jsonl or .csv (one score column per label); "
                                       "default: JSONL on stdout.", common=True)
    overwrite: bool = setting(False, "Replace an existing --output file (otherwise refused).")
    batch_size: int = setting(64, "Articles per call to the model.")
    on_error: Literal["stop", "skip"] = setting(
        "stop", "A row that cannot be read (no text, bad JSON): stop with its location, or skip it and list the "
        "skipped rows at the end.", common=True)
    data: ColumnsConfig = setting(ColumnsConfig(), "")

    def validate(self) -> None:
        from .config import ConfigError

        if not self.model:
            raise ConfigError("predict: --model is required: an artefact directory or a model store tag")
        if (self.input is None) == (self.text is None):
            raise ConfigError("predict: give exactly one of --input FILE or --text TEXT")
        if self.text is not None and not self.text.strip():
            raise ConfigError("predict: --text is empty; give the article's text (an empty row of a file is refused too)")
        if self.output and Path(self.output).suffix.lower() not in OUTPUT_FORMATS:
            raise ConfigError(f"predict: --output {self.output}: expected a .jsonl or .csv file name")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size: expected a positive number, found {self.batch_size}")
        if self.output and self.text is not None:
            raise ConfigError("predict: --output takes the predictions of an --input file; --text prints its JSON")
        if self.output and self.input and same_file(self.output, self.input):
            raise ConfigError(f"predict: --output {self.output} is the --input file: the predictions would replace "
                              "the articles; write them to another file")


def load_model(reference: str) -> Classifier:
    """An artefact directory, or else a model store tag."""
    from .registry import locate

    return load(locate(reference)[1])


def read_input(path: str, columns: ColumnsConfig, model: Classifier, on_error: str) -> Any:
    """The articles of ``path`` (``training.data.articles.Articles``), read with the model's column settings; rows
    skipped by ``on_error="skip"`` are the caller's to report (``report_skipped``), once."""
    from .data.articles import read_articles

    return read_articles(Path(path), columns.resolve(model.manifest), on_error=on_error, named=columns.named_columns(),
                         warn_skipped=False)


def shared_id(articles: Any, rows: Sequence[int] | None = None) -> str | None:
    """Where the first id that names two of ``rows`` (default: all) is ("LOCATION and LOCATION"), else None."""
    first: dict[str, int] = {}
    for row in range(len(articles.ids)) if rows is None else rows:
        if (other := first.setdefault(articles.ids[row], row)) != row:
            return f"{articles.locations[other]} and {articles.locations[row]}"
    return None


def report_skipped(articles: Any, stream: Any = None) -> None:
    """One summary of the rows left out by ``--on-error skip``: how many and where the first ones are."""
    skipped = list(getattr(articles, "skipped", []) or [])
    if skipped:
        stream = stream or sys.stderr
        print(f"skipped {len(skipped)} unreadable row(s); first ones:", file=stream)
        for location, reason in skipped[:10]:
            print(f"  {location}: {reason}", file=stream)


def score_batches(model: Classifier, texts: Sequence[str], titles: Sequence[str], batch_size: int,
                  desc: str = "predict"):
    """(articles, labels) scores, computed batch by batch under a progress bar."""
    import numpy as np
    from tqdm.auto import tqdm

    parts = [model.predict_scores(texts[start:start + batch_size], titles[start:start + batch_size])
             for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch")]
    return np.vstack(parts) if parts else np.zeros((0, len(model.labels)))


def prediction_rows(model: Classifier, articles: Any, batch_size: int) -> list[dict]:
    from .data.script import arabic_ratio

    scores = score_batches(model, articles.texts, articles.titles, batch_size)
    rows = []
    for row_id, title, text, prediction in zip(articles.ids, articles.titles, articles.texts, model.decode(scores)):
        rows.append({"id": row_id, "label": prediction.label, "labels": prediction.labels,
                     "scores": prediction.scores, "low_confidence": prediction.low_confidence,
                     "arabic_ratio": arabic_ratio(title, text)})
    return rows


def to_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def to_csv(rows: list[dict], labels: Sequence[str]) -> str:
    """One row per article; ``labels`` joined with '|'; one ``score_<label>`` column per label."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "label", "labels", *[f"score_{label}" for label in labels], "low_confidence", "arabic_ratio"])
    for row in rows:
        writer.writerow([row["id"], row["label"], "|".join(row["labels"]), *[row["scores"][label] for label in labels],
                         str(row["low_confidence"]).lower(), row["arabic_ratio"]])
    return buffer.getvalue()


def run_predict(config: PredictConfig) -> int:
    if config.output:  # before loading and scoring, not after
        refuse_existing([Path(config.output)], config.overwrite, "choose another --output, or add --overwrite to "
                        "replace it")
    model = load_model(config.model)
    if config.text is not None:
        from .data.script import arabic_ratio

        prediction = model.predict([config.text], [config.title] if config.title else None)[0]
        row = {**prediction.to_dict(), "arabic_ratio": arabic_ratio(config.title, config.text)}  # as a file's rows
        print(json.dumps(row, ensure_ascii=False, indent=2))
        return 0
    articles = read_input(config.input, config.data, model, config.on_error)  # raises when nothing is usable
    if where := shared_id(articles):  # predictions are named by id: joined back by id, these would mix up
        logger.warning("rows share an id, e.g. %s: their predictions cannot be told apart by id; give every row its "
                       "own id", where)
    rows = prediction_rows(model, articles, config.batch_size)
    if config.output and Path(config.output).suffix.lower() == ".csv":
        write_text_atomic(config.output, to_csv(rows, model.labels))
    elif config.output:
        write_text_atomic(config.output, to_jsonl(rows))
    else:
        sys.stdout.write(to_jsonl(rows))
    if config.output:
        logger.info("wrote %d predictions to %s", len(rows), config.output)
    report_skipped(articles)
    return 0
