"""Label hygiene: one spelling per label, and typos, unsplit multi-labels or unknown topics stopped with the row.

Hand-labelled spreadsheets carry 'Sport ', 'SPORT' and 'sport' for one topic, the odd 'diplomcy', and
'terrorism;sport' where the labeller used another delimiter. Trained as they are, each becomes its own class
(or a class with one example); here they are merged, or stopped with the file, line, id and the fix.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Sequence

from ..config import DataConfig
from .files import DataError

if TYPE_CHECKING:
    from .splits import Split

logger = logging.getLogger(__name__)

LIKELY_DELIMITERS = (";", ",", "/", "+", "|", "\t")
RARE_ROWS = 2  # a label in at most this many rows ...
RARE_SHARE = 0.01  # ... or under this share of its look-alike's rows, one or two edits away, is a typo
FREE_TEXT_LABELS = 50  # this many different labels, and ...
FREE_TEXT_SHARE = 0.8  # ... this share of the articles a label found once: a text column, not topics
LONGEST_LABEL = 100  # characters; a longer "label" is text


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Levenshtein distance, capped at ``limit + 1`` (only "one or two edits" matters here)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return min(previous[-1], limit + 1)


def check_label_column(train: Split, config: DataConfig) -> None:
    """Stop when the label column holds text rather than topics (the text or title column named by mistake): most
    training articles a primary label no other article has, or a label as long as a sentence. Checked before
    anything logs or quotes a label, which would be article text."""
    counts = Counter(labels[0] for labels in train.labels)
    once, longest = sum(count == 1 for count in counts.values()), max(map(len, counts), default=0)
    if len(counts) >= FREE_TEXT_LABELS and once > FREE_TEXT_SHARE * len(train):
        found = f"{len(counts)} different values in {len(train)} articles, {once} of them found once"
    elif longest > LONGEST_LABEL:
        found = f"a value of {longest} characters"
    else:
        return
    raise DataError(f"{train.origin}: the label column {config.label_column!r} holds {found}: text, not topics; "
                    "name the column of topics with --data.label-column NAME")


def shown(label: str, width: int = 40) -> str:
    """A label as quoted in messages, cut short: a label read from the wrong column can be a whole article."""
    return repr(label if len(label) <= width else label[:width] + "…")


def _rows(splits) -> list[tuple[object, int, list[str]]]:
    return [(split, row, labels) for split in splits for row, labels in enumerate(split.labels)]


def _known_list(labels: Sequence[str]) -> str:
    return ",".join(labels)


def unify_spellings(splits: Sequence, declared: Sequence[str] = ()) -> dict[str, str]:
    """Merge labels that differ only in case or surrounding spaces, in place; returns {spelling: canonical}.

    The canonical spelling is the declared one (``--data.labels``, the served model's set) when there is one,
    else the most frequent spelling in the data (ties: the first seen).
    """
    spellings: dict[str, Counter] = {}
    for _, _, labels in _rows(splits):
        for label in labels:
            spellings.setdefault(label.strip().casefold(), Counter())[label] += 1
    chosen = {label.strip().casefold(): label.strip() for label in declared}
    mapping: dict[str, str] = {}
    for key, counter in spellings.items():
        canonical = chosen.get(key) or counter.most_common(1)[0][0].strip()
        for spelling in counter:
            if spelling != canonical:
                mapping[spelling] = canonical
    if mapping:
        for split, row, labels in _rows(splits):
            split.labels[row] = list(dict.fromkeys(mapping.get(label, label) for label in labels))
        merged: dict[str, list[str]] = {}
        for spelling, canonical in mapping.items():
            merged.setdefault(canonical, []).append(repr(spelling))
        logger.info("labels merged (case and spaces ignored): %s",
                    "; ".join(f"{', '.join(sorted(s))} -> {c!r}" for c, s in sorted(merged.items())))
    return mapping


def check_labels(splits: Sequence, config: DataConfig, expected_labels: Sequence[str] | None = None) -> None:
    """Stop on a label that is two labels joined, outside the declared or served set, or a likely typo."""
    declared = list(dict.fromkeys(config.labels)) or list(expected_labels or [])
    counts = Counter(label for _, _, labels in _rows(splits) for label in labels)
    known = set(declared) | set(counts)
    for split, row, labels in _rows(splits):
        for label in labels:
            check_joined(label, known, config, split, row)
    if config.labels:
        return  # the explicit set is checked (with its own message) when the label set is built
    if expected_labels:
        for split, row, labels in _rows(splits):
            for label in labels:
                if label not in declared:
                    where = f"{split.where(row)}: label {label!r} is not one the served model knows"
                    if hint := look_alike(label, declared):  # a typo, most likely: no label set to copy and paste
                        raise DataError(f"{where} (did you mean {hint!r}?); fix the row, or, if it is a new topic, "
                                        "pass --data.labels with the data's own label set")
                    retired = sorted(set(declared) - set(counts))  # served labels this data no longer has
                    raise DataError(
                        f"{where}; the served model knows {sorted(declared)}; to change the topics pass --data.labels "
                        f"with the data's own set, --data.labels {_known_list(sorted(counts))}"
                        + (f" (without {', '.join(map(repr, retired))}, which no article has)" if retired else ""))
        return
    _check_typos(splits, counts)


def check_joined(label: str, known: set[str], config: DataConfig, split, row: int) -> None:
    for delimiter in LIKELY_DELIMITERS:
        if delimiter == config.label_delimiter or delimiter not in label:
            continue
        parts = [part.strip() for part in label.split(delimiter) if part.strip()]
        if len(parts) > 1 and all(part in known for part in parts):
            written = "tab" if delimiter == "\t" else repr(delimiter)
            raise DataError(f"{split.where(row)}: label {label!r} looks like two labels separated by {written}: "
                            f"pass --data.label-delimiter {written}")


def look_alike(label: str, candidates: Sequence[str]) -> str | None:
    """The candidate one edit away (two for labels over 4 letters), if any."""
    key = label.casefold()
    best = None
    for other in candidates:
        if other == label:
            continue
        distance = edit_distance(key, other.casefold())
        allowed = 1 if min(len(key), len(other)) <= 4 else 2
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, other)
    return best[1] if best else None


def _check_typos(splits: Sequence, counts: Counter) -> None:
    for label, count in sorted(counts.items(), key=lambda item: item[1]):
        similar = [other for other in counts if other != label and look_alike(label, [other])]
        if not similar:
            continue
        target = max(similar, key=lambda other: counts[other])
        if counts[target] > count and (count <= RARE_ROWS or count < RARE_SHARE * counts[target]):
            split, row = next((s, r) for s, r, labels in _rows(splits) if label in labels)
            rows = lambda n: f"{n} row{'s' if n != 1 else ''}"  # noqa: E731
            declared = _known_list(sorted(counts))
            raise DataError(
                f"{split.where(row)}: label {label!r} ({rows(count)}) looks like a typo of {target!r} "
                f"({rows(counts[target])}): fix the row, or declare the label set with --data.labels {declared} "
                "if it is a new topic")


def label_set(config: DataConfig, train, validation, test, expected_labels: Sequence[str] | None = None) -> list[str]:
    """The model's labels: ``--data.labels`` in its order, else the training labels sorted; every label checked."""
    train_labels = Counter(label for labels in train.labels for label in labels)
    if config.labels:
        allowed = list(dict.fromkeys(config.labels))
        for split, row, labels in _rows((train, validation, test)):
            unknown = [label for label in labels if label not in allowed]
            if unknown:
                hint = look_alike(unknown[0], allowed)
                raise DataError(f"{split.where(row)}: label {unknown[0]!r} is not in the label set {allowed}"
                                + (f" (did you mean {hint!r}?)" if hint else "")
                                + "; fix the row or add the label to --data.labels")
        missing = [label for label in allowed if not train_labels[label]]
        if missing:
            raise DataError(f"label {missing[0]!r} has no training examples in {train.origin}; add examples or remove it "
                            f"from --data.labels")
        label_names = allowed
    else:
        label_names = sorted(train_labels)
        for split, row, labels in _rows((validation, test)):
            for label in labels:
                if label not in train_labels:
                    raise DataError(f"{split.where(row)} ({split.name} split): label {label!r} has no training "
                                    f"examples; labels seen in training: {label_names}. Fix the label or add training "
                                    "articles for it")
        unseen = sorted(set(expected_labels or ()) - set(label_names))
        if unseen:
            logger.warning("the served model knows %s but the training data has no %s: the retrained model will not "
                           "predict them", sorted(expected_labels or ()), unseen)
    if len(label_names) < 2:
        raise DataError(f"{train.origin}: found {len(label_names)} label(s) {label_names}; a classifier needs at least 2 "
                        f"(check --data.label-column)")
    return label_names
