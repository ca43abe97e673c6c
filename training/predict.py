"""``python -m training predict``: classify articles with an artefact directory or a model store tag."""
from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from .artifact import load, write_text_atomic
from .config import setting
from .data.loading import DataError

logger = logging.getLogger(__name__)


@dataclass
class PredictConfig:
    """Settings of `python -m training predict`."""

    model: str = setting("", "Artefact directory, or BentoML store tag (name or name:version); required.")
    input: str | None = setting(None, "JSONL with `text`, optional `id` and `title`.")
    text: str | None = setting(None, "One article text to classify (prints JSON).")
    title: str | None = setting(None, "Headline for --text.")
    output: str | None = setting(None, "JSONL to write (id, label, labels, scores); default: stdout.")
    batch_size: int = setting(64, "Articles per call to the model.")

    def validate(self) -> None:
        from .config import ConfigError

        if not self.model:
            raise ConfigError("predict: --model is required: an artefact directory or a model store tag")
        if (self.input is None) == (self.text is None):
            raise ConfigError("predict: give exactly one of --input FILE or --text TEXT")


def load_model(reference: str):
    """An artefact directory, or else a model store tag."""
    if Path(reference).exists():
        return load(reference)
    from .registry import resolve

    return load(resolve(reference))


def _read_articles(path: Path) -> list[dict]:
    articles = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path} line {number}: not valid JSON ({exc.msg}); fix or remove the line") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
                raise DataError(f"{path} line {number}: expected an object with a non-empty string `text`")
            articles.append({"id": row.get("id", number), "text": row["text"], "title": row.get("title") or ""})
    return articles


def run_predict(config: PredictConfig) -> int:
    from tqdm.auto import tqdm

    model = load_model(config.model)
    if config.text is not None:
        prediction = model.predict([config.text], [config.title] if config.title else None)[0]
        print(json.dumps(prediction.to_dict(), ensure_ascii=False, indent=2))
        return 0
    articles = _read_articles(Path(config.input))
    lines = []
    for start in tqdm(range(0, len(articles), config.batch_size), desc="predict", unit="batch"):
        batch = articles[start:start + config.batch_size]
        for article, prediction in zip(batch, model.predict([a["text"] for a in batch], [a["title"] for a in batch])):
            lines.append(json.dumps({"id": article["id"], "label": prediction.label, "labels": prediction.labels,
                                     "scores": prediction.scores}, ensure_ascii=False))
    text = "\n".join(lines) + ("\n" if lines else "")
    if config.output:
        write_text_atomic(config.output, text)
        logger.info("wrote %d predictions to %s", len(lines), config.output)
    else:
        sys.stdout.write(text)
    return 0
