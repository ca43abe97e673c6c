"""serving.limits helpers that need no server: the Arabic-letter ratio and the error body."""
from __future__ import annotations

import random

import pytest

from serving.limits import _ARABIC_LETTER_RE, _LETTER_RE, arabic_ratio, error_body


def _by_regex(*parts: str | None) -> float:
    """The definition: Arabic-script letters over all letters, counted by the regular expressions."""
    letters = sum(len(_LETTER_RE.findall(p)) for p in parts if p)
    arabic = sum(len(_ARABIC_LETTER_RE.findall(p)) for p in parts if p)
    return round(arabic / letters, 4) if letters else 0.0


@pytest.mark.parametrize("parts, expected", [
    (("مرحبا بالعالم",), 1.0),
    (("hello world",), 0.0),
    (("abc مرح",), 0.5),
    (("١٢٣ 456 ،؛؟ َ ُ",), 0.0),         # Arabic-Indic digits, punctuation and harakat are not letters
    (("ﻻ ﷲ ـ",), 1.0),                 # presentation forms and the tatweel count as Arabic letters
    (("", None, "   "), 0.0),
    (("عنوان", "body text"), round(5 / 13, 4)),  # title and text together
    (("𝐀𝐁 عرب",), 0.6),                 # letters beyond U+FFFF count as letters
])
def test_arabic_ratio(parts, expected) -> None:
    assert arabic_ratio(*parts) == expected == _by_regex(*parts)


def test_arabic_ratio_matches_its_definition_on_random_text() -> None:
    rng = random.Random(13)
    pools = [(0, 0x10000), (0x600, 0x700), (0xFB50, 0xFF00), (0x10000, 0x30000), (0x20, 0x80)]
    for _ in range(3000):
        text = "".join(chr(rng.randrange(*rng.choice(pools))) for _ in range(rng.randrange(0, 30)))
        assert arabic_ratio(text) == _by_regex(text), repr(text)


def test_error_body_names_each_field() -> None:
    body = error_body([{"loc": ["texts", 2], "type": "value_error", "msg": "text is blank"}, {"loc": [], "msg": "bad"}])
    assert body["detail"] == [{"field": "texts[2]", "loc": ["texts", 2], "type": "value_error", "msg": "text is blank"},
                              {"field": "body", "loc": ["body"], "type": "invalid", "msg": "bad"}]
    assert body["error"] == "texts[2]: text is blank; body: bad"
