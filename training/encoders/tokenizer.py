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

import functools
import json
import logging
import string
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Sequence

from ..artifact import refuse_non_empty, staged_directory
from ..config import CompactEncoderConfig, ConfigError, setting
from ..data.loading import DataError
from .corpus import CorpusColumns, normalised_corpus

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerFast

    from ..data.normalize import ArabicNormalizer

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "mask_token": "[MASK]"}
NORMALIZER_FILE = "normalizer.json"
TOKENIZER_KINDS = ("wordpiece", "bpe", "unigram")


# what AutoTokenizer.from_pretrained can load a tokenizer from in a local directory
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


def load_pretraining_tokenizer(source: str, flag: str = "--tokenizer") -> Any:
    """The tokenizer of a build-tokenizer directory or checkpoint (``flag`` names where ``source`` came from), with
    the [MASK], [CLS] and [SEP] tokens masked-language modelling needs."""
    from transformers import AutoTokenizer

    from ..models.hf_common import looks_like_path

    if not Path(source).is_dir() and looks_like_path(source):  # ``source``: ~ already expanded (local_checkpoint)
        raise DataError(f"{flag} {source}: no such directory; build a tokenizer with `python -m training "
                        "build-tokenizer`, or give a pre-trained checkpoint")
    if Path(source).is_dir() and not any((Path(source) / name).is_file() for name in TOKENIZER_FILES):
        raise DataError(f"{flag} {source}: no tokenizer in this directory (none of {', '.join(TOKENIZER_FILES)}); "
                        "build one with `python -m training build-tokenizer`, or give a pre-trained checkpoint")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise DataError(f"{flag} {source}: cannot load a tokenizer ({exc}); a hub id needs network access") from None
    if tokenizer.mask_token is None or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise DataError(f"{flag} {source}: the tokenizer lacks [MASK]/[CLS]/[SEP]; build one with build-tokenizer")
    return tokenizer


# ------------------------------------------------------------------------------------------- building

class PositionalAlphabet:
    """Characters re-encoded as private-use symbols, one for a character that starts a word and another for the same
    character continuing one, so a BPE trainer without a continuing-subword prefix learns WordPiece's pieces.

    Why: `tokenizers`' BPE/WordPiece trainer numbers the ``##`` pieces in hash-map order, different in every
    process, and breaks ties between equally frequent merges by those numbers, so the same texts gave a slightly
    different vocabulary on every run (huggingface/tokenizers#1794). Without a prefix, every symbol is in the
    alphabet the trainer sorts, and the vocabulary depends on the texts alone.
    """

    FIRST_SYMBOL = 0xF0000  # Supplementary Private Use Area-A, then -B: 131,070 symbols
    LAST_SYMBOL = 0x10FFFD

    def __init__(self) -> None:
        self._symbols: dict[tuple[str, bool], str] = {}
        self._characters: dict[str, tuple[str, bool]] = {}
        self._words: dict[str, str] = {}

    def _symbol(self, character: str, continuing: bool) -> str:
        symbol = self._symbols.get((character, continuing))
        if symbol is None:
            if self.FIRST_SYMBOL + len(self._symbols) > self.LAST_SYMBOL:
                raise ValueError("more distinct characters than private-use symbols; is the corpus text?")
            symbol = self._symbols[character, continuing] = chr(self.FIRST_SYMBOL + len(self._symbols))
            self._characters[symbol] = (character, continuing)
        return symbol

    def encode(self, word: str) -> str:
        encoded = self._words.get(word)
        if encoded is None:
            encoded = self._words[word] = "".join(self._symbol(c, i > 0) for i, c in enumerate(word))
        return encoded

    def word_starts_not_seen(self) -> str:
        """The word-start symbols of characters seen only inside words, as one-letter words: every character can
        start a word, as in `tokenizers`' own alphabet (one-letter words add no merge)."""
        return " ".join(self._symbol(c, False) for c, continuing in list(self._symbols)
                        if continuing and (c, False) not in self._symbols)

    def decode(self, piece: str) -> str:
        """A piece the trainer learned, written as WordPiece writes it (``##`` before a piece that continues a word)."""
        characters = [self._characters.get(symbol, (symbol, False)) for symbol in piece]  # special tokens pass through
        return ("##" if characters[0][1] else "") + "".join(c for c, _ in characters)


def build_tokenizer(texts: Iterable[str | list[str]], vocab_size: int, kind: str = "wordpiece", min_frequency: int = 2,
                    model_max_length: int = 512) -> "PreTrainedTokenizerFast":
    """Train a BERT-style subword tokenizer on already-normalised texts (or batches of them).

    ``kind`` is wordpiece (the default, what the compact encoder uses), bpe or unigram (for comparisons).
    Pre-tokenisation splits on whitespace and punctuation; the only in-tokenizer normalisation is NFKC
    (Arabic presentation forms such as the lam-alef ligature) and Latin lower-casing, so text normalised
    by :mod:`training.data.normalize` passes through unchanged. WordPiece and BPE vocabularies are a function
    of the texts (see :class:`PositionalAlphabet`); `tokenizers`' unigram trainer varies slightly from run to run.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {', '.join(TOKENIZER_KINDS)}")
    specials = [SPECIAL_TOKENS[k] for k in ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")]
    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True)])
    if kind == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Metaspace()])
        tokenizer.train_from_iterator(texts, trainer=trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=specials, unk_token="[UNK]", show_progress=False))
        tokenizer.decoder = decoders.Metaspace()
    else:
        tokenizer = _train_subwords(texts, kind, vocab_size, min_frequency, specials, normalizer)
        tokenizer.decoder = decoders.WordPiece(prefix="##")
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=model_max_length,
                                   padding_side="right", truncation_side="right", **SPECIAL_TOKENS)


@functools.cache
def _spaced_punctuation() -> dict[int, str]:
    """A str.translate table that puts spaces around punctuation (Unicode P* and ASCII), as BertPreTokenizer splits it."""
    return str.maketrans({c: f" {c} " for c in map(chr, range(sys.maxunicode + 1))
                          if unicodedata.category(c).startswith("P") or c in string.punctuation})


def _train_subwords(texts: Iterable[str | list[str]], kind: str, vocab_size: int, min_frequency: int,
                    specials: list[str], normalizer: Any) -> Any:
    """A WordPiece (or ``##``-prefixed BPE) tokenizer trained by BPE merges over positionally encoded words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    alphabet, spaced_punctuation = PositionalAlphabet(), _spaced_punctuation()

    def encoded(batch: str | list[str]) -> str:  # BertPreTokenizer's words, 3x faster than its pre_tokenize_str
        text = batch if isinstance(batch, str) else "\n".join(batch)
        return " ".join(map(alphabet.encode, normalizer.normalize_str(text).translate(spaced_punctuation).split()))

    def encoded_texts() -> Iterator[str]:
        yield from map(encoded, texts)
        yield alphabet.word_starts_not_seen()  # once every character has been seen

    learner = Tokenizer(models.BPE(unk_token="[UNK]"))
    learner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    learner.train_from_iterator(encoded_texts(),
                                trainer=trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                                            special_tokens=specials, show_progress=False))
    vocabulary = {alphabet.decode(piece): index for piece, index in learner.get_vocab().items()}
    if kind == "wordpiece":
        model = models.WordPiece(vocabulary, unk_token="[UNK]", continuing_subword_prefix="##",
                                 max_input_chars_per_word=100)
    else:
        merges = json.loads(learner.to_str())["model"]["merges"]
        model = models.BPE(vocabulary, [(alphabet.decode(a), alphabet.decode(b)) for a, b in merges],
                           unk_token="[UNK]", continuing_subword_prefix="##")
    tokenizer = Tokenizer(model)
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizers.BertPreTokenizer()
    tokenizer.add_special_tokens(specials)
    return tokenizer


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

@dataclass
class TokenizerConfig:
    """Settings of `python -m training build-tokenizer`."""

    corpus: str = setting("", "Unlabelled articles: JSON Lines (.jsonl, .jsonl.gz), CSV or Parquet with a text column "
                          "and optionally a title column (see --data.*); required.", common=True)
    out: str = setting("", "Directory to write the tokenizer into (AutoTokenizer-loadable); required.", common=True)
    vocab_size: int = setting(CompactEncoderConfig().vocab_size,
                              "Target vocabulary size, special tokens included (default: the compact encoder's).",
                              common=True)
    max_docs: int | None = setting(None, "Use only the first N corpus rows (default: all).", common=True)
    min_frequency: int = setting(2, "Ignore pieces seen fewer times.")
    normalizer_preset: Literal["default", "arabert", "minimal"] = setting(
        "default", "Normalisation applied before training (fine-tuning applies the same one, from normalizer.json).")
    kind: Literal["wordpiece", "bpe", "unigram"] = setting(
        "wordpiece", "Subword model (the compact encoder and pre-training expect wordpiece).")
    model_max_length: int = setting(512, "model_max_length recorded in the tokenizer.")
    cache_dir: str | None = setting(None, "datasets cache for the corpus and its normalised text (default: datasets' "
                                    "own, ~/.cache/huggingface/datasets).")
    overwrite: bool = setting(False, "Replace what a non-empty OUT holds; without it such an OUT is refused.",
                              common=True)
    data: CorpusColumns = setting(CorpusColumns(), "Corpus columns.")

    def validate(self) -> None:
        if not self.corpus or not self.out:
            raise ConfigError("build-tokenizer: --corpus FILE and --out DIR are required")
        if self.vocab_size < 100:
            raise ConfigError(f"--vocab-size {self.vocab_size}: too small; use at least a few thousand (e.g. 8000)")
        if self.max_docs is not None and self.max_docs < 1:
            raise ConfigError(f"--max-docs {self.max_docs}: expected a positive number of articles, or leave it out")


def run(config: TokenizerConfig) -> int:
    """``build-tokenizer``: normalise the corpus, train the vocabulary, save it with its normalizer.json."""
    from ..data.normalize import normalizer_for

    out = Path(config.out)
    refuse_non_empty(out, config.overwrite, "add --overwrite to replace everything in it, or choose another --out")
    normalizer = normalizer_for(config.normalizer_preset)
    started = time.perf_counter()
    texts = normalised_corpus(config.corpus, normalizer, config.max_docs, config.cache_dir, columns=config.data)
    logger.info("normalised %d articles in %.1f s; training a %s vocabulary of %d", len(texts),
                time.perf_counter() - started, config.kind, config.vocab_size)
    batches = (texts[start:start + 1000]["text"] for start in range(0, len(texts), 1000))
    tokenizer = build_tokenizer(batches, config.vocab_size, config.kind, config.min_frequency, config.model_max_length)
    with staged_directory(out, "tokenizer") as staging:
        tokenizer.save_pretrained(str(staging))
        write_normalizer_settings(staging, config.normalizer_preset, normalizer.get_params())
    stats = tokenizer_stats(tokenizer, texts.select(range(min(2000, len(texts))))["text"])
    print(f"tokenizer: {out}  vocabulary {len(tokenizer)}  ({config.kind}, {len(texts)} articles, "
          f"{time.perf_counter() - started:.0f} s)  tokens/word {stats['tokens_per_word']:.3f}  "
          f"[UNK] {stats['unk_rate']:.4%} (training texts)")
    return 0
