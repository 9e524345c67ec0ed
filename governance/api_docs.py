"""Swagger UI under the Content-Security-Policy (ADR 0023).

drf-spectacular's split view serves Swagger UI's start-up script as a file of its
own (``/api/docs/?script=``) instead of an inline ``<script>``, and the page's
template links its few page rules from a static file instead of an inline
``<style>``. Swagger UI's stylesheet draws its icons as ``data:`` images, so this
page alone may load images from ``data:``.
"""

from __future__ import annotations

from csp.decorators import csp_update

from governance.api.views import SchemaDocsPage

api_docs = csp_update({"img-src": ["data:"]})(
    SchemaDocsPage.as_view(url_name="api-schema")
)
