"""serving helpers that need no server: the Arabic-letter ratio, the error body, what gets logged, the media
types taken as JSON and the BentoML version check."""
from __future__ import annotations

import logging
import random
import sys

import pytest
from pydantic import ValidationError

from serving.limits import error_body, is_json_media, too_large_error
from training.data.script import _ARABIC_LETTER_RE, _LETTER_RE, arabic_ratio


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


@pytest.mark.parametrize("media, is_json", [("application/json", True), ("application/problem+json", True),
                                            ("text/plain", False), ("text/json", False), ("application/xml", False),
                                            ("application/x-www-form-urlencoded", False), ("", False)])
def test_json_media_types(media, is_json) -> None:
    assert is_json_media(media) is is_json


def test_logged_problems_name_fields_and_rules_never_unknown_keys() -> None:
    from serving.logs import problems

    body = error_body([{"loc": ["texts", 1], "type": "value_error", "msg": "blank"},
                       {"loc": ["an article pasted as a key"], "type": "extra_forbidden", "msg": "Extra inputs"}])
    assert problems(body) == "texts[1] value_error, <unknown> extra_forbidden"
    many = error_body([{"loc": ["texts", i], "type": "string_type"} for i in range(7)])
    assert problems(many).endswith("texts[4] string_type, and 2 more")


def test_bentoml_logs_server_errors_only(caplog) -> None:
    """The replacement for BentoML's log_exception: a ValidationError (BentoML answers 400) is not handed to
    BentoML's logger, whose traceback would quote the request's text; anything else is."""
    from starlette.requests import Request

    from serving.bentoml_internals import is_bentoml_client_error
    from serving.logs import quiet_client_errors
    from serving.schemas import ClassifyRequest

    handed: list[type] = []
    log_exception = quiet_client_errors(lambda request, exc_info=True: handed.append(sys.exc_info()[0]),
                                        is_bentoml_client_error)
    request = Request({"type": "http", "method": "POST", "path": "/classify", "headers": [], "query_string": b""})
    with caplog.at_level(logging.DEBUG, logger="serving"):
        try:
            ClassifyRequest.model_validate_json('{"texts": ["نص سري"], "x": 1}')
        except ValidationError:
            log_exception(request)
        try:
            raise RuntimeError("a server bug")
        except RuntimeError:
            log_exception(request)
    assert handed == [RuntimeError]
    assert "نص سري" not in caplog.text and "POST /classify answered 4xx: ValidationError" in caplog.text


def test_other_bentoml_versions_are_refused_in_one_line(monkeypatch) -> None:
    from serving.bentoml_internals import EXPECTED_BENTOML, IncompatibleBentoMLError, check_bentoml_version

    check_bentoml_version(EXPECTED_BENTOML)
    monkeypatch.delenv("ARABIC_NEWS_BENTOML_UNCHECKED", raising=False)
    with pytest.raises(IncompatibleBentoMLError, match=r"needs bentoml==1\.4\.40 .*found 1\.5\.0") as info:
        check_bentoml_version("1.5.0")
    assert "\n" not in str(info.value)
    monkeypatch.setenv("ARABIC_NEWS_BENTOML_UNCHECKED", "1")
    check_bentoml_version("1.5.0")


def test_the_413_message_gives_mib_only_for_limits_of_a_mib_or_more() -> None:
    assert "over the limit of 16777216 bytes (16 MiB); send fewer" in too_large_error(16 * 2**20, "17000000 bytes")["error"]
    assert "over the limit of 2000 bytes; send fewer" in too_large_error(2000, "3000 bytes")["error"]
