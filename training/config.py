"""One configuration system for every command: dataclasses with help text; defaults < file < command line.

A command's settings are one dataclass (``TrainConfig`` for ``train``; the encoder, predict, evaluate and suggest
commands define theirs beside their code). A field that is itself a dataclass is a *section*: its fields are
set in a JSON/YAML file as ``section: {field: value}`` and on the command line as ``--section.field`` (the
field ``path`` of a section is just ``--section``, e.g. ``--data PATH``). Enum-like settings are ``Literal``
types, checked with every other value by ``check`` in one place, raising ``ConfigError``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message says which and how to fix it."""


def setting(default: Any, help: str, *, common: bool = False, positional: bool = False) -> Any:
    """A dataclass field with its help text. ``common``: shown by the short ``--help`` (otherwise ``--help-all``
    only); ``positional``: a positional command-line argument instead of a flag."""
    metadata = {"help": help, "common": common, "positional": positional}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=metadata)
    if dataclasses.is_dataclass(default):
        return field(default_factory=type(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class DataConfig:
    """Labelled data: where it is and which columns hold what."""

    path: str | None = setting(
        None,
        "Labelled data: a directory with train/validation/test files, one JSONL/CSV/TSV/Parquet file, a saved "
        "Hugging Face dataset (save_to_disk) or a hub dataset id. Empty: the built-in sample corpus.", common=True)
    text_column: str = setting("text", "Column holding the article body.", common=True)
    title_column: str | None = setting("title", "Optional column holding the headline (used with the body when present).", common=True)
    label_column: str = setting("label", "Column holding the primary label.", common=True)
    labels_column: str | None = setting(
        "labels", "Optional multi-label column: a list, or a string split on --data.label-delimiter (primary first).",
        common=True)
    label_delimiter: str = setting("|", "Delimiter for multi-label strings such as 'diplomacy|terrorism'.", common=True)
    source_column: str | None = setting(
        "source", "Optional column naming each article's publisher: reports give metrics per source, and features "
        "that identify a publisher rather than a topic are found from it. Ignored when the data has no such column.")
    encoding: str = setting(
        "auto", "Text encoding of CSV/TSV/JSONL files: auto (UTF-8, UTF-8 with BOM, UTF-16 or Windows-1256, "
        "detected and reported) or a Python codec name such as cp1256.")
    csv_delimiter: str = setting("auto", "CSV field delimiter: auto (sniffed among , ; tab |) or the character itself.")
    id_column: str | None = setting("id", "Optional id column (reported in errors and predictions).")
    labels: list[str] = setting([], "Explicit label set and order. Empty: taken from the training data (sorted).")
    multi_label: Literal["auto", "yes", "no"] = setting("auto", "auto (multi-label when any row has secondary labels), yes or no.")
    validation_size: float = setting(0.1, "Fraction held out for validation when the data has no validation split.")
    test_size: float = setting(0.1, "Fraction held out for test when the data has no test split.")
    hub_config: str | None = setting(None, "Config name for a hub dataset (load_dataset's `name`).")
    hub_revision: str | None = setting(None, "Revision (branch, tag, commit) for a hub dataset.")


@dataclass
class NormalizerConfig:
    """Arabic normalisation applied before the baseline's features."""

    preset: Literal["default", "arabert", "minimal"] = setting("default", "Normaliser preset: default, arabert (no letter folding) or minimal.")
    overrides: dict = setting({}, "Per-rule switches over the preset, e.g. {\"unify_ta_marbuta\": false}.")


@dataclass
class BaselineConfig:
    """The TF-IDF linear baseline and its search."""

    classifiers: list[Literal["svm", "logreg"]] = setting(
        ["svm"],
        "Linear models to try: svm (calibrated LinearSVC) and/or logreg (multinomial; ~3x slower to fit and no "
        "better in cross-validation here, see README.md). The order is the preference when scores tie.")
    c_values: list[float] = setting(
        [], "One C grid for every classifier (overrides the per-classifier grids). Empty: svm-c-values and "
        "logreg-c-values, since the two losses need C on different scales.")
    svm_c_values: list[float] = setting([0.5, 1.0, 2.0], "C values tried for svm (centred on the cross-validated best).")
    logreg_c_values: list[float] = setting([4.0, 16.0], "C values tried for logreg.")
    word_ngrams: list[int] = setting([1, 2], "Word n-gram range (min max).")
    char_ngrams: list[int] = setting([2, 4], "Character n-gram range (min max), within word boundaries.")
    min_df: list[int] = setting([2], "Minimum document frequencies to try (each one refits the features).")
    max_df: float = setting(1.0, "Drop n-grams in more than this fraction of training articles (1.0: keep all).")
    max_features: int = setting(300_000, "Cap on each TF-IDF vocabulary (word and char).")
    word_weight: float = setting(1.0, "Weight of the word TF-IDF block in the feature union (0: no word block).")
    char_weight: float = setting(1.0, "Weight of the character TF-IDF block in the feature union (0: no char block).")
    class_weight: Literal["balanced", "none"] | None = setting(
        "balanced", "Class weights for imbalance: balanced or none (logreg needs them; svm scores the same either way).")
    selection: Literal["validation", "validation+train-oof"] = setting(
        "validation+train-oof",
        "What the search maximises: validation (macro-F1 on the validation split) or validation+train-oof "
        "(macro-F1 over validation plus out-of-fold predictions of every training article: free for svm, whose "
        "calibration folds provide them, 3 extra fits per trial for logreg).")
    selection_tolerance: float = setting(
        0.003,
        "Scores within this of the best count as ties, decided by the order of --baseline.classifiers and then "
        "by the middle C of the tied ones.")
    multi_label_strategy: Literal["softmax", "ovr"] = setting(
        "softmax",
        "Multi-label data: softmax (one model of the primary topic; secondary topics are labels over their tuned "
        "thresholds) or ovr (one-vs-rest, one binary model per label).",
    )


@dataclass
class TransformerConfig:
    """Fine-tuning a transformer: a checkpoint (hub id or directory) or a compact encoder built here."""

    model: str | None = setting(
        None,
        "Hub id or local checkpoint directory (e.g. aubmindlab/bert-base-arabertv02, CAMeL-Lab/bert-base-arabic-camelbert-mix, "
        "UBC-NLP/MARBERTv2). Empty: a compact encoder with a tokenizer built from the training texts, randomly initialised.",
        common=True)
    normalizer_preset: str = setting("auto", "auto (arabert for AraBERT-style ids, else default), or a preset name.")
    max_length: int = setting(256, "Tokens per article, including special tokens.")
    truncation: Literal["head_tail", "head"] = setting("head_tail", "head_tail (first and last tokens) or head.")
    head_fraction: float = setting(0.25, "Share of the token budget taken from the head with head_tail truncation.")
    epochs: float = setting(4.0, "Training epochs (upper bound; early stopping and budgets may end sooner).")
    batch_size: int = setting(16, "Per-device batch size.")
    gradient_accumulation_steps: int = setting(1, "Steps to accumulate before an optimiser step.")
    learning_rate: float = setting(5e-5, "Peak AdamW learning rate (compact encoders from scratch like ~3e-4).")
    weight_decay: float = setting(0.01, "AdamW weight decay.")
    warmup_ratio: float = setting(0.1, "Linear warm-up share of the total steps.")
    early_stopping_patience: int = setting(2, "Evaluations without validation macro-F1 improvement before stopping.")
    evals_per_epoch: int = setting(2, "Validation evaluations per epoch (the best one is kept).")
    max_steps: int = setting(-1, "Stop after this many optimiser steps (-1: no limit).")
    time_budget_s: float = setting(0.0, "Stop training after this many seconds (0: no limit).")
    class_weighted_loss: bool = setting(True, "Weight the loss by inverse class frequency.")
    threads: int = setting(0, "torch threads per process (0: the idle cores, i.e. cores minus the load average, "
                             "shared among local DDP processes).")
    # compact encoder, used when `model` is empty
    vocab_size: int = setting(8000, "Compact encoder: WordPiece vocabulary size built from the training texts.")
    layers: int = setting(2, "Compact encoder: transformer layers.")
    hidden: int = setting(128, "Compact encoder: hidden size.")
    heads: int = setting(2, "Compact encoder: attention heads.")
    compact_learning_rate: float = setting(1e-3, "Compact encoder from scratch: peak learning rate.")
    compact_epochs: float = setting(
        15.0, "Compact encoder from scratch: training epochs (upper bound; a random start needs many more passes "
        "than a pre-trained checkpoint, and early stopping usually ends it sooner).")
    compact_patience: int = setting(
        6, "Compact encoder from scratch: evaluations without improvement before stopping (its validation "
        "macro-F1 often plateaus for a while before it takes off).")
    predict_batch_size: int = setting(8, "Articles per forward pass at prediction time (sorted by length to cut padding; "
                                        "8 was faster per article than 32 on a 2-core CPU, torch and ONNX alike).")
    export_onnx: bool = setting(False, "Also export an int8 ONNX model into the artefact for fast CPU serving.")


@dataclass
class TrainConfig:
    """Settings of `python -m training train`."""

    models: list[Literal["baseline", "transformer", "ensemble"]] = setting(
        ["baseline"], "Candidates to train: baseline, transformer and/or ensemble (a weighted mean of the other two).")
    out: str = setting("models/runs/latest", "Run directory: report.json, report.md and one artefact per candidate.")
    overwrite: bool = setting(False, "Replace an existing run directory (otherwise an existing --out stops the run).")
    unlabelled: str | None = setting(
        None, "Unlabelled articles (JSONL, JSONL.gz, CSV, TSV or Parquet with the --data text/title columns) to learn "
        "from: self-training of the baseline and distillation into the transformer.")
    seed: int = setting(13, "One seed for every split, shuffle and initialisation.")
    register: bool = setting(False, "Save the winner into the BentoML model store.")
    promote: Literal["if-better", "always", "never"] = setting(
        "if-better", "With --register: serve the new version if-better (it scores at least as well as the served one "
        "on this run's test split), always, or never.")
    model_name: str = setting("arabic-news-topics", "BentoML model store name for the winner.")
    low_confidence: float = setting(0.5, "Top scores under this are flagged low_confidence at prediction time.")
    data: DataConfig = setting(DataConfig(), "Labelled data.")
    normalizer: NormalizerConfig = setting(NormalizerConfig(), "Normalisation.")
    baseline: BaselineConfig = setting(BaselineConfig(), "Linear baseline.")
    transformer: TransformerConfig = setting(TransformerConfig(), "Transformer.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------- machinery

def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def _choices(annotation: Any) -> tuple | None:
    """The allowed values of a ``Literal`` (or ``list[Literal]``, ``Literal | None``) annotation."""
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return _choices(args[0]) if len(args) == 1 else None


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a file or command-line value to the field's type; anything else is a ``ConfigError`` naming it."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType) and args:
        return _coerce(value, args[0], where)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{where}: expected one of {', '.join(map(str, allowed))}; found {value!r}")
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true/false, found {value!r}")
    if origin is list:
        items = value if isinstance(value, (list, tuple)) else [value]
        # "baseline,transformer" and "baseline transformer" both mean two items
        items = [part for item in items
                 for part in ([p.strip() for p in item.split(",") if p.strip()] if isinstance(item, str) else [item])]
        return [_coerce(v, args[0] if args else str, where) for v in items]
    if annotation is dict or origin is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping such as {{\"key\": value}}, found {value!r}")
        return value
    if annotation is float and isinstance(value, bool) or annotation is int and isinstance(value, float):
        raise ConfigError(f"{where}: expected {annotation.__name__}, found {value!r}")
    try:
        return annotation(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {getattr(annotation, '__name__', annotation)}, found {value!r}") from None


def _flag(dotted: str) -> str:
    """``data.path`` -> ``--data``; ``baseline.c_values`` -> ``--baseline.c-values``."""
    parts = dotted.split(".")
    if len(parts) > 1 and parts[-1] == "path":
        parts = parts[:-1]
    return "--" + ".".join(part.replace("_", "-") for part in parts)


def _apply(target: Any, values: dict, where: str) -> None:
    hints = _hints(type(target))
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in hints:
            raise ConfigError(f"{where}: unknown setting {key!r}; known settings: {', '.join(sorted(hints))}")
        if _is_section(hints[name]):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping of settings, found {value!r}")
            _apply(getattr(target, name), value, f"{where}.{key}")
        else:
            setattr(target, name, _coerce(value, hints[name], f"{where}.{key}"))


def check(config: Any, prefix: str = "") -> Any:
    """Validate a whole configuration however it was built (file, flags or code): every choice among its
    ``Literal`` values and every value of its type, then each section's own ``validate()`` if it has one."""
    for name, annotation in _hints(type(config)).items():
        value = getattr(config, name)
        if _is_section(annotation):
            check(value, f"{prefix}{name}.")
        elif _choices(annotation) is not None:
            _coerce(value, annotation, _flag(prefix + name))
    if hasattr(config, "validate"):
        config.validate()
    return config


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def load_config_file(path: str | Path, config: Any = None) -> Any:
    """Read a JSON or YAML file (nested by section) over ``config`` (a default ``TrainConfig`` when None)."""
    path, config = Path(path), TrainConfig() if config is None else config
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror}); check the path") from None
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings and sections, found {type(values).__name__}")
    _apply(config, values, str(path))
    return config


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, show_all: bool = True) -> None:
    """One flag per field (``--field``, ``--section.field``), positional fields as arguments. Defaults stay unset
    on the parser, so a config file is only overridden by what is typed. Without ``show_all``, only top-level and
    ``common`` fields are listed; each section gets one line pointing to ``--help-all``."""
    defaults = config_cls()

    def add(cls: type, instance: Any, prefix: str, group: Any) -> None:
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            annotation, dotted = hints[f.name], prefix + f.name
            if _is_section(annotation):
                doc = (annotation.__doc__ or "").strip().splitlines()[0]
                section = parser.add_argument_group(_flag(dotted) + ".*", doc + ("" if show_all else
                                                    f" ({len(dataclasses.fields(annotation))} settings; see --help-all)"))
                add(annotation, getattr(instance, f.name), dotted + ".", section)
                continue
            is_list, is_bool = typing.get_origin(annotation) is list, annotation is bool
            default, choices = getattr(instance, f.name), _choices(annotation)
            shown = show_all or not prefix or f.metadata.get("common")
            text = f.metadata.get("help", "") + (f" Choices: {', '.join(map(str, choices))}." if choices else "")
            if default not in (None, [], {}, "") and not is_bool:
                text += f" [default: {' '.join(map(str, default)) if is_list else default}]"
            if f.metadata.get("positional"):
                parser.add_argument("cfg:" + dotted, metavar=f.name.upper().rstrip("S"), nargs="+" if is_list else None,
                                    help=text)
                continue
            help_text = text.replace("%", "%%") if shown else argparse.SUPPRESS
            if is_bool:
                group.add_argument(_flag(dotted), dest="cfg:" + dotted, action=argparse.BooleanOptionalAction,
                                   default=argparse.SUPPRESS, help=help_text)
                continue
            metavar = "{" + ",".join(map(str, choices)) + "}" if choices else f.name.split("_")[-1].upper()
            group.add_argument(_flag(dotted), dest="cfg:" + dotted, nargs="+" if is_list else None, metavar=metavar,
                               default=argparse.SUPPRESS, help=help_text)

    add(config_cls, defaults, "", parser)


def config_from_args(args: argparse.Namespace, config: Any) -> Any:
    """Apply the flags that were typed on top of ``config`` (defaults, or a file's values)."""
    for dest, value in vars(args).items():
        if dest.startswith("cfg:"):
            *sections, name = dest[4:].split(".")
            target = config
            for section in sections:
                target = getattr(target, section)
            setattr(target, name, _coerce(value, _hints(type(target))[name], _flag(dest[4:])))
    return check(config)
