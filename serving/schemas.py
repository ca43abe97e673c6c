"""Request and response models of the HTTP API, with the rules a request must meet and Arabic examples.

Every rule here is enforced by pydantic before the model runs; a broken rule is a 400 whose body names the
field (``texts[3]``, ``titles``, ``body``) and the rule (see ``serving.limits.error_body``).
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from .limits import MAX_TEXT_CHARS, MAX_TEXTS, MAX_TITLE_CHARS, MAX_TOP_K

EXAMPLE_TEXT = ("يستعد المغرب لتنظيم لقاء دولي للتحالف العالمي ضد داعش في شهر ماي المقبل بمشاركة وزير الخارجية "
                "الأمريكي وممثلي أزيد من 80 بلدا، لتنسيق الجهود الدولية للتصدي للتنظيم الإرهابي.")
EXAMPLE_TITLE = "المغرب يستضيف اجتماع التحالف الدولي ضد داعش"
EXAMPLE_SPORT = "فاز المنتخب المغربي على نظيره البرازيلي بهدفين نظيفين في مباراة ودية أقيمت مساء السبت بمدينة طنجة."


# anything but whitespace, control characters and the invisible formatting marks of Arabic text (Arabic letter mark,
# zero-width and direction marks, byte order mark, soft hyphen)
_VISIBLE = re.compile(r"[^\s\x00-\x1f\x7f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


def _not_blank(value: str) -> str:
    if not _VISIBLE.search(value):
        raise ValueError("text is blank (only whitespace, control or invisible characters); send the article body")
    return value


ArticleText = Annotated[
    str,
    StringConstraints(max_length=MAX_TEXT_CHARS),
    AfterValidator(_not_blank),
    Field(description=f"Article body in Arabic; 1 to {MAX_TEXT_CHARS:,} characters, not blank.",
          json_schema_extra={"example": EXAMPLE_TEXT}),
]
ArticleTitle = Annotated[
    str | None,
    Field(max_length=MAX_TITLE_CHARS, description=f"Headline (up to {MAX_TITLE_CHARS:,} characters); null or "
                                                  "empty for none.", json_schema_extra={"example": EXAMPLE_TITLE}),
]


class _Request(BaseModel):
    # strict: JSON types must match ("3" is not a number, 3 is not a text); unknown fields are an error
    # rather than silently ignored (a typo such as "text" for "texts" would otherwise lose the input).
    model_config = ConfigDict(strict=True, extra="forbid")


class ClassifyRequest(_Request):
    """Articles to classify: one to 64 texts, optionally with one title per text."""

    model_config = ConfigDict(json_schema_extra={"example": {"texts": [EXAMPLE_TEXT, EXAMPLE_SPORT],
                                                             "titles": [EXAMPLE_TITLE, None]}})

    texts: list[ArticleText] = Field(min_length=1, max_length=MAX_TEXTS,
                                     description=f"Article bodies, 1 to {MAX_TEXTS} per request.")
    titles: list[ArticleTitle] | None = Field(
        default=None, description="Headlines, one per text in the same order (null entries for none); the "
                                  "title carries much of the topic, so send it when you have it.")

    @field_validator("titles")
    @classmethod
    def _one_title_per_text(cls, titles: list[str | None] | None, info: ValidationInfo) -> list[str | None] | None:
        texts = info.data.get("texts")
        if titles is not None and texts is not None and len(titles) != len(texts):
            raise ValueError(f"titles must have one entry per text: got {len(titles)} titles for {len(texts)} texts "
                             "(use null for a text without a title)")
        return titles


class ArticlePrediction(BaseModel):
    label: str = Field(description="Primary topic: the highest-scoring label.", json_schema_extra={"example": "diplomacy"})
    labels: list[str] = Field(description="Primary label first, then (multi-label models) every other label "
                                          "whose score passes its tuned threshold.",
                              json_schema_extra={"example": ["diplomacy", "terrorism"]})
    scores: dict[str, float] = Field(description="Score of every label. Single-label models: probabilities summing "
                                                 "to 1. Multi-label models: independent per-label probabilities.",
                                     json_schema_extra={"example": {"diplomacy": 0.71, "other": 0.04, "sport": 0.01,
                                                                    "terrorism": 0.62}})
    low_confidence: bool = Field(description="True when the primary label's score is under the model's "
                                             "low-confidence threshold: treat the label as a guess.")
    arabic_ratio: float = Field(ge=0, le=1, description="Share of the letters in title and text that are Arabic "
                                                        "script. The text is classified whatever its language, but "
                                                        "the model knows Arabic news only: below about 0.5 the "
                                                        "label is not meaningful.", json_schema_extra={"example": 0.98})


class ClassifyResponse(BaseModel):
    model: str = Field(description="Model store tag that produced the predictions.",
                       json_schema_extra={"example": "arabic-news-topics:2mzdrkq3ogdbwlrt"})
    predictions: list[ArticlePrediction] = Field(description="One prediction per text, in request order.")


class ExplainRequest(_Request):
    """One article to explain."""

    model_config = ConfigDict(json_schema_extra={"example": {"text": EXAMPLE_TEXT, "title": EXAMPLE_TITLE, "top_k": 5}})

    text: ArticleText
    title: ArticleTitle = None
    top_k: int = Field(default=10, ge=1, le=MAX_TOP_K, description=f"Evidence items per list, 1 to {MAX_TOP_K}.")
    label: str | None = Field(default=None, description="Label to explain; default: the predicted primary label.")
    method: Literal["auto", "linear", "occlusion"] = Field(
        default="auto", description="linear: n-gram weights (TF-IDF baseline only); occlusion: score drop when "
                                    "each sentence or the title is removed (any model); auto: linear when possible.")


class EvidenceItem(BaseModel):
    kind: Literal["word", "char", "cluster", "sentence", "title"] = Field(
        description="word: word n-gram; char: character n-gram inside a word (a space marks the word's start or "
                    "end); cluster: n-gram of word clusters (--baseline.word-clusters); sentence / title: an "
                    "occlusion unit.")
    feature: str = Field(description="The model's view: the normalised n-gram, or 'sentence N' / 'title'.",
                         json_schema_extra={"example": "وزير الخارجيه"})
    original: list[str] = Field(description="The input's own spelling(s) that produce the feature, or the "
                                            "sentence as written.", json_schema_extra={"example": ["وزير الخارجية"]})
    weight: float = Field(description="Contribution to the label: coefficient x tf-idf (linear) or the fall of the "
                                      "label's score when the unit is removed (occlusion).")
    start: int | None = Field(default=None, description="Occlusion sentences: start offset in the text.")
    end: int | None = Field(default=None, description="Occlusion sentences: end offset in the text.")


class WordWeight(BaseModel):
    word: str = Field(description="A word of the input as written.", json_schema_extra={"example": "داعش"})
    weight: float = Field(description="Summed contribution of the n-grams the word takes part in.")


class ExplainResponse(BaseModel):
    model: str = Field(description="Model store tag.")
    label: str = Field(description="The explained label.", json_schema_extra={"example": "terrorism"})
    score: float = Field(description="The label's score for the whole input.")
    method: Literal["linear", "occlusion"]
    evidence: list[EvidenceItem] = Field(description="Strongest evidence for the label, strongest first.")
    counter_evidence: list[EvidenceItem] = Field(description="Strongest evidence against the label.")
    words: list[WordWeight] = Field(description="linear only: the input's words ranked by their total "
                                                "contribution (for highlighting).")
    arabic_ratio: float = Field(ge=0, le=1, description="Share of the letters that are Arabic script.")


class ModelArticle(BaseModel):
    """One article as the internal model service receives it (already validated by the API service)."""

    text: str
    title: str | None = None


class MetadataResponse(BaseModel):
    model: str = Field(description="Model store tag being served.")
    model_type: str = Field(description="baseline (TF-IDF + linear) or transformer.")
    labels: list[str]
    multi_label: bool
    low_confidence_threshold: float
    metrics: dict = Field(description="Validation and test metrics recorded at training time.")
    data_fingerprint: str | None = Field(description="Fingerprint of the training data.")
    data: dict = Field(description="Training data source and per-split label counts.")
    created_at: str | None = Field(description="When the artefact was written (UTC, ISO 8601).")
    library_versions: dict = Field(description="Library versions the model was trained with.")
    limits: dict = Field(description="Request limits enforced by this server.")


class ErrorDetail(BaseModel):
    """One problem with the request."""

    # The documented contract is exact: /docs.json says no other keys (the fuzz test holds the server to it).
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Where the problem is, as a path into the JSON body (`texts[2]`, `titles`, "
                                   "`top_k`); `body` for the body as a whole (invalid JSON or UTF-8, wrong "
                                   "top-level type, too large, wrong media type); `request.path` or "
                                   "`request.method` for an unknown path (404) or a method it does not answer (405).",
                       json_schema_extra={"example": "texts[1]"})
    loc: list[str | int] = Field(min_length=1, description="The same location as a list of keys and indexes "
                                                           "(`[\"texts\", 1]`), for programs.",
                                 json_schema_extra={"example": ["texts", 1]})
    type: str = Field(description="The rule broken, for programs: a pydantic error type (`missing`, `too_long`, "
                                  "`string_type`, `value_error`, `json_invalid`, `extra_forbidden`, ...) or one of "
                                  "this service's: `body_too_large`, `utf8_invalid`, `content_length_invalid`, "
                                  "`unsupported_media_type`, `unknown_label`, `method_unavailable`, `not_found`, "
                                  "`method_not_allowed`.", json_schema_extra={"example": "value_error"})
    msg: str = Field(description="The problem and how to fix it, for people.",
                     json_schema_extra={"example": "Value error, text is blank (only whitespace, control "
                                                   "or invisible characters); send the article body"})


class ErrorResponse(BaseModel):  # the shape serving.limits.error_body builds
    """The body of every client error (4xx): a one-line summary and one entry per problem."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="Summary for logs and people: `field: msg` for each problem (the first five), "
                                   "separated by `; `.",
                       json_schema_extra={"example": "texts[1]: Value error, text is blank (only whitespace, "
                                                     "control or invisible characters); send the article body"})
    detail: list[ErrorDetail] = Field(min_length=1, description="Every problem found, one entry each.")
