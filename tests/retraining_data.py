"""Tiny deterministic corpora for the retraining tests: two topics with disjoint vocabularies, so a baseline
trained on them predicts an article's topic from its words with certainty, and metrics can be worked out by hand."""
from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = {
    "sport": ["المباراة", "الهدف", "الفريق", "الدوري", "اللاعب", "الملعب", "البطولة", "المدرب", "الكأس", "الجمهور"],
    "diplomacy": ["السفير", "الوزير", "الخارجية", "المفاوضات", "القمة", "العلاقات", "الاتفاق", "الرئيس", "الوفد", "البعثة"],
    "economy": ["البورصة", "الأسهم", "التضخم", "الميزانية", "الاستثمار", "الدينار", "الصادرات", "البنك", "الأسعار", "النمو"],
}


def article(topic: str, rng: random.Random) -> str:
    return " ".join(rng.sample(WORDS[topic], 6))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def training_rows(topics=("sport", "diplomacy"), per_topic: int = 20, seed: int = 0, swap: bool = False,
                  text_column: str = "text", label_column: str = "label") -> list[dict]:
    """``swap``: every label replaced by the other topic's (a corrupted training set: a model that is always wrong)."""
    rng = random.Random(seed)
    rows = []
    for topic in topics:
        for n in range(per_topic):
            label = topic if not swap else {"sport": "diplomacy", "diplomacy": "sport"}.get(topic, topic)
            rows.append({"id": f"{topic[:3]}{seed}-{n}", text_column: article(topic, rng), label_column: label})
    return rows


def evaluation_rows(text_column: str = "text", label_column: str = "label") -> list[dict]:
    """Six articles: s1-s3 sport, d1-d2 diplomacy, x1 reads like sport but is labelled diplomacy; sources A and B."""
    rng = random.Random(99)
    spec = [("s1", "sport", "sport", "A"), ("s2", "sport", "sport", "A"), ("d1", "diplomacy", "diplomacy", "A"),
            ("s3", "sport", "sport", "B"), ("d2", "diplomacy", "diplomacy", "B"), ("x1", "sport", "diplomacy", "B")]
    return [{"id": row_id, text_column: article(words, rng), label_column: label, "source": source}
            for row_id, words, label, source in spec]
