"""Configuration as dataclasses with help text: defaults < config file (JSON/YAML) < command line.

Every field becomes a command-line flag ``--<section>.<field>`` (e.g. ``--baseline.c-values 0.5 1 2``),
so anything a config file can set, the command line can override. ``python -m training train --help``
lists them all with their help text.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


def _field(default: Any, help: str, **kwargs: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kwargs)
    return field(default=default, metadata={"help": help}, **kwargs)


@dataclass
class DataConfig:
    path: str | None = _field(
        None,
        "Labelled data: a directory with train/validation/test files, one JSONL/CSV/TSV/Parquet file, a saved "
        "Hugging Face dataset (save_to_disk) or a hub dataset id. Empty: the built-in sample corpus.",
    )
    text_column: str = _field("text", "Column holding the article body.")
    title_column: str | None = _field("title", "Optional column holding the headline (used with the body when present).")
    label_column: str = _field("label", "Column holding the primary label.")
    labels_column: str | None = _field(
        "labels", "Optional multi-label column: a list, or a string split on --data.label-delimiter (primary first)."
    )
    label_delimiter: str = _field("|", "Delimiter for multi-label strings such as 'diplomacy|terrorism'.")
    id_column: str | None = _field("id", "Optional id column (reported in errors and predictions).")
    labels: list[str] = _field([], "Explicit label set and order. Empty: taken from the training data (sorted).")
    multi_label: str = _field("auto", "auto (multi-label when any row has secondary labels), yes or no.")
    validation_size: float = _field(0.1, "Fraction held out for validation when the data has no validation split.")
    test_size: float = _field(0.1, "Fraction held out for test when the data has no test split.")
    hub_config: str | None = _field(None, "Config name for a hub dataset (load_dataset's `name`).")
    hub_revision: str | None = _field(None, "Revision (branch, tag, commit) for a hub dataset.")


@dataclass
class NormalizerConfig:
    preset: str = _field("default", "Normaliser preset: default, arabert (no letter folding) or minimal.")
    overrides: dict = _field({}, "Per-rule switches over the preset, e.g. {\"unify_ta_marbuta\": false}.")


@dataclass
class BaselineConfig:
    classifiers: list[str] = _field(
        ["svm"],
        "Linear models to try: svm (calibrated LinearSVC) and/or logreg (multinomial; ~3x slower to fit and no "
        "better in cross-validation here, see README.md). The order is the preference when scores tie.")
    c_values: list[float] = _field(
        [], "One C grid for every classifier (overrides the per-classifier grids). Empty: svm-c-values and "
        "logreg-c-values, since the two losses need C on different scales.")
    svm_c_values: list[float] = _field([0.5, 1.0, 2.0], "C values tried for svm (centred on the cross-validated best).")
    logreg_c_values: list[float] = _field([4.0, 16.0], "C values tried for logreg.")
    word_ngrams: list[int] = _field([1, 2], "Word n-gram range (min max).")
    char_ngrams: list[int] = _field([2, 4], "Character n-gram range (min max), within word boundaries.")
    min_df: list[int] = _field([2], "Minimum document frequencies to try (each one refits the features).")
    max_df: float = _field(1.0, "Drop n-grams in more than this fraction of training articles (1.0: keep all).")
    max_features: int = _field(300_000, "Cap on each TF-IDF vocabulary (word and char).")
    word_weight: float = _field(1.0, "Weight of the word TF-IDF block in the feature union (0: no word block).")
    char_weight: float = _field(1.0, "Weight of the character TF-IDF block in the feature union (0: no char block).")
    class_weight: str | None = _field(
        "balanced", "Class weights for imbalance: balanced or none (logreg needs them; svm scores the same either way).")
    selection: str = _field(
        "validation+train-oof",
        "What the search maximises: validation (macro-F1 on the validation split) or validation+train-oof "
        "(macro-F1 over validation plus out-of-fold predictions of every training article: free for svm, whose "
        "calibration folds provide them, 3 extra fits per trial for logreg).")
    selection_tolerance: float = _field(
        0.003,
        "Scores within this of the best count as ties, decided by the order of --baseline.classifiers and then "
        "by the middle C of the tied ones.")
    multi_label_strategy: str = _field(
        "softmax",
        "Multi-label data: softmax (one model of the primary topic; secondary topics are labels over their tuned "
        "thresholds) or ovr (one-vs-rest, one binary model per label).",
    )


@dataclass
class TransformerConfig:
    model: str | None = _field(
        None,
        "Hub id or local checkpoint directory (e.g. aubmindlab/bert-base-arabertv02, CAMeL-Lab/bert-base-arabic-camelbert-mix, "
        "UBC-NLP/MARBERTv2). Empty: a compact encoder with a tokenizer built from the training texts, randomly initialised.",
    )
    normalizer_preset: str = _field("auto", "auto (arabert for AraBERT-style ids, else default), or a preset name.")
    max_length: int = _field(256, "Tokens per article, including special tokens.")
    truncation: str = _field("head_tail", "head_tail (first and last tokens) or head.")
    head_fraction: float = _field(0.25, "Share of the token budget taken from the head with head_tail truncation.")
    epochs: float = _field(4.0, "Training epochs (upper bound; early stopping and budgets may end sooner).")
    batch_size: int = _field(16, "Per-device batch size.")
    gradient_accumulation_steps: int = _field(1, "Steps to accumulate before an optimiser step.")
    learning_rate: float = _field(5e-5, "Peak AdamW learning rate (compact encoders from scratch like ~3e-4).")
    weight_decay: float = _field(0.01, "AdamW weight decay.")
    warmup_ratio: float = _field(0.1, "Linear warm-up share of the total steps.")
    early_stopping_patience: int = _field(2, "Evaluations without validation macro-F1 improvement before stopping.")
    evals_per_epoch: int = _field(2, "Validation evaluations per epoch (the best one is kept).")
    max_steps: int = _field(-1, "Stop after this many optimiser steps (-1: no limit).")
    time_budget_s: float = _field(0.0, "Stop training after this many seconds (0: no limit).")
    class_weighted_loss: bool = _field(True, "Weight the loss by inverse class frequency.")
    threads: int = _field(0, "torch threads per process (0: the idle cores, i.e. cores minus the load average, "
                             "shared among local DDP processes).")
    # compact encoder, used when `model` is empty
    vocab_size: int = _field(8000, "Compact encoder: WordPiece vocabulary size built from the training texts.")
    layers: int = _field(2, "Compact encoder: transformer layers.")
    hidden: int = _field(128, "Compact encoder: hidden size.")
    heads: int = _field(2, "Compact encoder: attention heads.")
    compact_learning_rate: float = _field(1e-3, "Compact encoder from scratch: peak learning rate.")
    compact_epochs: float = _field(
        15.0, "Compact encoder from scratch: training epochs (upper bound; a random start needs many more passes "
        "than a pre-trained checkpoint, and early stopping usually ends it sooner).")
    compact_patience: int = _field(
        6, "Compact encoder from scratch: evaluations without improvement before stopping (its validation "
        "macro-F1 often plateaus for a while before it takes off).")
    predict_batch_size: int = _field(8, "Articles per forward pass at prediction time (sorted by length to cut padding; "
                                        "8 was faster per article than 32 on a 2-core CPU, torch and ONNX alike).")
    export_onnx: bool = _field(False, "Also export an int8 ONNX model into the artefact for fast CPU serving.")


@dataclass
class TrainConfig:
    models: list[str] = _field(["baseline"], "Candidates to train: baseline and/or transformer.")
    out: str = _field("models/runs/latest", "Run directory: report.json, report.md and one artefact per candidate.")
    seed: int = _field(13, "One seed for every split, shuffle and initialisation.")
    register: bool = _field(False, "Save the winner into the BentoML model store.")
    model_name: str = _field("arabic-news-topics", "BentoML model store name for the winner.")
    low_confidence: float = _field(0.5, "Top scores under this are flagged low_confidence at prediction time.")
    data: DataConfig = field(default_factory=DataConfig)
    normalizer: NormalizerConfig = field(default_factory=NormalizerConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = ("data", "normalizer", "baseline", "transformer")


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message says which and how to fix it."""


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a file or command-line value to the field's type, with an error naming the field."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if value is None:
        return None
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        return _coerce(value, args[0], where)
    if annotation is bool or (origin is None and annotation is bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true/false, found {value!r}")
    if origin is list:
        items = value if isinstance(value, list) else [value]
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
    try:
        return annotation(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {getattr(annotation, '__name__', annotation)}, found {value!r}") from None


def _apply(target: Any, values: dict, where: str) -> None:
    types = _field_types(type(target))
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in types:
            known = ", ".join(sorted(types))
            raise ConfigError(f"{where}: unknown setting {key!r}; known settings: {known}")
        if name in SECTIONS and isinstance(target, TrainConfig):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping of settings, found {value!r}")
            _apply(getattr(target, name), value, f"{where}.{key}")
        else:
            setattr(target, name, _coerce(value, types[name], f"{where}.{key}"))


def load_config_file(path: str | Path, config: TrainConfig | None = None) -> TrainConfig:
    """Read a JSON or YAML config file (nested by section) over ``config`` (defaults when None)."""
    path = Path(path)
    config = config or TrainConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror}); check the path") from None
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path}: expected a mapping of sections (data:, baseline:, ...), found {type(values).__name__}")
    _apply(config, values, str(path))
    return config


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--section.field`` flags for every configuration field (defaults stay unset so files win over them)."""
    def add(cls: type, prefix: str) -> None:
        group = parser.add_argument_group(prefix.rstrip(".") or "training")
        for f in dataclasses.fields(cls):
            if f.name in SECTIONS and cls is TrainConfig:
                continue
            annotation = _field_types(cls)[f.name]
            is_list = typing.get_origin(annotation) is list
            is_bool = annotation is bool
            flag = "--" + prefix + f.name.replace("_", "-")
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            group.add_argument(
                flag,
                dest="cfg:" + prefix + f.name,
                nargs="+" if is_list else ("?" if is_bool else None),
                const="true" if is_bool else None,
                default=argparse.SUPPRESS,
                help=f"{f.metadata.get('help', '')} [default: {default!r}]",
            )

    add(TrainConfig, "")
    for section in SECTIONS:
        add(type(getattr(TrainConfig(), section)), section + ".")


def config_from_args(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """Apply the ``--section.field`` flags that were given on top of ``base``."""
    config = base or TrainConfig()
    for dest, value in vars(args).items():
        if not dest.startswith("cfg:"):
            continue
        dotted = dest[4:]
        if "." in dotted:
            section, name = dotted.split(".", 1)
            _apply(getattr(config, section), {name: value}, "--" + section)
        else:
            _apply(config, {dotted: value}, "command line")
    return config
