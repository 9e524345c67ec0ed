"""Django's template backend, with every rendered page safe to encode (ADR 0019).

A value stored before the input boundary may hold a lone surrogate, which UTF-8
cannot encode: the page would fail with a 500 when its response is encoded. Each
rendered template is passed through :func:`governance.inputs.safe_text`, which
writes such characters (and NUL) as visible ``\\uXXXX`` text; any other page comes
back unchanged (one regex search, a fraction of a millisecond per page).
"""

from __future__ import annotations

from typing import Any

from django.template import TemplateDoesNotExist
from django.template.backends.django import DjangoTemplates, reraise
from django.template.backends.django import Template as DjangoTemplate
from django.utils.safestring import mark_safe

from governance import inputs


class Template(DjangoTemplate):
    def render(self, context: Any = None, request: Any = None) -> str:
        text = super().render(context, request)
        safe = inputs.safe_text(text)
        return text if safe is text else mark_safe(safe)  # noqa: S308 escaped already


class SafeDjangoTemplates(DjangoTemplates):
    """``django.template.backends.django.DjangoTemplates`` with :class:`Template`."""

    def from_string(self, template_code: str) -> Template:
        return Template(self.engine.from_string(template_code), self)

    def get_template(self, template_name: str) -> Template:
        try:
            return Template(self.engine.get_template(template_name), self)
        except TemplateDoesNotExist as exc:
            reraise(exc, self)
            raise  # reraise always raises; this satisfies the type checker
