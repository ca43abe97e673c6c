"""Load labelled Arabic articles into train/validation/test splits, validated, deduplicated and fingerprinted.

Reading goes through the `datasets` library: a directory of split files, one JSONL/CSV/TSV/Parquet
file, a saved dataset (``save_to_disk``) or a hub dataset id. Every problem is reported as a
``DataError`` naming the file, row, column, what was expected and how to fix it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import DataConfig
from .files import (  # DataError: every command imports it from here
    DataError,
    FileRows,
    RawRow,
    check_named_columns,
    data_format,
    missing_text_column,
    read_rows,
    stem,
)
from .identity import check_unique_ids, dedupe, fingerprint, leakage
from .labels import check_label_column, check_labels, label_set, unify_spellings
from .splits import LabelledData, Split

logger = logging.getLogger(__name__)

SAMPLE_CORPUS = Path(__file__).parent / "sample_data" / "sample_news.jsonl"
SPLIT_ALIASES = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
                 "val": "validation", "dev": "validation", "test": "test", "testing": "test"}


def compose_inputs(texts: Sequence[str], titles: Sequence[str | None] | None = None) -> list[str]:
    """Headline and body as one input: the title carries much of the topic, so both are used."""
    if titles is None:
        return list(texts)
    if len(titles) != len(texts):
        raise ValueError(f"titles must match texts one to one: {len(titles)} titles for {len(texts)} texts")
    return [f"{title.strip()}\n{text}" if title and title.strip() else text for title, text in zip(titles, texts)]


# ---------------------------------------------------------------------------------------------- reading

def _read_file(path: Path, config: DataConfig) -> FileRows:
    """Every row of one data file (encoding and CSV delimiter detected); the first unparseable row stops."""
    table = read_rows(path, encoding=config.encoding, delimiter=config.csv_delimiter,
                      expected_columns=[config.text_column])
    if path.suffix.lower() == ".json":  # Label Studio's JSON export (tasks with data and annotations)?
        from .label_studio import export_table

        table = export_table(table) or table
    for row in table.rows:
        if row.problem:
            raise DataError(f"{path}: {row.problem}")
    return table


def _split_files(directory: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        split = SPLIT_ALIASES.get(path.stem.lower())
        if split and data_format(path):
            if split in found:
                raise DataError(f"{directory}: two files for the {split} split ({found[split].name}, {path.name}); keep one")
            found[split] = path
    return found


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter in messages)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_raw_splits(config: DataConfig) -> dict[str, FileRows]:
    """Rows per split name, each with where they came from (for error messages)."""
    if not config.path:
        return {"all": _read_file(SAMPLE_CORPUS, config)}
    path = Path(config.path).expanduser()
    if path.is_dir():
        if (path / "dataset_dict.json").exists() or (path / "dataset_info.json").exists():
            return _read_saved_dataset(path)
        files = _split_files(path)
        if "train" not in files:
            raise DataError(
                f"{path}: no training file; expected train.jsonl (or .csv/.tsv/.parquet), optionally validation.* and test.*, "
                f"or a dataset saved with save_to_disk; found: {', '.join(p.name for p in path.iterdir()) or 'nothing'}"
            )
        return {split: _read_file(file, config) for split, file in files.items()}
    if path.is_file():
        return {"all": _read_file(path, config)}
    if path.suffix or path.is_absolute() or str(config.path).startswith("."):
        raise DataError(f"{path}: no such file or directory; give a data directory, a data file or a hub dataset id")
    return _read_hub_dataset(config)


def _read_saved_dataset(path: Path) -> dict[str, FileRows]:
    from datasets import Dataset, DatasetDict, load_from_disk

    loaded = load_from_disk(str(path))
    if isinstance(loaded, Dataset):
        return {"all": _dataset_rows(str(path), loaded)}
    assert isinstance(loaded, DatasetDict)
    return _dataset_dict_rows(loaded, str(path))


def _dataset_rows(origin: str, dataset: Any) -> FileRows:
    return FileRows(origin, [RawRow(values, None) for values in dataset.to_list()], columns=list(dataset.column_names))


def _dataset_dict_rows(loaded: Any, origin: str) -> dict[str, FileRows]:
    rows: dict[str, FileRows] = {}
    for name, dataset in loaded.items():
        split = SPLIT_ALIASES.get(name.lower())
        if split:
            rows[split] = _dataset_rows(f"{origin} [{name}]", dataset)
    if "train" not in rows:
        raise DataError(f"{origin}: no train split; found splits {list(loaded)}; name the training split 'train'")
    return rows


def _read_hub_dataset(config: DataConfig) -> dict[str, FileRows]:
    """The real hub path: needs network access (offline, this fails with the hub's own message)."""
    from datasets import load_dataset

    try:
        loaded = load_dataset(config.path, name=config.hub_config, revision=config.hub_revision)
    except Exception as exc:
        raise DataError(
            f"{config.path}: not a local file or directory, and loading it as a Hugging Face hub dataset failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); check the path, or the id and "
            "your network (HF_HUB_OFFLINE=1 forbids downloads)"
        ) from None
    return _dataset_dict_rows(loaded, f"hub:{config.path}")


# ------------------------------------------------------------------------------------------ validation

def _labels_of(row: dict, config: DataConfig, where: str) -> list[str]:
    primary = row.get(config.label_column)
    multi = row.get(config.labels_column) if config.labels_column else None
    if isinstance(multi, str):
        multi = [part.strip() for part in multi.split(config.label_delimiter)]
    if multi is not None and not isinstance(multi, (list, tuple)):
        raise DataError(f"{where}: column {config.labels_column!r} must be a list or a "
                        f"{config.label_delimiter!r}-separated string, found {type(multi).__name__} {multi!r}")
    multi = [str(label).strip() for label in (multi or []) if label is not None and str(label).strip()]
    if isinstance(primary, dict):
        raise DataError(f"{where}: column {config.label_column!r} holds a mapping {primary!r}, not a label; from Label "
                        "Studio, export as JSON (not JSON-MIN), or give each article its label(s) as text or a list")
    if isinstance(primary, str) and config.label_delimiter in primary:
        primary = primary.split(config.label_delimiter)
    if isinstance(primary, (list, tuple)):
        # One column may hold every topic of an article, the main one first ("diplomacy;terrorism", or a list).
        primary, *secondary = [str(part).strip() for part in primary if part is not None and str(part).strip()] or [""]
        multi = secondary + multi
    if primary is None or str(primary).strip() == "":
        if not multi:
            raise DataError(f"{where}: no label in column {config.label_column!r}; give every article its primary label")
        primary = multi[0]
    primary = str(primary).strip()
    return [primary] + [label for label in dict.fromkeys(multi) if label != primary]


def _to_split(name: str, table: FileRows, config: DataConfig, named: Sequence[str] = ()) -> Split:
    origin, rows = str(table.path), [row.values or {} for row in table.rows]
    if not rows:
        raise DataError(f"{origin}: no rows; expected one article per row")
    columns = table.columns or list(rows[0])
    check_named_columns(table, config, named)
    if config.text_column not in columns:
        raise missing_text_column(table, config)
    if config.label_column not in columns and (not config.labels_column or config.labels_column not in columns):
        raise DataError(f"{origin}: missing column {config.label_column!r}; found columns {columns}; "
                        f"name yours with --data.label-column NAME (or --data.labels-column for a multi-label column)")
    split = Split(name, [], [], [], [], [], origin)
    use_title = bool(config.title_column) and config.title_column in columns
    # rows without an id are named as `predict` names them: <file stem>:<line>; rows of a datasets object by split
    prefix = stem(table.path) if isinstance(table.path, Path) else name
    for row_number, row in enumerate(rows):
        where = table.location(row_number)
        row_id = row.get(config.id_column) if config.id_column else None
        if row_id not in (None, ""):
            where += f" (id {row_id})"
        text = row.get(config.text_column)
        if not isinstance(text, str):
            raise DataError(f"{where}: column {config.text_column!r} must be text, found "
                            f"{'nothing' if text is None else type(text).__name__}; fill it or remove the row")
        if not text.strip():
            raise DataError(f"{where}: column {config.text_column!r} is empty; fill it or remove the row")
        title = row.get(config.title_column) if use_title else None
        source = row.get(config.source_column) if config.source_column else None
        split.ids.append(str(row_id) if row_id not in (None, "") else f"{prefix}:{table.rows[row_number].line or row_number + 1}")
        split.titles.append(title if isinstance(title, str) else "")
        split.texts.append(text)
        split.labels.append(_labels_of(row, config, where))
        split.sources.append("" if source is None else str(source))
        split.locations.append(where)
    return split


def read_evaluation_set(settings: DataConfig, named: Sequence[str] = ()) -> Split:
    """Every row of ``settings.path`` (all split files of a directory, concatenated) as one split, unsplit and
    unchecked against a label set: what ``evaluate`` scores models on. ``named``: as ``check_named_columns``. Ids
    must name one article each, as in training: the misclassified articles are listed by id."""
    parts = [_to_split(name, table, settings, named) for name, table in read_raw_splits(settings).items()]
    merged = Split("evaluation", [], [], [], [], [], ", ".join(part.origin for part in parts))
    for part in parts:
        for name in ("ids", "titles", "texts", "labels", "sources", "locations"):
            getattr(merged, name).extend(getattr(part, name))
    check_unique_ids(parts)
    return merged


def stratified_split(split: Split, size: float, seed: int, name: str) -> tuple[Split, Split]:
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(split))
    try:
        rest, held = train_test_split(rows, test_size=size, random_state=seed, stratify=split.primary)
    except ValueError as exc:
        try:
            rest, held = train_test_split(rows, test_size=size, random_state=seed)
        except ValueError:  # so few articles that one side would be empty
            raise DataError(f"{split.origin}: {len(split)} article(s) left are too few to hold out a {name} split; "
                            "add labelled articles (a few per label at least), or give the split yourself: a --data "
                            f"directory holding train.jsonl and {name}.jsonl") from None
        logger.warning("cannot stratify the %s split (%s); split at random with seed %d", name, exc, seed)
    return split.subset(sorted(rest), split.name), split.subset(sorted(held), name)


def load_data(config: DataConfig, seed: int = 13, expected_labels: Sequence[str] | None = None,
              named: Sequence[str] = ()) -> LabelledData:
    """Read, validate, deduplicate and split labelled data; raise ``DataError`` on anything unusable.

    ``expected_labels``: the label set of the model being retrained (a registered name); a label outside it stops
    loading unless ``--data.labels`` declares the new set. ``named``: optional column settings the user gave,
    which every file must have (``DataConfig.named_columns``; see ``check_named_columns``).
    """
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # per-file "Generating split" bars are noise next to the validation report
    raw = read_raw_splits(config)
    if not config.path:
        logger.warning("no --data given: training on the built-in sample corpus (%d articles, %s); pass --data PATH "
                       "for your own articles", len(raw["all"].rows), _shown(SAMPLE_CORPUS))
    parsed = {name: _to_split(name if name != "all" else "train", table, config, named) for name, table in raw.items()}
    check_label_column(parsed.get("train") or parsed["all"], config)
    unify_spellings(list(parsed.values()), config.labels or expected_labels or ())
    check_labels(list(parsed.values()), config, expected_labels)
    report: dict[str, Any] = {"sources": {name: split.origin for name, split in parsed.items()}, "duplicates_dropped": {},
                              "encodings": {name: table.encoding for name, table in raw.items() if table.encoding},
                              "delimiters": {name: table.delimiter for name, table in raw.items() if table.delimiter}}
    for name in list(parsed):
        parsed[name], dropped = dedupe(parsed[name])
        if dropped:
            report["duplicates_dropped"][name] = {"count": len(dropped), "ids": dropped[:20]}
            logger.warning("%s: dropped %d exact duplicate articles (e.g. %s)", name, len(dropped), ", ".join(dropped[:3]))
    check_unique_ids(parsed.values())
    train = parsed.pop("train", None) or parsed.pop("all")
    if "test" not in parsed:
        train, parsed["test"] = stratified_split(train, config.test_size, seed, "test")
        report["test_split"] = f"stratified {config.test_size:.0%} of the training data (seed {seed})"
    if "validation" not in parsed:
        share = config.validation_size / max(1e-9, 1 - (config.test_size if "test_split" in report else 0))
        train, parsed["validation"] = stratified_split(train, share, seed, "validation")
        report["validation_split"] = f"stratified {config.validation_size:.0%} of the training data (seed {seed})"
    validation, test = parsed["validation"], parsed["test"]

    label_names = label_set(config, train, validation, test, expected_labels)
    multi_label = _multi_label(config, train, validation, test)
    report["leakage"] = leakage(train, validation, test)
    data = LabelledData(train, validation, test, label_names, multi_label, fingerprint([train, validation, test]), report)
    report["counts"] = data.counts()
    report["multi_label_articles"] = {s.name: sum(len(l) > 1 for l in s.labels) for s in data.splits()}
    return data


def _multi_label(config: DataConfig, *splits: Split) -> bool:
    if config.multi_label != "auto":  # yes or no (check() refuses anything else)
        return config.multi_label == "yes"
    return any(len(labels) > 1 for split in splits for labels in split.labels)


def describe(data: LabelledData) -> str:
    """The validation report shown before training."""
    lines = [f"labels: {', '.join(data.label_names)} ({'multi-label' if data.multi_label else 'single-label'})",
             f"fingerprint: {data.fingerprint}"]
    for split in data.splits():
        counts = data.counts()[split.name]
        lines.append(f"{split.name:>10}: {len(split):5d} articles  " + "  ".join(f"{k}={v}" for k, v in counts.items())
                     + f"  multi-label={data.report['multi_label_articles'][split.name]}  ({split.origin})")
    for name, info in data.report.get("duplicates_dropped", {}).items():
        lines.append(f"duplicates dropped in {name}: {info['count']}")
    for pair, info in data.report.get("leakage", {}).items():
        lines.append(f"leakage {pair}: {info['count']} texts in both")
    return "\n".join(lines)
