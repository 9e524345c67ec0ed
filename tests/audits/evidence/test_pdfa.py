"""The structural PDF/A-3b check (audits.evidence.pdfa): a pack rendered by
WeasyPrint passes it, and each rule it checks catches a pack changed to break it
(changes made through pypdf, so the file stays a well-formed PDF), while
WeasyPrint's plain PDF of the same HTML fails on the PDF/A declarations."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import weasyprint
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from audits.evidence import pdfa
from tests.audits.evidence.test_pack_format import Built, built  # noqa: F401


def test_a_rendered_pack_keeps_every_checked_rule(built: Built) -> None:  # noqa: F811
    assert pdfa.pdfa3b_problems(built.pdf) == []


def test_weasyprints_plain_pdf_of_the_same_html_is_not_pdfa() -> None:
    html = "<html lang='en'><body><h1>Pack</h1><p>Text.</p></body></html>"
    plain = weasyprint.HTML(string=html).write_pdf()
    assert plain is not None
    assert pdfa.pdfa3b_problems(plain) == [
        "6.1.3: the trailer has no /ID",
        "6.6.2: the catalog has no XMP metadata stream",
        "6.2.2: 0 GTS_PDFA1 output intents, not one",
    ]


def _rewritten(pdf: bytes, change: Callable[[PdfWriter], None]) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _catalog(writer: PdfWriter) -> Any:
    return writer._root_object


def _fonts(writer: PdfWriter) -> list[Any]:
    found = []
    for page in writer.pages:
        resources: Any = page["/Resources"]
        for reference in resources.get("/Font", {}).values():
            found.append(reference.get_object())
    return found


def _unembed_first_font(writer: PdfWriter) -> None:
    font = _fonts(writer)[0]
    descendant = font["/DescendantFonts"][0].get_object()
    descriptor = descendant["/FontDescriptor"].get_object()
    for key in ("/FontFile", "/FontFile2", "/FontFile3"):
        if key in descriptor:
            del descriptor[key]


def _first_attachment(writer: PdfWriter) -> Any:
    names = _catalog(writer)["/Names"]["/EmbeddedFiles"]["/Names"]
    return names[1].get_object()


def _drop_relationship(writer: PdfWriter) -> None:
    del _first_attachment(writer)["/AFRelationship"]


def _drop_from_af(writer: PdfWriter) -> None:
    catalog = _catalog(writer)
    first = catalog["/Names"]["/EmbeddedFiles"]["/Names"][1].idnum
    kept = [spec for spec in catalog["/AF"] if spec.idnum != first]
    catalog[NameObject("/AF")] = ArrayObject(kept)


def _second_output_intent(writer: PdfWriter) -> None:
    catalog = _catalog(writer)
    intents = catalog["/OutputIntents"]
    catalog[NameObject("/OutputIntents")] = ArrayObject([intents[0], intents[0]])


def _retitle(writer: PdfWriter) -> None:
    writer.add_metadata({"/Title": "Another title"})


def _hide_an_annotation(writer: PdfWriter) -> None:
    for page in writer.pages:
        for reference in page.get("/Annots", []):
            reference.get_object()[NameObject("/F")] = NumberObject(2)
            return
    raise AssertionError("the pack has no annotation (link) to hide")


def _javascript(writer: PdfWriter) -> None:
    script = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert('x');"),
        }
    )
    tree = DictionaryObject(
        {
            NameObject("/Names"): ArrayObject(
                [TextStringObject("x"), writer._add_object(script)]
            )
        }
    )
    _catalog(writer)["/Names"][NameObject("/JavaScript")] = tree


def _transfer_function(writer: PdfWriter) -> None:
    state = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/ExtGState"),
            NameObject("/TR"): NameObject("/Identity"),
        }
    )
    writer._add_object(state)


def _launch_action(writer: PdfWriter) -> None:
    action = DictionaryObject(
        {
            NameObject("/S"): NameObject("/Launch"),
            NameObject("/F"): TextStringObject("calc.exe"),
        }
    )
    _catalog(writer)[NameObject("/OpenAction")] = writer._add_object(action)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_unembed_first_font, "is not embedded"),
        (_drop_relationship, "has no /AFRelationship"),
        (_drop_from_af, "is not in the catalog's /AF"),
        (_second_output_intent, "2 GTS_PDFA1 output intents, not one"),
        (_retitle, "document information /Title 'Another title' differs from XMP"),
        (_hide_an_annotation, "is not printed, or hidden (flags 2)"),
        (_javascript, "JavaScript"),
        (_transfer_function, "has a transfer function"),
        (_launch_action, "forbidden"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:] or None,
)
def test_each_rule_catches_a_pack_changed_to_break_it(
    built: Built,  # noqa: F811
    change: Callable[[PdfWriter], None],
    expected: str,
) -> None:
    # given the genuine pack rewritten through pypdf, which keeps the rules
    unchanged = _rewritten(built.pdf, lambda writer: None)
    assert pdfa.pdfa3b_problems(unchanged) == []
    # when one change is made, then exactly that rule reports it
    problems = pdfa.pdfa3b_problems(_rewritten(built.pdf, change))
    assert problems, "the change was not detected"
    assert all(expected in problem for problem in problems), problems
