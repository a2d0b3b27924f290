"""Jinja2 rendering with autoescaping, shared by pages and emails."""

from __future__ import annotations

import functools
import os

from shared.web import i18n

TEMPLATE_DIR = os.path.join(os.path.dirname(__file__), "templates")


@functools.cache
def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["datetime"] = i18n.format_datetime
    return env


def render(template: str, lang: str, **context) -> str:
    lang = i18n.normalize(lang)

    def _(message: str, **values) -> str:
        return i18n.gettext(lang, message, **values)

    return environment().get_template(template).render(lang=lang, _=_, **context)
