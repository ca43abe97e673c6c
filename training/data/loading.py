"""Load labelled Arabic articles into train/validation/test splits, validated, deduplicated and fingerprinted.

Reading goes through the `datasets` library: a directory of split files, one JSONL/CSV/TSV/Parquet
file, a saved dataset (``save_to_disk``) or a hub dataset id. Every problem is reported as a
``DataError`` naming the file, row, column, what was expected and how to fix it.
"""
from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..config import DataConfig
from .files import DataError, FileRows, RawRow, data_format, read_rows  # DataError: every command imports it from here
from .labels import check_labels, label_set, unify_spellings

logger = logging.getLogger(__name__)

SAMPLE_CORPUS = Path(__file__).parent / "sample_data" / "sample_news.jsonl"
SPLIT_ALIASES = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
                 "val": "validation", "dev": "validation", "test": "test", "testing": "test"}



@dataclass
class Split:
    """One split of articles; ``labels[i]`` lists article i's topics, primary first."""

    name: str
    ids: list[str]
    titles: list[str]
    texts: list[str]
    labels: list[list[str]]
    sources: list[str]
    origin: str = ""
    locations: list[str] = field(default_factory=list)  # "data/x.csv line 5 (id a17)", for messages

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def primary(self) -> list[str]:
        return [labels[0] for labels in self.labels]

    def primary_ids(self, label_names: Sequence[str]) -> np.ndarray:
        index = {name: i for i, name in enumerate(label_names)}
        return np.array([index[label] for label in self.primary], dtype=np.int64)

    def indicator(self, label_names: Sequence[str]) -> np.ndarray:
        """Multi-label targets as an (articles, labels) 0/1 matrix."""
        index = {name: i for i, name in enumerate(label_names)}
        matrix = np.zeros((len(self), len(label_names)), dtype=np.int64)
        for row, labels in enumerate(self.labels):
            matrix[row, [index[label] for label in labels]] = 1
        return matrix

    def subset(self, rows: Sequence[int], name: str | None = None) -> "Split":
        pick = lambda values: [values[i] for i in rows]  # noqa: E731
        return Split(name or self.name, pick(self.ids), pick(self.titles), pick(self.texts), pick(self.labels),
                     pick(self.sources), self.origin, pick(self.locations) if self.locations else [])


@dataclass
class LabelledData:
    train: Split
    validation: Split
    test: Split
    label_names: list[str]
    multi_label: bool
    fingerprint: str
    report: dict = field(default_factory=dict)

    def splits(self) -> list[Split]:
        return [self.train, self.validation, self.test]

    def counts(self) -> dict[str, dict[str, int]]:
        return {s.name: {label: Counter(s.primary)[label] for label in self.label_names} for s in self.splits()}


def compose_inputs(texts: Sequence[str], titles: Sequence[str | None] | None = None) -> list[str]:
    """Headline and body as one input: the title carries much of the topic, so both are used."""
    if titles is None:
        return list(texts)
    if len(titles) != len(texts):
        raise ValueError(f"titles must match texts one to one: {len(titles)} titles for {len(texts)} texts")
    return [f"{title.strip()}\n{text}" if title and title.strip() else text for title, text in zip(titles, texts)]


def canonical(text: str) -> str:
    """Canonical form for fingerprints and duplicate detection: NFC, one space between words."""
    return " ".join(unicodedata.normalize("NFC", text).split())


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


def _to_split(name: str, table: FileRows, config: DataConfig) -> Split:
    origin, rows = str(table.path), [row.values or {} for row in table.rows]
    if not rows:
        raise DataError(f"{origin}: no rows; expected one article per row")
    columns = set(table.columns or rows[0])
    if config.text_column not in columns:
        raise DataError(f"{origin}: missing column {config.text_column!r}; found columns {sorted(columns)}; "
                        f"name yours with --data.text-column NAME")
    if config.label_column not in columns and (not config.labels_column or config.labels_column not in columns):
        raise DataError(f"{origin}: missing column {config.label_column!r}; found columns {sorted(columns)}; "
                        f"name yours with --data.label-column NAME (or --data.labels-column for a multi-label column)")
    split = Split(name, [], [], [], [], [], origin)
    use_title = bool(config.title_column) and config.title_column in columns
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
        split.ids.append(str(row_id) if row_id not in (None, "") else f"{name}:{row_number + 1}")
        split.titles.append(title if isinstance(title, str) else "")
        split.texts.append(text)
        split.labels.append(_labels_of(row, config, where))
        split.sources.append("" if source is None else str(source))
        split.locations.append(where)
    return split


def read_evaluation_set(settings: DataConfig) -> Split:
    """Every row of ``settings.path`` (all split files of a directory, concatenated) as one split, unsplit and
    unchecked against a label set: what ``evaluate`` scores models on."""
    parts = [_to_split(name, table, settings) for name, table in read_raw_splits(settings).items()]
    merged = Split("evaluation", [], [], [], [], [], ", ".join(part.origin for part in parts))
    for part in parts:
        for name in ("ids", "titles", "texts", "labels", "sources", "locations"):
            getattr(merged, name).extend(getattr(part, name))
    return merged


def _dedupe(split: Split) -> tuple[Split, list[str]]:
    seen: dict[str, int] = {}
    keep, dropped = [], []
    for row, (title, text) in enumerate(zip(split.titles, split.texts)):
        key = canonical(f"{title}\n{text}")
        if key in seen:
            dropped.append(split.ids[row])
            if split.labels[row] != split.labels[seen[key]]:
                logger.warning("%s: duplicate of %s with other labels (%s vs %s); keeping the first",
                               split.ids[row], split.ids[seen[key]], split.labels[row], split.labels[seen[key]])
            continue
        seen[key] = row
        keep.append(row)
    return split.subset(keep), dropped


def _check_unique_ids(splits: Iterable[Split]) -> None:
    """Stop on one id given to two different articles (exact copies were dropped before): reports, predictions
    and error messages name articles by id, so an id must name one."""
    first: dict[str, tuple[str, str]] = {}
    for split in splits:
        for row, (row_id, title, text) in enumerate(zip(split.ids, split.titles, split.texts)):
            where = split.locations[row] if split.locations else f"{split.name} article {row_id}"
            key = canonical(f"{title}\n{text}")
            if row_id in first and first[row_id][1] != key:  # the same article in two splits is a leak, reported apart
                raise DataError(f"{where}: id {row_id!r} is also the id of another article ({first[row_id][0]}); give "
                                "every article its own id, or leave the id column out to number the rows")
            first.setdefault(row_id, (where, key))


def stratified_split(split: Split, size: float, seed: int, name: str) -> tuple[Split, Split]:
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(split))
    try:
        rest, held = train_test_split(rows, test_size=size, random_state=seed, stratify=split.primary)
    except ValueError as exc:
        logger.warning("cannot stratify the %s split (%s); splitting at random with seed %d", name, exc, seed)
        rest, held = train_test_split(rows, test_size=size, random_state=seed)
    return split.subset(sorted(rest), split.name), split.subset(sorted(held), name)


def fingerprint(splits: Sequence[Split]) -> str:
    digest = hashlib.sha256()
    for split in splits:
        for row_id, title, text, labels in zip(split.ids, split.titles, split.texts, split.labels):
            digest.update("\x1f".join([split.name, row_id, canonical(title), canonical(text), "|".join(labels)]).encode())
            digest.update(b"\x1e")
    return "sha256:" + digest.hexdigest()


def load_data(config: DataConfig, seed: int = 13, expected_labels: Sequence[str] | None = None) -> LabelledData:
    """Read, validate, deduplicate and split labelled data; raise ``DataError`` on anything unusable.

    ``expected_labels``: the label set of the model being retrained (a registered name); a label outside it stops
    loading unless ``--data.labels`` declares the new set.
    """
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # per-file "Generating split" bars are noise next to the validation report
    raw = read_raw_splits(config)
    if not config.path:
        logger.warning("no --data given: training on the built-in sample corpus (%d articles, %s); pass --data PATH "
                       "for your own articles", len(raw["all"].rows), _shown(SAMPLE_CORPUS))
    parsed = {name: _to_split(name if name != "all" else "train", table, config) for name, table in raw.items()}
    unify_spellings(list(parsed.values()), config.labels or expected_labels or ())
    check_labels(list(parsed.values()), config, expected_labels)
    report: dict[str, Any] = {"sources": {name: split.origin for name, split in parsed.items()}, "duplicates_dropped": {},
                              "encodings": {name: table.encoding for name, table in raw.items() if table.encoding},
                              "delimiters": {name: table.delimiter for name, table in raw.items() if table.delimiter}}
    for name in list(parsed):
        parsed[name], dropped = _dedupe(parsed[name])
        if dropped:
            report["duplicates_dropped"][name] = {"count": len(dropped), "ids": dropped[:20]}
            logger.warning("%s: dropped %d exact duplicate articles (e.g. %s)", name, len(dropped), ", ".join(dropped[:3]))
    _check_unique_ids(parsed.values())
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
    report["leakage"] = _leakage(train, validation, test)
    data = LabelledData(train, validation, test, label_names, multi_label, fingerprint([train, validation, test]), report)
    report["counts"] = data.counts()
    report["multi_label_articles"] = {s.name: sum(len(l) > 1 for l in s.labels) for s in data.splits()}
    return data


def _multi_label(config: DataConfig, *splits: Split) -> bool:
    choice = str(config.multi_label).lower()
    if choice in ("yes", "true", "1"):
        return True
    if choice in ("no", "false", "0"):
        return False
    if choice != "auto":
        raise DataError(f"--data.multi-label: expected auto, yes or no, found {config.multi_label!r}")
    return any(len(labels) > 1 for split in splits for labels in split.labels)


def _leakage(*splits: Split) -> dict[str, Any]:
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
