"""How much of a text is Arabic script: the share of its letters that are Arabic (``arabic_ratio``).

Text in another language or script is still classified; a low ratio says the model (trained on Arabic news) is out
of its domain, so predictions, batch outputs and the service all report it.
"""
from __future__ import annotations

import re

import numpy as np

# Arabic-script letters: Arabic, Arabic Supplement, Extended-A/B and the presentation forms. Digits are
# not letters, so the Arabic-Indic digits never count.
_LETTER_RE = re.compile(r"[^\W\d_]")
_ARABIC_LETTER_RE = re.compile(r"(?=[^\W\d_])[\u0600-\u06FF\u0750-\u077F\u0870-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")


def _bmp_table(pattern: re.Pattern) -> np.ndarray:
    """For each code point below U+10000, whether ``pattern`` matches it."""
    table = np.zeros(0x10000, dtype=bool)
    table[[m.start() for m in pattern.finditer("".join(map(chr, range(0x10000))))]] = True
    return table


# Looked up per character with numpy: the regular expressions themselves, run over a long article, cost as
# much CPU as the batched model call that classifies it.
_IS_LETTER, _IS_ARABIC_LETTER = _bmp_table(_LETTER_RE), _bmp_table(_ARABIC_LETTER_RE)


def arabic_ratio(*parts: str | None) -> float:
    """Share of the letters in ``parts`` that are Arabic script (0.0 when there are no letters).

    Text in another language or script is still classified; a low ratio says the model (trained on Arabic
    news) is out of its domain."""
    letters = arabic = 0
    for part in parts:
        if part:
            codes = np.frombuffer(part.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            in_bmp = codes < 0x10000
            letters += int(np.count_nonzero(_IS_LETTER[codes[in_bmp]]))
            arabic += int(np.count_nonzero(_IS_ARABIC_LETTER[codes[in_bmp]]))
            if not in_bmp.all():  # letters beyond U+FFFF (none of them Arabic) are rare
                letters += len(_LETTER_RE.findall("".join(map(chr, codes[~in_bmp]))))
    return round(arabic / letters, 4) if letters else 0.0
