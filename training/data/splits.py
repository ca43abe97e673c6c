"""The labelled data as the package passes it around: splits of articles with their topics, and the three splits of
a run with their label set and fingerprint."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


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

    def where(self, row: int) -> str:
        """Where article ``row`` came from, for messages: its file and line, else its origin, split and id."""
        if self.locations:
            return self.locations[row]
        return f"{self.origin + ' ' if self.origin else ''}({self.name} split) article {self.ids[row]}"

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
        """Primary-label counts per split, every label listed."""
        counted = {split.name: Counter(split.primary) for split in self.splits()}
        return {name: {label: counter[label] for label in self.label_names} for name, counter in counted.items()}
