"""Settings of the data: where labelled or unlabelled articles are and which columns hold what.

``DataConfig`` is the ``--data.*`` section of `train`; ``ColumnsConfig`` (predict, suggest) and
``LabelledColumnsConfig`` (evaluate) leave each column empty to mean "as the model was trained" (its manifest).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from ..settings import ConfigError, setting

# How one file is written (detected per file unless given), as opposed to what its columns mean.
FILE_FORMAT_FIELDS = ("encoding", "csv_delimiter")
# Columns a file may lack (then nothing is read from them), unless the user named them.
OPTIONAL_COLUMN_FIELDS = ("title_column", "labels_column", "source_column", "id_column")


@dataclass
class DataConfig:
    """Labelled data: where it is and which columns hold what."""

    path: str | None = setting(
        None,
        "Labelled data: a directory with train/validation/test files, one JSONL/CSV/TSV/Parquet file, a saved "
        "Hugging Face dataset (save_to_disk) or a hub dataset id. Empty: the built-in sample corpus for train; "
        "evaluate needs one.", common=True)
    text_column: str = setting("text", "Column holding the article body.", common=True)
    title_column: str | None = setting("title", "Optional column holding the headline (used with the body when present).", common=True)
    label_column: str = setting("label", "Column holding the primary label, or every label of an article split on "
                                "--data.label-delimiter, the primary first.", common=True)
    labels_column: str | None = setting(
        "labels", "Optional multi-label column: a list, or a string split on --data.label-delimiter (primary first).",
        common=True)
    label_delimiter: str = setting("|", "Delimiter of several labels in one string, such as 'diplomacy|terrorism' "
                                   "(in --data.label-column or --data.labels-column).", common=True)
    source_column: str | None = setting(
        "source", "Optional column naming each article's publisher: reports give metrics per source, and features "
        "that identify a publisher rather than a topic are found from it. Ignored when the data has no such column.")
    encoding: str = setting(
        "auto", "Text encoding of CSV/TSV/JSONL files: auto (UTF-8, UTF-8 with BOM, UTF-16 or Windows-1256, "
        "detected and reported) or a Python codec name such as cp1256.")
    csv_delimiter: str = setting("auto", "CSV field delimiter: auto (sniffed among , ; tab |) or the character itself.")
    id_column: str | None = setting("id", "Optional id column (reported in errors and predictions).")
    labels: list[str] = setting([], "Explicit label set and order (every row must use one; turns off the label typo check). "
                                "Empty: taken from the training data (sorted).")
    multi_label: Literal["auto", "yes", "no"] = setting("auto", "auto (multi-label when any row has secondary labels), yes or no.")
    validation_size: float = setting(0.1, "Fraction held out for validation when the data has no validation split.")
    test_size: float = setting(0.1, "Fraction held out for test when the data has no test split.")
    hub_config: str | None = setting(None, "Config name for a hub dataset (load_dataset's `name`).")
    hub_revision: str | None = setting(None, "Revision (branch, tag, commit) for a hub dataset.")

    @classmethod
    def as_trained(cls, manifest: dict, given: dict[str, Any], names: Sequence[str]) -> "DataConfig":
        """How to read articles for a model (predict, evaluate): each of ``names`` as ``given``, else as the model's
        training data was read (its manifest), else the default; every other field keeps its default. The text
        encoding and CSV delimiter belong to the training file, not to the model, so they are detected afresh
        unless given: a model trained on a Windows-1256 CSV must still read UTF-8 JSONL."""
        trained = (manifest.get("config") or {}).get("data") or {}
        config = cls()
        for name in names:
            if name in given:
                setattr(config, name, given[name])
            elif name in trained and name not in FILE_FORMAT_FIELDS:
                setattr(config, name, trained[name])
        return config

    def named_columns(self) -> list[str]:
        """The optional column settings given a non-default value: such a column must exist, since a misspelt name
        would otherwise read as "no titles" or "no sources" without a word."""
        return [name for name in OPTIONAL_COLUMN_FIELDS if getattr(self, name) not in (None, "", getattr(DataConfig, name))]

    def validate(self) -> None:
        for flag, size in (("--data.validation-size", self.validation_size), ("--data.test-size", self.test_size)):
            if not 0 < size < 1:
                raise ConfigError(f"{flag} {size}: expected a fraction between 0 and 1, such as 0.1")
        if self.validation_size + self.test_size >= 1:
            raise ConfigError(f"--data.validation-size {self.validation_size} and --data.test-size {self.test_size} "
                              "leave nothing to train on; keep their sum under 1, such as 0.1 each")


@dataclass
class ColumnsConfig:
    """Columns of the articles to read; empty: as the model's training data (its manifest). Encoding and CSV
    delimiter: detected for each file unless given."""

    text_column: str | None = setting(None, "Column holding the article body.", common=True)
    title_column: str | None = setting(None, "Column holding the headline (optional).", common=True)
    id_column: str | None = setting(None, "Column holding the article id (kept in the output).", common=True)
    source_column: str | None = setting(None, "Column naming the publisher (metrics per source; suggest balances "
                                              "over it).")
    encoding: str | None = setting(None, "Text encoding: auto (detected) or a codec name such as cp1256.")
    csv_delimiter: str | None = setting(None, "CSV field delimiter: auto or the character itself.")

    def columns(self) -> list[str]:
        """The reading settings here, each taken from the model's manifest when not given."""
        return [item.name for item in dataclasses.fields(self)]

    def named_columns(self) -> list[str]:
        """The optional columns given here (not inherited from the model): they must exist in the data."""
        return [name for name in OPTIONAL_COLUMN_FIELDS if getattr(self, name, None)]

    def resolve(self, manifest: dict) -> DataConfig:
        """A DataConfig for reading: what was given here, else what the model was trained with, else defaults."""
        names = self.columns()
        return DataConfig.as_trained(manifest, {n: getattr(self, n) for n in names if getattr(self, n) is not None}, names)


@dataclass
class EvaluationPath:
    """Where the labelled articles to evaluate on are: a base of its own so that it comes first in --help."""

    path: str | None = setting(None, "Labelled articles: a data file, a directory whose split files are all "
                               "evaluated, a saved Hugging Face dataset or a hub dataset id; required.", common=True)


@dataclass
class LabelledColumnsConfig(ColumnsConfig, EvaluationPath):
    """Labelled articles to evaluate on, and their columns; empty: as each model's training data (its manifest)."""

    label_column: str | None = setting(None, "Column holding the primary label (or every label, split on "
                                              "--data.label-delimiter).", common=True)
    labels_column: str | None = setting(None, "Optional multi-label column.")
    label_delimiter: str | None = setting(None, "Delimiter of several labels in one string, such as '|'.")

    def columns(self) -> list[str]:
        return [name for name in super().columns() if name != "path"]

    def resolve(self, manifest: dict) -> DataConfig:
        config = super().resolve(manifest)
        config.path = self.path
        return config
