"""The message catalog and the choice of language (no browser needed)."""

from __future__ import annotations

import re

import pytest

from node.web.catalog import MESSAGES
from node.web.i18n import Speaker, _from_accept

GLOSSARY = {  # from the project glossary (docs/glossary-ja.md)
    "kind.alliance": "アライアンス",
    "tour.rotational": "ローテーション型",
    "tour.transformational": "変革型",
    "tour.foundational": "基盤型",
    "filter.alumni": "アルムナイ限定",
    "status.open": "募集中",
    "state.retracted": "撤回済み",
    "record.verified": "署名を検証済み",
    "state.ungrounded": "裏付けなし",
}


def test_every_message_has_both_languages_with_the_same_placeholders() -> None:
    for key, (en, ja) in MESSAGES.items():
        assert en and ja, key
        assert set(re.findall(r"{(\w+)}", en)) == set(re.findall(r"{(\w+)}", ja)), key


def test_japanese_messages_use_the_glossary_terms() -> None:
    for key, term in GLOSSARY.items():
        assert term in MESSAGES[key][1], key


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("ja,en;q=0.8", "ja"),
        ("en-GB,ja;q=0.9", "en"),
        ("fr-FR, ja-JP;q=0.5", "ja"),
        ("de", "en"),
        ("", "en"),
        ("ja;q=bogus, en", "en"),
    ],
)
def test_accept_language_picks_the_best_known_language(header: str, lang: str) -> None:
    assert _from_accept(header) == lang


def test_values_are_escaped_and_dates_follow_the_language() -> None:
    assert str(Speaker("en")("opp.by", org="<b>x</b>")) == "by &lt;b&gt;x&lt;/b&gt;"
    ms = 1_796_342_400_000  # 2026-12-04T00:00:00Z
    assert Speaker("ja").date(ms) == "2026年12月4日"
    assert Speaker("en").date(ms) == "4 Dec 2026"
