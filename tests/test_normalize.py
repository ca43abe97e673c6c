"""Tests for training.data.normalize: character rules, placeholders, presets, sklearn contract, boilerplate."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.pipeline import Pipeline

from training.data.normalize import PRESETS, ArabicNormalizer, normalizer_for, strip_page_boilerplate

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "examples" / "000_e15a76a4801cf1d0.txt"
BOOL_PARAMS = [name for name, value in ArabicNormalizer().get_params().items() if isinstance(value, bool)]


def only(**rule: bool) -> ArabicNormalizer:
    """A normaliser with every rule off except the given ones (whitespace collapse is always on)."""
    return normalizer_for("minimal", **rule)


# ------------------------------------------------------------------------------------------ single rules

@pytest.mark.parametrize(("rule", "text", "expected"), [
    ("remove_diacritics", "مُحَمَّدٌ كَتَبَ", "محمد كتب"),
    ("remove_diacritics", "هٰذا ذٰلك", "هذا ذلك"),                      # superscript alef
    ("remove_diacritics", "الرَّحِيمِ\u06d6 ذَٰلِكَ", "الرحيم ذلك"),           # Quranic pause mark
    ("remove_tatweel", "جـــميل الـعـرب", "جميل العرب"),
    ("unify_alef", "أحمد إلى آمن ٱلله", "احمد الى امن الله"),
    ("unify_alef_maqsura", "على مستوى", "علي مستوي"),
    ("unify_ta_marbuta", "مدرسة المدينة", "مدرسه المدينه"),
    ("unify_hamza_carriers", "مؤتمر رئيس", "موتمر رييس"),
    ("arabic_digits", "عام ٢٠٢٢ و۱۴۰۰", "عام 2022 و1400"),
    ("lowercase_latin", "Le 360 BBC News", "le 360 bbc news"),
    ("collapse_repeats", "جداااا goooal", "جدا goal"),
])
def test_each_rule_alone(rule: str, text: str, expected: str) -> None:
    assert only(**{rule: True}).normalize(text) == expected


@pytest.mark.parametrize(("rule", "text"), [
    ("remove_diacritics", "مُحَمَّدٌ هٰذا"),
    ("remove_tatweel", "جـــميل"),
    ("unify_alef", "أحمد آمن ٱلله"),
    ("unify_alef_maqsura", "على"),
    ("unify_ta_marbuta", "مدرسة"),
    ("unify_hamza_carriers", "مؤتمر رئيس"),
    ("arabic_digits", "٢٠٢٢ ۱۴۰۰"),
    ("lowercase_latin", "BBC"),
    ("collapse_repeats", "جداااا"),
    ("replace_urls", "https://example.com"),
    ("replace_emails", "a@b.com"),
    ("replace_mentions", "@someone"),
])
def test_each_switch_off_keeps_the_characters(rule: str, text: str) -> None:
    # Starting from the defaults, turning the one rule off must leave its characters alone.
    assert ArabicNormalizer(**{rule: False}).normalize(text) == text
    kept = ArabicNormalizer(**{name: False for name in BOOL_PARAMS if name != "strip_boilerplate"})
    assert kept.normalize(text) == text


def test_hamza_carriers_are_kept_by_default() -> None:
    assert ArabicNormalizer().normalize("مؤتمر رئيس") == "مؤتمر رئيس"


def test_defaults_fold_a_realistic_sentence() -> None:
    text = "أعلنَت الوزارةُ عن مُبـــادرة جديدة عام ٢٠٢٢ على الموقع WWW.Gov.MA"
    assert ArabicNormalizer().normalize(text) == "اعلنت الوزاره عن مبادره جديده عام 2022 علي الموقع URL"


# ------------------------------------------------------------------------------------------ placeholders

@pytest.mark.parametrize(("text", "expected"), [
    ("زوروا https://example.com/a?b=1. الآن", "زوروا URL . الان"),
    ("الموقع www.hespress.com، وغيره", "الموقع URL ، وغيره"),
    ("راسلونا info@site.ma فورا", "راسلونا EMAIL فورا"),
    ("a.b@news.com", "EMAIL"),                     # emails before mentions: not "a.b USER .com"
    ("desk-@news.com", "EMAIL"),                   # here "@news" alone would also pass as a mention
    ("قال @user_1 إن", "قال USER ان"),
    ("http://x.com/@bob", "URL"),                  # URLs first: the @ inside stays in the URL
    ("httppp://x.com", "URL"),                     # collapsing completes a URL, so it is replaced too
])
def test_placeholders(text: str, expected: str) -> None:
    assert ArabicNormalizer().normalize(text) == expected


def test_placeholders_survive_lowercasing_and_custom_tokens() -> None:
    assert ArabicNormalizer().normalize("SEE http://x.com NOW @Bob") == "see URL now USER"
    custom = ArabicNormalizer(url_token="<link>", email_token="<mail>", mention_token="<user>")
    assert custom.normalize("a@b.com @c www.d.org") == "<mail> <user> <link>"


@pytest.mark.parametrize("token", ["رابطة", "url ", "aaab"])
def test_tokens_that_the_pipeline_would_rewrite_are_rejected(token: str) -> None:
    with pytest.raises(ValueError, match="url_token"):
        ArabicNormalizer(url_token=token).fit(["x"])


def test_repeats_keep_digits_doubles_and_punctuation() -> None:
    assert only(collapse_repeats=True).normalize("2000 1999 جداا !!! ؟؟؟") == "2000 1999 جداا !!! ؟؟؟"


def test_whitespace_and_invisible_marks() -> None:
    assert only().normalize("  أ\t\n ب\u00a0\u00a0ج \r\n") == "أ ب ج"
    assert only().normalize("كلمة\u200f \u200eاخرى\u200bثالثة\ufeff") == "كلمة اخرى ثالثة"


# ------------------------------------------------------------------------------------------ idempotence

TRICKY = [
    "", "   ", "URL", "url URL", "UUURL", "AaA aaa", "httppp://x.com", "hhhttp://a.b", "wwww.x.com",
    "a@b.com@c", "x @b.com", "@@x", "ا\u0640\u0654", "جـــداااا", "٢٠٠٠٠", "تعليقات", "الأربعاء 20 أبريل 2022",
    "الأحد\n2022", "title\nالأربعاء 20 أبريل 2022\nbody", "İstanbul", "a\u200bb\u200cc", "ـًـًـً",
    "@ا@ا", "a@b.com@c@d", "@x@y@z",  # a replaced mention exposes the next "@"
]
SETTINGS = [dict(PRESETS[name]) for name in sorted(PRESETS)]

_letters = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئىةٱ" + "abcwxyzAHLPTUWhpt" + "0129٢٠٩۱۴"
_marks = "\u064b\u064e\u0650\u0651\u0652\u0670\u0654\u06d6\u0640\u200f\u200b"
_pieces = ["http://", "https://", "www.", "@", ".com", ".", "/", ":", "-", " ", "\n", "\t", "URL", "EMAIL", "USER",
           "\nتعليقات\n", "\nاقرأ أيضا:\n", "الأربعاء 20 أبريل 2022\n", "01/02/2020", "\"", "«", "!"]
texts = st.lists(st.one_of(st.sampled_from(_letters + _marks), st.sampled_from(_pieces)), max_size=60).map("".join)
random_settings = st.fixed_dictionaries({name: st.booleans() for name in BOOL_PARAMS})


@pytest.mark.parametrize("overrides", SETTINGS, ids=sorted(PRESETS))
@pytest.mark.parametrize("text", TRICKY)
def test_idempotent_on_tricky_strings(overrides: dict, text: str) -> None:
    normalizer = ArabicNormalizer(**overrides)
    once = normalizer.normalize(text)
    assert normalizer.normalize(once) == once


@settings(max_examples=200, deadline=None)
@given(text=texts, overrides=st.one_of(st.sampled_from(SETTINGS), random_settings))
def test_idempotent_property(text: str, overrides: dict) -> None:
    normalizer = ArabicNormalizer(**overrides)
    once = normalizer.normalize(text)
    assert normalizer.normalize(once) == once
    assert normalizer.normalize(text) == once  # deterministic


# ------------------------------------------------------------------------------------------ sklearn contract

def test_sklearn_clone_params_and_fit() -> None:
    normalizer = ArabicNormalizer(unify_ta_marbuta=False, url_token="<u>")
    copy = clone(normalizer)
    assert copy is not normalizer and copy.get_params() == normalizer.get_params()
    assert normalizer.fit(["x"]) is normalizer
    params = normalizer.get_params()
    assert params["unify_ta_marbuta"] is False and params["url_token"] == "<u>" and len(params) == 16
    restored = ArabicNormalizer().set_params(**params)
    assert restored.get_params() == params
    assert restored.normalize("مدرسة http://a.b") == "مدرسة <u>"


def test_set_params_takes_effect_after_use() -> None:
    normalizer = ArabicNormalizer()
    assert normalizer.normalize("مدرسة") == "مدرسه"
    normalizer.set_params(unify_ta_marbuta=False)
    assert normalizer.normalize("مدرسة") == "مدرسة"


def test_pickle_round_trip() -> None:
    normalizer = normalizer_for("arabert", collapse_repeats=False)
    normalizer.transform(["warm the cache"])
    restored = pickle.loads(pickle.dumps(normalizer))
    assert restored.get_params() == normalizer.get_params()
    assert restored.transform(["إلى ٢٠٢٠ جداااا"]) == ["إلى 2020 جداااا"]


def test_works_inside_a_pipeline() -> None:
    pipeline = Pipeline([("normalize", ArabicNormalizer()), ("vectorize", CountVectorizer())])
    matrix = pipeline.fit_transform(["مدرسة المدينة", "المدرسه في المدينة"])
    vocabulary = pipeline.named_steps["vectorize"].vocabulary_
    assert matrix.shape == (2, 4) and "مدرسه" in vocabulary and "مدرسة" not in vocabulary


def test_transform_returns_a_list_and_rejects_non_strings() -> None:
    assert ArabicNormalizer().transform(("أ", "ى")) == ["ا", "ي"]
    with pytest.raises(TypeError, match=r"expects str items; item at index 1 is NoneType"):
        ArabicNormalizer().transform(["ok", None])
    with pytest.raises(TypeError, match=r"expects str items; item at index 2 is float"):
        ArabicNormalizer().transform(["a", "b", 3.5])
    with pytest.raises(TypeError, match="single str"):
        ArabicNormalizer().transform("not a list")


def test_transform_accepts_arrays_series_and_one_column_frames() -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    normalizer = ArabicNormalizer()
    assert normalizer.transform(np.array(["أ", "ى"], dtype=object)) == ["ا", "ي"]
    assert normalizer.transform(pd.Series(["أ", "ى"], index=[5, 7])) == ["ا", "ي"]
    assert normalizer.transform(pd.DataFrame({"text": ["أ", "ى"]})) == ["ا", "ي"]
    with pytest.raises(ValueError, match="one text column, got 2"):
        normalizer.transform(pd.DataFrame({"a": ["x"], "b": ["y"]}))


# ------------------------------------------------------------------------------------------ presets

def test_presets() -> None:
    text = "أَحْمَد إلى المدرسة ٢٠٢٢ http://x.com"
    assert normalizer_for().get_params() == ArabicNormalizer().get_params()
    assert normalizer_for("default").normalize(text) == "احمد الي المدرسه 2022 URL"
    assert normalizer_for("arabert").normalize(text) == "أحمد إلى المدرسة 2022 URL"
    assert normalizer_for("minimal").normalize("  " + text + "\n") == text
    assert normalizer_for("arabert", unify_alef=True).normalize("أحمد") == "احمد"


def test_unknown_preset_and_setting() -> None:
    with pytest.raises(ValueError, match="known presets: arabert, default, minimal"):
        normalizer_for("camel")
    with pytest.raises(ValueError, match="unify_alif"):
        normalizer_for("default", unify_alif=True)


# ------------------------------------------------------------------------------------------ boilerplate

BODY = ("يستعد المغرب لتنظيم لقاء دولي للتحالف العالمي ضد داعش في شهر ماي المقبل بمشاركة ممثلي أزيد من ثمانين بلدا. "
        "ويتوقع أن يشرف على هذا اللقاء وزير الخارجية المغربي ناصر بوريطة خلال الشهر المقبل في مراكش.")


def test_repeated_title_is_dropped_once() -> None:
    page = f"\"داعش\" تعيد بلينكن إلى المغرب\n\n «داعش» تعيد  بلينكن إلى المغرب \n{BODY}"
    assert strip_page_boilerplate(page) == f"\"داعش\" تعيد بلينكن إلى المغرب\n\n{BODY}"


def test_marker_after_body_cuts_the_teaser() -> None:
    page = f"عنوان الخبر\n{BODY}\nإقرأ أيضاً:\nلقجع يتحدث عن المونديال"
    assert strip_page_boilerplate(page) == f"عنوان الخبر\n{BODY}"
    assert strip_page_boilerplate(f"{BODY}\nالتعليقات (3)\nتعليق") == BODY


def test_marker_near_the_start_does_not_wipe_the_text() -> None:
    page = f"تعليقات\n{BODY}\n{BODY[:40]}"
    assert strip_page_boilerplate(page) == page


def test_marker_inside_a_sentence_is_not_a_marker() -> None:
    page = f"{BODY}\nوقد أثارت التعليقات على الخبر جدلا واسعا"
    assert strip_page_boilerplate(page) == page


def test_date_lines_at_the_top_are_dropped_but_not_headlines() -> None:
    page = f"المغرب يستضيف مونديال 2030 في يونيو\nالأربعاء 20 أبريل 2022 - 12:00\nنشر في: 20/04/2022\n{BODY}"
    assert strip_page_boilerplate(page) == f"المغرب يستضيف مونديال 2030 في يونيو\n{BODY}"
    assert strip_page_boilerplate(f"الأربعاء 20 أبريل 2022\n{BODY}") == BODY
    assert strip_page_boilerplate("الأربعاء 20 أبريل 2022") == "الأربعاء 20 أبريل 2022"  # nothing else left
    assert strip_page_boilerplate("الأربعاء 20 أبريل 2022\nنشر في 20/04/2022") == "الأربعاء 20 أبريل 2022\nنشر في 20/04/2022"
    late = "\n".join([f"{BODY} {i}" for i in range(6)] + ["الأربعاء 20 أبريل 2022", BODY[:20]])
    assert strip_page_boilerplate(late) == late  # beyond the first five lines


@pytest.mark.shared
def test_real_scraped_page() -> None:
    if not EXAMPLE.is_file():
        pytest.skip(f"{EXAMPLE} is absent (needs ../shared)")
    page = EXAMPLE.read_text(encoding="utf-8")
    stripped = strip_page_boilerplate(page)
    title = "\"داعش\" تُعيد وزير الخارجية الأمريكي أنطوني بلينكن إلى المغرب في ماي المقبل"
    assert stripped.count("تُعيد وزير الخارجية") == 1 and stripped.startswith(title)
    paragraphs = [p for p in page.split("\n") if p.startswith(("يستعد", "ويُتوقع", "وفي الوقت", "وكان", "وتجدر", "ووفق", "ويُعتبر"))]
    assert len(paragraphs) == 7 and all(p in stripped for p in paragraphs)
    assert "الأربعاء 20 أبريل 2022" not in stripped
    for teaser in ("تعليقات", "لقجع", "المونديال", "لارانغو"):
        assert teaser not in stripped
    normalized = ArabicNormalizer().normalize(page)
    assert normalized.startswith("\"داعش\" تعيد وزير الخارجيه الامريكي") and normalized.endswith("الامريكيه فقط.")
    assert "لقجع" not in normalized and normalized.count("تعيد وزير") == 1


def test_unknown_overrides_are_refused_before_training() -> None:
    from training.config import ConfigError, NormalizerConfig, check

    with pytest.raises(ConfigError, match=r"--normalizer.overrides: unknown normaliser setting\(s\) \['bogus'\]"):
        check(NormalizerConfig(overrides={"bogus": True}))
    check(NormalizerConfig(overrides={"unify_ta_marbuta": False}))
    # a quoted "false" is a string, which would switch the rule on: refused, as is a switch given for a token
    with pytest.raises(ConfigError, match=r"unify_ta_marbuta: expected true or false without quotes, found the str 'false'"):
        check(NormalizerConfig(overrides={"unify_ta_marbuta": "false"}))
    with pytest.raises(ConfigError, match=r"url_token: expected a text, found the bool False"):
        check(NormalizerConfig(overrides={"url_token": False}))
