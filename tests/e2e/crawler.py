"""A small same-origin crawler for the crawl test: log in through the login form, then
breadth-first from ``/`` over the ``<a href>`` of every HTML page, GET only.

Only the standard library, so it runs in the test process without a browser. Each
answer is recorded with its status; a 5xx is a failure. Downloads (PDF, ZIP,
signatures, JSON) are fetched but not parsed.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Never followed: the logout form is a POST, but its URL must not be fetched either;
# static files are not pages.
SKIPPED_PREFIXES = ("/accounts/logout/", "/admin/logout/", "/static/")
# Query-string variants of one path (sorting, filters, paging): enough to exercise
# the parameters without crawling every combination of the admin's filters.
VARIANTS_PER_PATH = 2
# Pages of the same shape (the path with its numeric ids and UUIDs blanked, e.g. the
# admin's change page of every audit event): enough to show each kind of page works.
PAGES_PER_SHAPE = 3
_ID = re.compile(
    r"^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


@dataclass
class Visit:
    url: str
    status: int
    content_type: str


@dataclass
class CrawlResult:
    role: str
    visits: list[Visit] = field(default_factory=list)
    capped: bool = False

    @property
    def failures(self) -> list[str]:
        return [
            f"{self.role}: {v.status} {v.url}" for v in self.visits if v.status >= 500
        ]

    @property
    def paths(self) -> set[str]:
        return {urllib.parse.urlsplit(v.url).path for v in self.visits}


class _Links(HTMLParser):
    """The ``<a href>`` of a page, and its GET forms (search, filters) submitted
    with the values they show, as a person pressing the button would."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.csrf: str | None = None
        self._form: tuple[str, list[tuple[str, str]]] | None = None
        self._select: tuple[str, list[str], list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"])
        elif tag == "input" and values.get("name") == "csrfmiddlewaretoken":
            self.csrf = values.get("value")
        if tag == "form" and values.get("method", "get").lower() == "get":
            self._form = (values.get("action", ""), [])
        if self._form is None or not values.get("name") or "disabled" in values:
            return
        fields = self._form[1]
        kind = values.get("type", "text").lower()
        if tag == "input" and kind in ("submit", "button", "image", "reset", "file"):
            return
        if tag == "input" and kind in ("checkbox", "radio") and "checked" not in values:
            return
        if tag == "input":
            fields.append((values["name"], values.get("value", "")))
        elif tag == "select":
            self._select = (values["name"], [], [])
        elif tag == "option" and self._select is not None:
            option = values.get("value", "")
            self._select[1].append(option)
            if "selected" in values:
                self._select[2].append(option)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None and self._form is not None:
            name, options, selected = self._select
            for value in selected or options[:1]:
                self._form[1].append((name, value))
            self._select = None
        elif tag == "form" and self._form is not None:
            action, fields = self._form
            query = urllib.parse.urlencode(fields)
            self.hrefs.append(f"{action.split('?')[0]}?{query}")
            self._form = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Session:
    """One browser-like session: cookies kept, redirects seen (not followed)."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def request(
        self, url: str, data: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body)
        if data is not None:
            req.add_header("Referer", url)
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()

    def login(self, username: str, password: str) -> None:
        url = f"{self.base}/accounts/login/"
        status, _, body = self.request(url)
        assert status == 200, f"login page answered {status}"
        parser = _Links()
        parser.feed(body.decode("utf-8", "replace"))
        assert parser.csrf, "no CSRF token in the login form"
        status, headers, _ = self.request(
            url,
            {
                "csrfmiddlewaretoken": parser.csrf,
                "username": username,
                "password": password,
                "next": "/",
            },
        )
        assert status == 302, f"{username} could not log in (status {status})"
        assert "/accounts/login/" not in headers.get("Location", ""), username


def _shape(path: str) -> str | None:
    """``path`` with its ids blanked, or None when it has none."""
    parts = path.split("/")
    blanked = ["#" if _ID.match(part) else part for part in parts]
    return "/".join(blanked) if blanked != parts else None


def _normalise(base: str, page_url: str, href: str) -> str | None:
    href = href.strip()
    if not href or href.startswith(("#", "mailto:", "javascript:", "tel:", "data:")):
        return None
    absolute, _ = urllib.parse.urldefrag(urllib.parse.urljoin(page_url, href))
    parts = urllib.parse.urlsplit(absolute)
    origin = urllib.parse.urlsplit(base)
    if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
        return None
    if parts.path.startswith(SKIPPED_PREFIXES):
        return None
    return urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))


def crawl(
    base_url: str,
    role: str,
    username: str,
    password: str,
    max_pages: int,
    start: tuple[str, ...] = ("/",),
) -> CrawlResult:
    """Visit every same-origin link reachable from ``start`` as ``username``."""
    session = Session(base_url)
    session.login(username, password)
    result = CrawlResult(role=role)
    queue: deque[str] = deque(start)
    seen: set[str] = set(start)
    variants: dict[str, int] = {}
    shapes: dict[str, int] = {}
    while queue:
        if len(result.visits) >= max_pages:
            result.capped = True
            break
        target = queue.popleft()
        url = session.base + target
        status, headers, body = session.request(url)
        content_type = headers.get("Content-Type", "")
        result.visits.append(Visit(target, status, content_type))
        found: list[str] = []
        if status in (301, 302, 303, 307, 308) and headers.get("Location"):
            found.append(headers["Location"])
        elif status == 200 and content_type.startswith("text/html"):
            parser = _Links()
            parser.feed(body.decode("utf-8", "replace"))
            found.extend(parser.hrefs)
        for href in found:
            link = _normalise(session.base, url, href)
            if link is None or link in seen:
                continue
            path, _, query = link.partition("?")
            if query:
                if variants.get(path, 0) >= VARIANTS_PER_PATH:
                    continue
                variants[path] = variants.get(path, 0) + 1
            shape = _shape(path)
            if shape is not None and path not in shapes:
                if shapes.get(shape, 0) >= PAGES_PER_SHAPE:
                    continue
                shapes[shape] = shapes.get(shape, 0) + 1
                shapes[path] = 1
            seen.add(link)
            queue.append(link)
    return result
