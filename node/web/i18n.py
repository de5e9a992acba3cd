"""Choosing the reader's language and speaking it: messages from the catalog, dates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from aiohttp import web
from markupsafe import Markup, escape

from node.web.catalog import LANGUAGES, MESSAGES

LANG_COOKIE = "lang"
DEFAULT = "en"


def choose_language(request: web.Request) -> tuple[str, bool]:
    """The page's language and whether it was asked for with ``?lang=`` (to keep in a cookie).
    Order: ``?lang=``, the cookie, ``Accept-Language`` (by q), English."""
    asked = request.query.get("lang")
    if asked in LANGUAGES:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie, False
    return _from_accept(request.headers.get("Accept-Language", "")), False


def _from_accept(header: str) -> str:
    best, best_q = DEFAULT, -1.0
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        score = q - position * 1e-6  # earlier wins among equals
        if primary in LANGUAGES and score > best_q:
            best, best_q = primary, score
    return best


# every message escaped once, for the (most common) calls without values
_PLAIN = {
    lang: {key: Markup(escape(pair[i])) for key, pair in MESSAGES.items()}
    for i, lang in enumerate(LANGUAGES)
}


def messages(lang: str) -> dict[str, Markup]:
    """Every message of ``lang``, escaped: templates say ``T["key"]`` when nothing is filled in
    (a dictionary lookup costs less than a call, and a page makes hundreds)."""
    return _PLAIN[lang]


@dataclass(frozen=True)
class Speaker:
    """The catalog in one language, for templates: ``t("key", name=value)``."""

    lang: str

    def __call__(self, key: str, **values: object) -> Markup:
        if not values:
            return _PLAIN[self.lang][key]
        en, ja = MESSAGES[key]
        text = ja if self.lang == "ja" else en
        # the message is trusted markup-free text; the values come from records: escape them
        return Markup(escape(text).format(**{k: escape(v) for k, v in values.items()}))

    def plain(self, key: str, **values: object) -> str:
        en, ja = MESSAGES[key]
        return (ja if self.lang == "ja" else en).format(**values)

    def has(self, key: str) -> bool:
        return key in MESSAGES

    def date(self, ms: int | None) -> str:
        if ms is None:
            return ""
        when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
        if self.lang == "ja":
            return f"{when.year}年{when.month}月{when.day}日"
        return f"{when.day} {when.strftime('%b')} {when.year}"

    def datetime(self, ms: int | None) -> str:
        if ms is None:
            return ""
        when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
        if self.lang == "ja":
            return f"{self.date(ms)} {when.hour}時{when.minute:02d}分 (協定世界時)"
        return f"{self.date(ms)} {when.hour:02d}:{when.minute:02d} UTC"
