"""Which language a page is in: ``?lang=`` wins, then the cookie the switch left, then the
browser's Accept-Language, then English (as the bot: ``bot.core.i18n.norm_lang``). Pure."""

from __future__ import annotations

from bot.core.i18n import LANGS

COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def from_accept_language(header: str | None) -> str | None:
    """The first of zh/en in the order of the browser's preference (q values), or None."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0].split("_")[0]
        if primary not in LANGS:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight <= 0:
            continue
        candidate = (-weight, position, primary)
        if best is None or candidate < best:
            best = candidate
    return best[2] if best else None


def choose_lang(query: str | None, cookie: str | None, accept_language: str | None) -> tuple[str, bool]:
    """(language, whether to remember it in the cookie: it came from ``?lang=``)."""
    if query in LANGS:
        return query, True
    if cookie in LANGS:
        return cookie, False
    return from_accept_language(accept_language) or "en", False
