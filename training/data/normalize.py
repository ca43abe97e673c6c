"""Arabic text normalisation shared by training and serving.

The same :class:`ArabicNormalizer` settings must be used when a model is trained and when it
serves, so the transformer is a plain scikit-learn estimator whose ``get_params()`` is what
model artefacts record. Everything expensive (translation tables, regexes) is built once per
distinct settings tuple in a module-level cache, so instances hold only their parameters and
pickle, clone and compare cheaply.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable

import pyarabic.araby as araby
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags

__all__ = ["ArabicNormalizer", "PRESETS", "normalizer_for", "strip_page_boilerplate"]


def _span(first: int, last: int) -> str:
    return "".join(chr(c) for c in range(first, last + 1))


# pyarabic's TASHKEEL lacks the Quranic annotation marks and the combining madda/hamza, which
# show up in religious and copy-pasted text; leaving them would split otherwise equal tokens.
_DIACRITICS = (araby.TASHKEEL_STRING + araby.MINI_ALEF + araby.SMALL_WAW + araby.SMALL_YEH
               + _span(0x0610, 0x061A) + _span(0x0653, 0x065F) + _span(0x06D6, 0x06DC)
               + _span(0x06DF, 0x06E4) + _span(0x06E7, 0x06E8) + _span(0x06EA, 0x06ED))
_ALEF_FORMS = (araby.ALEF_HAMZA_ABOVE, araby.ALEF_HAMZA_BELOW, araby.ALEF_MADDA, araby.ALEF_WASLA)
_DIGITS = {**dict(zip(araby.NUMBERS_EAST, araby.NUMBERS_WEST)), **dict(zip(araby.NUMBERS_PERS, araby.NUMBERS_WEST))}
# Invisible characters from scraped pages (bidi marks, soft hyphens, BOM) would silently split
# words; a zero-width space is used as a word separator, so it becomes a real one.
_INVISIBLE: dict[str, str | None] = {c: None for c in "\u00ad\u061c\u200c\u200d\u200e\u200f\u2060\ufeff"
                                     + _span(0x202A, 0x202E) + _span(0x2066, 0x2069)} | {"\u200b": " "}

_PARAMS = ("strip_boilerplate", "remove_diacritics", "remove_tatweel", "unify_alef", "unify_alef_maqsura",
           "unify_ta_marbuta", "unify_hamza_carriers", "arabic_digits", "replace_urls", "replace_emails",
           "replace_mentions", "url_token", "email_token", "mention_token", "collapse_repeats", "lowercase_latin")

# Letters only: runs of 3+ identical letters are elongation ("جدااااا"), never spelling, because a
# genuinely doubled Arabic consonant is written once with shadda. Collapsing to ONE (not two) makes
# "جداا" and "جدا" the same token. Digits are excluded so "2000" and "1999" survive, and tatweel
# (a \w character to `re`) so that remove_tatweel=False really keeps it.
_REPEAT_RE = re.compile(r"([^\W\d_\u0640])\1{2,}")
_REPEAT_PROBE = re.compile(r"([^\W\d_\u0640])\1\1")  # ~8x faster than the sub when nothing repeats
# Trailing sentence punctuation is left outside the URL so the sentence keeps it.
_URL_RE = re.compile(r"(?:(?:https?|ftp)://|www\.)[^\s<>\"'«»]*[^\s<>\"'«».,،;؛:!?؟)\]}]", re.IGNORECASE)
# The look-behind anchors the match at the start of the local part: without it every position of a
# long Latin run would be retried, which is quadratic on scraped blobs.
_EMAIL_RE = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", re.ASCII)
_MENTION_RE = re.compile(r"(?<![\w@.])@\w+")


class _CharMap:
    """Same result as str.translate, several times faster on Arabic text.

    str.translate looks every non-ASCII character up in the table from Python (~100 ns each); one
    regex for the deletions plus str.replace for the few characters that change stays in C. The
    sequential replaces equal a simultaneous mapping because no target is itself a source.
    """

    def __init__(self, mapping: dict[str, str | None]) -> None:
        deleted = "".join(c for c, v in mapping.items() if v is None)
        self.delete = re.compile(f"[{re.escape(deleted)}]+") if deleted else None
        self.pairs = tuple((c, v) for c, v in mapping.items() if v is not None)
        assert not {v for _, v in self.pairs} & set(mapping), "a mapping target is also a source"

    def __call__(self, text: str) -> str:
        if self.delete is not None:
            text = self.delete.sub("", text)
        for source, target in self.pairs:
            if source in text:
                text = text.replace(source, target)
        return text


class _Compiled:
    """Tables and regexes for one settings tuple; shared by all instances with those settings."""

    def __init__(self, settings: dict[str, Any]) -> None:
        s = settings
        table: dict[str, str | None] = dict(_INVISIBLE)
        deleted = (_DIACRITICS if s["remove_diacritics"] else "") + (araby.TATWEEL if s["remove_tatweel"] else "")
        table.update(dict.fromkeys(deleted))
        for on, sources, target in ((s["unify_alef"], _ALEF_FORMS, araby.ALEF),
                                    (s["unify_alef_maqsura"], (araby.ALEF_MAKSURA,), araby.YEH),
                                    (s["unify_ta_marbuta"], (araby.TEH_MARBUTA,), araby.HEH),
                                    (s["unify_hamza_carriers"], (araby.WAW_HAMZA,), araby.WAW),
                                    (s["unify_hamza_carriers"], (araby.YEH_HAMZA,), araby.YEH)):
            if on:
                table.update(dict.fromkeys(sources, target))
        if s["arabic_digits"]:
            table.update(_DIGITS)
        self.fold = _CharMap(table)
        self.strip_boilerplate = bool(s["strip_boilerplate"])
        self.collapse_repeats = bool(s["collapse_repeats"])
        self.lowercase = bool(s["lowercase_latin"])
        tokens = {name: s[name] for on, name in ((s["replace_urls"], "url_token"), (s["replace_emails"], "email_token"),
                                                 (s["replace_mentions"], "mention_token")) if on}
        for name, token in tokens.items():
            if not isinstance(token, str):
                raise TypeError(f"{name} must be a str, got {type(token).__name__}")
        self.url = f" {s['url_token']} " if s["replace_urls"] else None
        # An email contains an @mention look-alike, so emails go first (and URLs before both, as a
        # URL may contain "@").
        self.at_rules = [(pattern, f" {s[name]} ") for pattern, name in ((_EMAIL_RE, "email_token"),
                                                                        (_MENTION_RE, "mention_token")) if name in tokens]
        self.replaces = bool(tokens)
        # Placeholders are upper-case on purpose (distinct from real words), so lower-casing must skip
        # them or a second pass would turn "URL" into "url".
        self.tokens = tuple(sorted({t for t in tokens.values() if t}, key=len, reverse=True))
        alternatives = "|".join(map(re.escape, self.tokens))
        self.protect = re.compile(rf"(?<!\S)({alternatives})(?!\S)") if alternatives else None
        for name, token in tokens.items():
            if self(token) != token:  # a token the pipeline rewrites would break idempotence
                raise ValueError(f"{name}={token!r} is itself changed by these settings (to {self(token)!r}); "
                                 "choose a placeholder that is already normalised, e.g. 'URL'")

    def _lower(self, text: str) -> str:
        if self.protect is None or not any(t in text for t in self.tokens) or not self.protect.search(text):
            return text.lower()
        parts = self.protect.split(text)  # the capturing group puts tokens at odd indices
        return "".join(p if i % 2 else p.lower() for i, p in enumerate(parts))

    def _replace(self, text: str) -> str:
        # Substring probes first: most articles have no URL and no "@", and a regex scan costs more.
        if self.url is not None and ("://" in text or "www." in text.lower()):
            text = _URL_RE.sub(self.url, text)
        if self.at_rules and "@" in text:
            # Neither pattern spans whitespace, so only the words holding "@" need the slow regexes;
            # joining with single spaces is harmless as whitespace is collapsed at the end anyway.
            text = " ".join(self._at(word) if "@" in word else word for word in text.split())
        return text

    def _at(self, word: str) -> str:
        # To a fixed point: a replacement puts spaces around its token, which can turn the next "@" into the
        # start of a mention ("@a@b" -> " USER @b"); each productive round removes an "@", so this ends.
        for _ in range(word.count("@") + 1):
            replaced = word
            for pattern, replacement in self.at_rules:
                replaced = pattern.sub(replacement, replaced)
            if replaced == word:
                break
            word = replaced
        return word

    def __call__(self, text: str) -> str:
        if self.strip_boilerplate:
            text = strip_page_boilerplate(text)
        # Character folding first: deleting tatweel/diacritics can create letter runs and URL
        # shapes, which the later steps must see in the same pass for the result to be a fixed point.
        text = self.fold(text)
        if self.lowercase:
            text = self._lower(text)  # before collapsing, so "AaA" is treated like "aaa"
        if self.replaces:
            text = self._replace(text)  # before collapsing, which would turn "www." into "w."
        if self.collapse_repeats and _REPEAT_PROBE.search(text):
            text = _REPEAT_RE.sub(r"\1", text)
            if self.replaces:
                text = self._replace(text)  # collapsing can complete a URL ("httppp://" -> "http://")
        return " ".join(text.split())


@lru_cache(maxsize=64)
def _compiled(settings: tuple[tuple[str, Any], ...]) -> _Compiled:
    return _Compiled(dict(settings))


class ArabicNormalizer(BaseEstimator, TransformerMixin):
    """Stateless scikit-learn transformer: list of raw article strings -> list of normalised strings.

    Steps, in order: page boilerplate stripping (needs line breaks, so it runs first); character
    folding (diacritics, tatweel, alef/ya/ta-marbuta/hamza forms, Eastern digits, invisible marks);
    Latin lower-casing; URL, e-mail and @mention placeholders; collapsing letter runs of 3+ to one;
    whitespace collapsing (always on). ``normalize(normalize(x)) == normalize(x)`` for all settings.
    """

    def __init__(self, *, strip_boilerplate: bool = True, remove_diacritics: bool = True, remove_tatweel: bool = True,
                 unify_alef: bool = True, unify_alef_maqsura: bool = True, unify_ta_marbuta: bool = True,
                 unify_hamza_carriers: bool = False, arabic_digits: bool = True, replace_urls: bool = True,
                 replace_emails: bool = True, replace_mentions: bool = True, url_token: str = "URL",
                 email_token: str = "EMAIL", mention_token: str = "USER", collapse_repeats: bool = True,
                 lowercase_latin: bool = True) -> None:
        self.strip_boilerplate = strip_boilerplate
        self.remove_diacritics = remove_diacritics
        self.remove_tatweel = remove_tatweel
        self.unify_alef = unify_alef
        self.unify_alef_maqsura = unify_alef_maqsura
        self.unify_ta_marbuta = unify_ta_marbuta
        self.unify_hamza_carriers = unify_hamza_carriers
        self.arabic_digits = arabic_digits
        self.replace_urls = replace_urls
        self.replace_emails = replace_emails
        self.replace_mentions = replace_mentions
        self.url_token = url_token
        self.email_token = email_token
        self.mention_token = mention_token
        self.collapse_repeats = collapse_repeats
        self.lowercase_latin = lowercase_latin

    def _pipeline(self) -> _Compiled:
        # Keyed on current attribute values, so set_params() takes effect without any reset.
        return _compiled(tuple((name, getattr(self, name)) for name in _PARAMS))

    def fit(self, X: Iterable[str], y: Any = None) -> "ArabicNormalizer":
        """Nothing is learnt; builds (and so validates) the settings early, then returns self."""
        self._pipeline()
        return self

    def normalize(self, text: str) -> str:
        """Normalise one string."""
        if not isinstance(text, str):
            raise TypeError(f"ArabicNormalizer.normalize expects a str, got {type(text).__name__}")
        return self._pipeline()(text)

    def transform(self, X: Iterable[str]) -> list[str]:
        """Normalise each string of a 1-D iterable (list, array, Series or a one-column frame)."""
        if isinstance(X, str):
            raise TypeError("ArabicNormalizer.transform expects an iterable of str, got a single str; wrap it in a list")
        if getattr(X, "ndim", 1) == 2:  # ColumnTransformer passes a one-column DataFrame for ["text"]
            if X.shape[1] != 1:
                raise ValueError(f"ArabicNormalizer.transform expects one text column, got {X.shape[1]}")
            X = X.iloc[:, 0] if hasattr(X, "iloc") else X[:, 0]
        run = self._pipeline()
        out: list[str] = []
        for i, text in enumerate(X):
            if not isinstance(text, str):
                raise TypeError(f"ArabicNormalizer.transform expects str items; item at index {i} "
                                f"is {type(text).__name__} ({text!r:.40})")
            out.append(run(text))
        return out

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        return tags


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # AraBERT-style vocabularies were built on unfolded letters, so folding alef/ya/ta marbuta would
    # produce spellings the tokenizer rarely saw.
    "arabert": {"unify_alef": False, "unify_alef_maqsura": False, "unify_ta_marbuta": False},
    "minimal": {name: False for name in _PARAMS if not name.endswith("_token") and name != "strip_boilerplate"},
}


def normalizer_for(preset: str = "default", **overrides: Any) -> ArabicNormalizer:
    """A normaliser from a named preset, with per-parameter overrides on top."""
    if preset not in PRESETS:
        raise ValueError(f"unknown normaliser preset {preset!r}; known presets: {', '.join(sorted(PRESETS))}")
    unknown = sorted(set(overrides) - set(_PARAMS))
    if unknown:
        raise ValueError(f"unknown normaliser setting(s) {unknown}; valid settings: {', '.join(_PARAMS)}")
    for name, value in overrides.items():  # "false" (a string) would switch a rule on
        expected = str if name.endswith("_token") else bool
        if not isinstance(value, expected):
            raise ValueError(f"{name}: expected {'a text' if expected is str else 'true or false without quotes'}, "
                             f"found the {type(value).__name__} {value!r}")
    return ArabicNormalizer(**{**PRESETS[preset], **overrides})


# ------------------------------------------------------------------------------------ page boilerplate

_QUOTES = "\"'«»“”„‟‘’‚‛`´"
_FOLD = _CharMap(dict.fromkeys(_DIACRITICS + araby.TATWEEL + _QUOTES) | _INVISIBLE | dict.fromkeys(_ALEF_FORMS, araby.ALEF)
                 | {araby.ALEF_MAKSURA: araby.YEH, araby.TEH_MARBUTA: araby.HEH, araby.WAW_HAMZA: araby.WAW,
                    araby.YEH_HAMZA: araby.YEH} | _DIGITS)
_EDGE = " \t:：-–—|.…!?؟،,;؛()[]<>•*#0123456789"


def _fold(line: str) -> str:
    """Spelling-tolerant comparison key: no diacritics/quotes, hamza/alef variants folded."""
    return " ".join(_FOLD(line).lower().split())


_MARKERS = frozenset(_fold(m) for m in (
    "تعليقات", "التعليقات", "جاري تحميل التعليقات", "أضف تعليق", "أضف تعليقك", "اقرأ أيضا", "إقرأ أيضا",
    "شاهد أيضا", "مواضيع ذات صلة", "أخبار ذات صلة", "مقالات ذات صلة", "الأكثر قراءة", "الأكثر مشاهدة",
    "المزيد من الأخبار", "تابعونا على", "شارك هذا المقال", "شارك المقال"))
_DATE_WORDS = frozenset(_fold(w) for w in (
    "الأحد الاثنين الإثنين الثلاثاء الأربعاء الخميس الجمعة السبت يناير فبراير مارس أبريل ماي مايو يونيو "
    "يونيه يوليو يوليوز أغسطس غشت سبتمبر شتنبر أكتوبر نوفمبر نونبر ديسمبر دجنبر كانون شباط آذار نيسان أيار "
    "حزيران تموز آب أيلول تشرين محرم صفر ربيع جمادى رجب شعبان رمضان شوال القعدة الحجة").split())
# Neither date nor headline evidence: they just sit around dates in bylines.
_DATE_FILLER = frozenset(_fold(w) for w in (
    "نشر نشرت في بتاريخ تاريخ النشر آخر تحديث الساعة م هـ ص مساء صباحا الموافق الأول الثاني الآخر الآخرة ذو "
    "gmt am pm").split())
_NUMERIC_DATE_RE = re.compile(r"\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}[/.-]\d{1,2}[/.-]\d{1,2})\b")
_YEAR_RE = re.compile(r"(?:19|20)\d\d|14\d\d")


def _is_date_line(folded: str, first: bool) -> bool:
    """Whether a folded line is a short line that is mostly a date, e.g. "الاربعاء 20 ابريل 2022 - 12:00"."""
    if not folded or folded.count(" ") >= 11:
        return False
    numeric = bool(_NUMERIC_DATE_RE.search(folded))
    words = re.findall(r"[^\W_]+", _NUMERIC_DATE_RE.sub(" 1 ", folded))
    dates = [w for w in words if w.isdigit() or w in _DATE_WORDS]
    others = [w for w in words if not w.isdigit() and w not in _DATE_WORDS and w not in _DATE_FILLER]
    named_with_year = any(w in _DATE_WORDS for w in dates) and any(_YEAR_RE.fullmatch(w) for w in dates)
    # A headline may mention a month and a year ("... مونديال 2030 في يونيو"); only lines dominated by
    # date words qualify, and the first line (usually the headline) only if it is nothing but a date.
    limit = 0 if first else min(4, len(dates) - 1)
    return (numeric or named_with_year) and len(others) <= limit


def strip_page_boilerplate(text: str) -> str:
    """Remove scraped-page furniture around an article, keeping line breaks.

    Conservative by design: a comment/"read also" marker line cuts the rest of the text only when at
    least 40% of the visible characters come before it; a line equal (ignoring spacing, quotes and
    hamza/diacritic variants) to an earlier one is dropped; short date lines among the first five
    non-empty lines are dropped, but never the headline-like first line nor the only content left.
    """
    lines = text.splitlines()
    if len(lines) <= 1:  # normalised text is one line: every rule needs at least two
        return lines[0] if lines and lines[0].strip() else ""
    # Folding the whole text at once is far cheaper than line by line; folding never adds or
    # removes line breaks, so the folded lines pair up with the original ones.
    keys = [" ".join(line.split()) for line in _FOLD(text).lower().splitlines()]
    if len(keys) != len(lines):  # cannot happen with the current tables; guards future edits
        keys = [_fold(line) for line in lines]
    sizes = [len(key) - key.count(" ") for key in keys]
    threshold, seen_chars, end = 0.4 * sum(sizes), 0, len(lines)
    for i, key in enumerate(keys):
        if seen_chars >= threshold and key.strip(_EDGE) in _MARKERS:
            end = i
            break
        seen_chars += sizes[i]

    kept: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line, key in zip(lines[:end], keys[:end]):
        if key and key in seen:
            continue
        seen.add(key)
        kept.append((line, key))

    content = [i for i, (_, key) in enumerate(kept) if key]
    drop = {i for n, i in enumerate(content[:5]) if _is_date_line(kept[i][1], first=n == 0)}
    if len(drop) == len(content):  # never leave nothing behind
        drop = set()
    out: list[tuple[str, str]] = []
    for i, (line, key) in enumerate(kept):
        if i in drop or (not key and (not out or not out[-1][1])):
            continue  # also squeezes the blank-line runs that removals leave behind
        out.append((line, key))
    while out and not out[-1][1]:
        out.pop()
    return "\n".join(line for line, _ in out)
