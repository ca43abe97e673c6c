"""Fitting long articles into a transformer's token budget: head+tail (default) or head truncation.

News articles put the topic in the lead and often restate or conclude it at the end, while the middle
carries detail; keeping the first ``head`` and the last ``budget - head`` subword tokens reads both ends.
:func:`keep_tokens` is a pure function so tests can assert exactly which tokens survive.
No torch import here: tokenisation only.
"""
from __future__ import annotations

import math
from typing import Any, Sequence, TypeVar

T = TypeVar("T")

STRATEGIES = ("head_tail", "head")


def split_budget(budget: int, head_fraction: float) -> tuple[int, int]:
    """(head, tail) token counts for a content budget: head = head_fraction * budget rounded half up, tail = the rest."""
    if not 0.0 <= head_fraction <= 1.0:
        raise ValueError(f"head_fraction must lie in [0, 1], got {head_fraction}")
    head = min(budget, max(0, math.floor(head_fraction * budget + 0.5)))
    return head, budget - head


def keep_tokens(tokens: Sequence[T], budget: int, strategy: str = "head_tail", head_fraction: float = 0.25) -> list[T]:
    """The content tokens (no special tokens) kept for a ``budget`` of content positions.

    ``head``: the first ``budget`` tokens. ``head_tail``: the first ``head_fraction * budget`` (rounded) and the
    last ``budget - head`` tokens, in their original order. Sequences within the budget are kept whole.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown truncation {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if budget < 1:
        raise ValueError(f"token budget must be at least 1, got {budget}")
    tokens = list(tokens)
    if len(tokens) <= budget:
        return tokens
    if strategy == "head":
        return tokens[:budget]
    head, tail = split_budget(budget, head_fraction)
    return tokens[:head] + (tokens[len(tokens) - tail:] if tail else [])


def special_affixes(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Special-token ids the tokenizer puts before and after one sequence (BERT: [CLS] / [SEP]).

    Found by encoding a probe with and without special tokens, so it works for any tokenizer
    (WordPiece, SentencePiece, byte-level BPE) without knowing its template.
    """
    probe = "نص قصير للاختبار test"
    plain = tokenizer(probe, add_special_tokens=False, verbose=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True, verbose=False)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            return full[:start], full[start + len(plain):]
    raise ValueError(f"cannot locate the special tokens of {type(tokenizer).__name__}: {full} does not contain {plain}")


def encode_articles(tokenizer: Any, texts: Sequence[str], max_length: int, strategy: str = "head_tail",
                    head_fraction: float = 0.25, affixes: tuple[list[int], list[int]] | None = None,
                    chunk: int = 256) -> list[list[int]]:
    """Token ids per text, special tokens included, at most ``max_length`` long."""
    prefix, suffix = affixes if affixes is not None else special_affixes(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    encoded: list[list[int]] = []
    for start in range(0, len(texts), chunk):  # chunked: full tokenisation of long articles stays bounded in memory
        batch = tokenizer(list(texts[start:start + chunk]), add_special_tokens=False, truncation=False, verbose=False)
        encoded.extend(prefix + keep_tokens(ids, budget, strategy, head_fraction) + suffix for ids in batch["input_ids"])
    return encoded
