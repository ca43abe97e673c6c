"""Arabic subword tokenizers for the compact encoder: ``python -m training build-tokenizer``.

A WordPiece vocabulary is trained with the `tokenizers` library on *normalised* title + body text (the
same :mod:`training.data.normalize` preset that fine-tuning and serving apply), and saved as a
``PreTrainedTokenizerFast`` with BERT's special tokens, so ``AutoTokenizer.from_pretrained(DIR)`` loads it.
The preset is also written to ``normalizer.json`` beside it; fine-tuning with ``normalizer_preset=auto``
reads it back so a checkpoint is always fed text normalised the way its vocabulary was built.

Nothing here imports torch, transformers or tokenizers at module level (the CLI imports this module at
start-up); the heavy imports happen inside the functions.
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from ..data.loading import DataError, compose_inputs

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerFast

    from ..data.normalize import ArabicNormalizer

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "mask_token": "[MASK]"}
NORMALIZER_FILE = "normalizer.json"
TOKENIZER_KINDS = ("wordpiece", "bpe", "unigram")


# ---------------------------------------------------------------------------------------------- corpus

def read_corpus(path: str | Path, max_docs: int | None = None, skip_docs: int = 0) -> Iterator[dict]:
    """Rows of a JSONL or gzip JSONL corpus (``title`` optional, ``text`` required), streamed.

    ``skip_docs`` skips that many non-blank lines first (e.g. to read held-out text from the end);
    ``max_docs`` caps the rows returned. Rows without a non-empty ``text`` are skipped.
    """
    path = Path(path)
    if "holdout" in path.parts:
        raise DataError(f"{path}: the holdout is reserved for final evaluation; never build vocabularies or "
                        "pre-train on it")
    if not path.is_file():
        raise DataError(f"{path}: no such corpus file; expected JSON Lines (.jsonl or .jsonl.gz) with a `text` field")
    opener = gzip.open if path.suffix == ".gz" else open
    taken = 0
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if max_docs is not None and taken >= max_docs:
                    return
                if not line.strip():
                    continue
                if skip_docs > 0:  # skipped lines are not parsed (fast offsets into large corpora)
                    skip_docs -= 1
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path} line {number}: not valid JSON ({exc.msg}); fix or remove the line") from None
                text = row.get("text") if isinstance(row, dict) else None
                if not isinstance(text, str) or not text.strip():
                    continue  # empty bodies carry nothing to learn from
                taken += 1
                yield row
    except (OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DataError(f"{path}: cannot be read as {'gzip ' if opener is gzip.open else ''}JSON Lines ({exc})") from None


def corpus_texts(path: str | Path, normalizer: "ArabicNormalizer", max_docs: int | None = None,
                 skip_docs: int = 0) -> list[str]:
    """Normalised ``title\\nbody`` of each corpus article (the exact input fine-tuning will see)."""
    rows = list(read_corpus(path, max_docs, skip_docs))
    return normalizer.transform(compose_inputs([r["text"] for r in rows], [r.get("title") or "" for r in rows]))


# ------------------------------------------------------------------------------------------- building

def build_tokenizer(texts: Iterable[str], vocab_size: int, kind: str = "wordpiece", min_frequency: int = 2,
                    model_max_length: int = 512) -> "PreTrainedTokenizerFast":
    """Train a BERT-style subword tokenizer on already-normalised texts.

    ``kind`` is wordpiece (the default, what the compact encoder uses), bpe or unigram (for comparisons).
    Pre-tokenisation splits on whitespace and punctuation; the only in-tokenizer normalisation is NFKC
    (Arabic presentation forms such as the lam-alef ligature) and Latin lower-casing, so text normalised
    by :mod:`training.data.normalize` passes through unchanged.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [SPECIAL_TOKENS[k] for k in ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")]
    if kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
        trainer: Any = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                                 special_tokens=specials, continuing_subword_prefix="##",
                                                 show_progress=False)
        tokenizer.decoder = decoders.WordPiece(prefix="##")
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
                                      continuing_subword_prefix="##", show_progress=False)
        tokenizer.decoder = decoders.WordPiece(prefix="##")
    elif kind == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="[UNK]",
                                          show_progress=False)
        tokenizer.decoder = decoders.Metaspace()
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {', '.join(TOKENIZER_KINDS)}")
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True)])
    tokenizer.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Metaspace()])
                               if kind == "unigram" else pre_tokenizers.BertPreTokenizer())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=model_max_length,
                                   padding_side="right", truncation_side="right", **SPECIAL_TOKENS)


def write_normalizer_settings(directory: str | Path, preset: str, params: dict) -> None:
    """Record the preset a vocabulary (or checkpoint) expects its input normalised with."""
    Path(directory, NORMALIZER_FILE).write_text(json.dumps({"preset": preset, "settings": params}, ensure_ascii=False,
                                                           indent=2), encoding="utf-8")


def read_normalizer_settings(directory: str | Path) -> dict | None:
    """``{"preset", "settings"}`` written by :func:`write_normalizer_settings`, or None (hub ids, other checkpoints)."""
    file = Path(directory, NORMALIZER_FILE)
    if not file.is_file():
        return None
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        logger.warning("%s: unreadable, ignored", file)
        return None
    return value if isinstance(value, dict) and "preset" in value else None


def resolve_normalizer(preset: str, model: str | None) -> tuple[str, "ArabicNormalizer"]:
    """The normaliser for a checkpoint. ``auto``: the settings saved beside a checkpoint built here
    (normalizer.json), else ``arabert`` for AraBERT-style ids (their vocabularies keep alef/ya/ta marbuta
    forms), else ``default``."""
    from ..data.normalize import ArabicNormalizer, normalizer_for

    if preset != "auto":
        return preset, normalizer_for(preset)
    if model and Path(model).is_dir():
        saved = read_normalizer_settings(model)
        if saved:
            return str(saved["preset"]), ArabicNormalizer(**saved.get("settings", {}))
    chosen = "arabert" if model and "arabert" in model.lower() else "default"
    return chosen, normalizer_for(chosen)


def tokenizer_stats(tokenizer: Any, texts: Sequence[str]) -> dict:
    """Subword tokens per whitespace word and the share of [UNK] tokens, on (held-out) normalised texts."""
    words = sum(len(t.split()) for t in texts)
    encoded = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    tokens = sum(len(ids) for ids in encoded)
    unk = sum(ids.count(tokenizer.unk_token_id) for ids in encoded)
    return {"documents": len(texts), "words": words, "tokens": tokens,
            "tokens_per_word": round(tokens / max(words, 1), 4), "unk_rate": round(unk / max(tokens, 1), 6)}


# ----------------------------------------------------------------------------------------------- CLI

def add_tokenizer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, help="JSON Lines corpus (.jsonl or .jsonl.gz) with text and optional title")
    parser.add_argument("--out", required=True, help="directory to write the tokenizer into (AutoTokenizer-loadable)")
    parser.add_argument("--vocab-size", type=int, default=16000, help="target vocabulary size, special tokens included")
    parser.add_argument("--max-docs", type=int, default=None, help="use only the first N articles (default: all)")
    parser.add_argument("--min-frequency", type=int, default=2, help="ignore pieces seen fewer times")
    parser.add_argument("--normalizer-preset", default="default", help="normalisation applied before training: "
                        "default, arabert or minimal (fine-tuning applies the same one)")
    parser.add_argument("--kind", choices=TOKENIZER_KINDS, default="wordpiece",
                        help="subword model (the compact encoder and pre-training expect wordpiece)")
    parser.add_argument("--model-max-length", type=int, default=512, help="model_max_length recorded in the tokenizer")


def run_build_tokenizer(args: argparse.Namespace) -> int:
    from ..data.normalize import normalizer_for

    if args.vocab_size < 100:
        raise DataError(f"--vocab-size {args.vocab_size}: too small; use at least a few thousand (e.g. 16000)")
    normalizer = normalizer_for(args.normalizer_preset)
    started = time.perf_counter()
    texts = corpus_texts(args.corpus, normalizer, args.max_docs)
    if not texts:
        raise DataError(f"{args.corpus}: no article with a non-empty `text`; nothing to build a vocabulary from")
    logger.info("normalised %d articles in %.1f s; training a %s vocabulary of %d", len(texts),
                time.perf_counter() - started, args.kind, args.vocab_size)
    tokenizer = build_tokenizer(texts, args.vocab_size, args.kind, args.min_frequency, args.model_max_length)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
    write_normalizer_settings(out, args.normalizer_preset, normalizer.get_params())
    stats = tokenizer_stats(tokenizer, texts[:2000])
    print(f"tokenizer: {out}  vocabulary {len(tokenizer)}  ({args.kind}, {len(texts)} articles, "
          f"{time.perf_counter() - started:.0f} s)  tokens/word {stats['tokens_per_word']:.3f}  "
          f"[UNK] {stats['unk_rate']:.4%} (training texts)")
    return 0
