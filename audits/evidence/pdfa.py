"""A structural check of the PDF/A-3b rules an evidence pack could break.

No PDF/A validator (veraPDF is Java, from Maven Central) can be installed from
the registries this project builds from, so this module checks, with pypdf, the
rules of ISO 19005-3 level B that the packs' content could violate; it is not a
full validator, and ``docs/user-guide/evidence-packs.md`` says so. It checks:

- the file: a ``%PDF-1.n`` header with a binary comment line, an ``/ID`` in the
  trailer, no encryption (6.1.2, 6.1.3);
- the metadata: XMP declaring ``pdfaid:part`` 3 and ``pdfaid:conformance`` B,
  and each document-information entry equal to its XMP property (6.6.2, 6.6.4);
- colour: one ``GTS_PDFA1`` output intent with an RGB ICC profile, and no CMYK
  colour space it would not cover (6.2.2, 6.2.4.3);
- fonts: every font but Type 3 embedded, a CIDFontType2 with its CIDToGIDMap
  (6.2.11.4, 6.2.11.3.2);
- streams and graphics states: no LZW, no external streams, no transfer
  functions, only standard blend modes, no image alternates, OPI or
  interpolation (6.1.7, 6.2.5, 6.2.8);
- interactivity: no JavaScript, no forbidden action, no additional actions, and
  every annotation printed and not hidden (6.4, 6.5, 6.6.1);
- attachments: each embedded file with ``/F``, ``/UF``, a relationship and a MIME
  type, and associated with the document through ``/AF`` (6.8).

:func:`pdfa3b_problems` returns one line per violation; an empty list passes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
)

BLEND_MODES = {
    "/Normal",
    "/Compatible",
    "/Multiply",
    "/Screen",
    "/Overlay",
    "/Darken",
    "/Lighten",
    "/ColorDodge",
    "/ColorBurn",
    "/HardLight",
    "/SoftLight",
    "/Difference",
    "/Exclusion",
    "/Hue",
    "/Saturation",
    "/Color",
    "/Luminosity",
}
FORBIDDEN_ACTIONS = {
    "/Launch",
    "/Sound",
    "/Movie",
    "/ResetForm",
    "/ImportData",
    "/Hide",
    "/SetOCGState",
    "/Rendition",
    "/Trans",
    "/GoTo3DView",
    "/JavaScript",
}
# Annotation flags (ISO 32000-1 Table 165).
INVISIBLE, HIDDEN, PRINT, NO_VIEW = 1, 2, 4, 32
# Document information entries and the XMP property each must equal (6.6.2.3.2).
INFO_TO_XMP = {
    "/Title": "dc:title",
    "/Author": "dc:creator",
    "/Subject": "dc:description",
    "/Keywords": "pdf:Keywords",
    "/Creator": "xmp:CreatorTool",
    "/Producer": "pdf:Producer",
    "/CreationDate": "xmp:CreateDate",
    "/ModDate": "xmp:ModifyDate",
}


def _objects(reader: PdfReader) -> Iterator[tuple[int, Any]]:
    """Every object of the file, with its number, once."""
    seen: set[int] = set()
    for generation, entries in reader.xref.items():
        for number in entries:
            if number not in seen:
                seen.add(number)
                yield (
                    number,
                    reader.get_object(IndirectObject(number, generation, reader)),
                )
    for number in reader.xref_objStm:
        if number not in seen:
            seen.add(number)
            yield number, reader.get_object(IndirectObject(number, 0, reader))


def _xmp_value(xmp: str, prop: str) -> str | None:
    """A simple XMP property's value, as an attribute or an element (the first
    ``rdf:li`` of an Alt, Seq or Bag)."""
    attribute = re.search(rf'{re.escape(prop)}="([^"]*)"', xmp)
    if attribute:
        return attribute.group(1)
    element = re.search(
        rf"<{re.escape(prop)}>(.*?)</{re.escape(prop)}>", xmp, flags=re.S
    )
    if element is None:
        return None
    inner = element.group(1)
    item = re.search(r"<rdf:li[^>]*>(.*?)</rdf:li>", inner, flags=re.S)
    text = item.group(1) if item else inner
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&amp;", "&")
        .strip()
    )


def _pdf_date(value: str) -> datetime | None:
    found = re.fullmatch(
        r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(Z|[+-]\d{2}'?\d{2}'?)?",
        value,
    )
    if found is None:
        return None
    defaults = (0, 1, 1, 0, 0, 0)
    parts = [
        int(p) if p else d for p, d in zip(found.groups()[:6], defaults, strict=True)
    ]
    year, month, day, hour, minute, second = parts
    zone = found.group(7) or "Z"
    if zone == "Z":
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    digits = zone.replace("'", "")
    sign = 1 if digits[0] == "+" else -1
    offset = sign * (int(digits[1:3]) * 60 + int(digits[3:5]))
    zone_info = timezone(timedelta(minutes=offset))
    return datetime(year, month, day, hour, minute, second, tzinfo=zone_info)


def _xmp_date(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _file_problems(pdf: bytes, reader: PdfReader) -> list[str]:
    problems = []
    lines = pdf.split(b"\n", 2)
    if not re.fullmatch(rb"%PDF-1\.[0-7]\r?", lines[0]):
        problems.append("6.1.2: the file does not start with a %PDF-1.n header")
    comment = lines[1] if len(lines) > 1 else b""
    if not (comment.startswith(b"%") and sum(1 for b in comment[1:5] if b > 127) == 4):
        problems.append("6.1.2: no binary comment line after the header")
    if "/ID" not in reader.trailer:
        problems.append("6.1.3: the trailer has no /ID")
    if "/Encrypt" in reader.trailer:
        problems.append("6.1.3: the file is encrypted")
    return problems


def _metadata_problems(reader: PdfReader) -> list[str]:
    catalog: Any = reader.trailer["/Root"]
    if "/Metadata" not in catalog:
        return ["6.6.2: the catalog has no XMP metadata stream"]
    xmp = catalog["/Metadata"].get_object().get_data().decode("utf-8", "replace")
    problems = []
    if _xmp_value(xmp, "pdfaid:part") != "3":
        problems.append("6.6.4: XMP does not declare pdfaid:part 3")
    if _xmp_value(xmp, "pdfaid:conformance") != "B":
        problems.append("6.6.4: XMP does not declare pdfaid:conformance B")
    found: Any = reader.trailer.get("/Info")
    info: Any = found.get_object() if found is not None else {}
    for key, prop in INFO_TO_XMP.items():
        if key not in info:
            continue
        value, in_xmp = str(info[key]), _xmp_value(xmp, prop)
        if key.endswith("Date"):
            same = in_xmp is not None and _pdf_date(value) == _xmp_date(in_xmp)
        else:
            same = in_xmp == value
        if not same:
            problems.append(
                f"6.6.2.3: document information {key} {value!r} differs from XMP "
                f"{prop} {in_xmp!r}"
            )
    return problems


def _output_intent_problems(reader: PdfReader) -> list[str]:
    root: Any = reader.trailer["/Root"]
    intents = [
        intent.get_object()
        for intent in root.get("/OutputIntents", [])
        if intent.get_object().get("/S") == "/GTS_PDFA1"
    ]
    if len(intents) != 1:
        return [f"6.2.2: {len(intents)} GTS_PDFA1 output intents, not one"]
    profile = intents[0].get("/DestOutputProfile")
    if profile is None:
        return ["6.2.2: the output intent has no destination ICC profile"]
    if profile.get_object().get("/N") != 3:
        return ["6.2.2: the output intent's ICC profile is not RGB (/N 3)"]
    return []


def _font_problems(number: int, font: Any) -> list[str]:
    subtype = font.get("/Subtype")
    if subtype == "/Type3":
        return []
    name = font.get("/BaseFont", f"object {number}")
    if subtype == "/Type0":
        descendants = font.get("/DescendantFonts")
        if not descendants:
            return [f"6.2.11.4: Type0 font {name} has no descendant font"]
        font = descendants[0].get_object()
        if font.get("/Subtype") == "/CIDFontType2" and "/CIDToGIDMap" not in font:
            return [f"6.2.11.3.2: CIDFontType2 {name} has no CIDToGIDMap"]
    descriptor = font.get("/FontDescriptor")
    descriptor = descriptor.get_object() if descriptor is not None else {}
    if not any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
        return [f"6.2.11.4: font {name} is not embedded"]
    return []


def _stream_problems(number: int, stream: Any) -> list[str]:
    problems = []
    filters = stream.get("/Filter")
    names = (
        [str(f) for f in filters]
        if isinstance(filters, ArrayObject)
        else [str(filters)]
        if filters
        else []
    )
    if "/LZWDecode" in names:
        problems.append(f"6.1.7: object {number} uses LZW compression")
    if any(key in stream for key in ("/F", "/FFilter", "/FDecodeParms")) and (
        stream.get("/Type") != "/EmbeddedFile"
    ):
        problems.append(f"6.1.7: object {number} is an external stream")
    if stream.get("/Subtype") == "/Image":
        if stream.get("/Interpolate") is True:
            problems.append(f"6.2.8: image {number} asks for interpolation")
        if "/Alternates" in stream or "/OPI" in stream:
            problems.append(f"6.2.8: image {number} has alternates or OPI")
        if stream.get("/ColorSpace") == "/DeviceCMYK":
            problems.append(f"6.2.4.3: image {number} is DeviceCMYK")
    return problems


def _graphics_state_problems(number: int, state: Any) -> list[str]:
    problems = []
    if "/TR" in state:
        problems.append(f"6.2.5: graphics state {number} has a transfer function")
    if "/TR2" in state and state["/TR2"] != "/Default":
        problems.append(f"6.2.5: graphics state {number} has a /TR2 function")
    modes = state.get("/BM")
    for mode in modes if isinstance(modes, ArrayObject) else [modes] if modes else []:
        if str(mode) not in BLEND_MODES:
            problems.append(f"6.2.5: graphics state {number} blend mode {mode}")
    return problems


def _annotation_problems(number: int, annotation: Any) -> list[str]:
    problems = []
    flags = int(annotation.get("/F", 0))
    if not flags & PRINT or flags & (INVISIBLE | HIDDEN | NO_VIEW):
        problems.append(
            f"6.3.2: annotation {number} is not printed, or hidden (flags {flags})"
        )
    if "/AA" in annotation:
        problems.append(f"6.6.1: annotation {number} has additional actions")
    return problems


def _attachment_problems(reader: PdfReader) -> list[str]:
    catalog: Any = reader.trailer["/Root"]
    names = catalog.get("/Names", {}).get("/EmbeddedFiles", {}).get("/Names", [])
    associated = {
        spec.idnum
        for spec in catalog.get("/AF", [])
        if isinstance(spec, IndirectObject)
    }
    problems = []
    for key, reference in zip(names[::2], names[1::2], strict=False):
        spec: Any = reference.get_object()
        for entry in ("/F", "/UF", "/AFRelationship"):
            if entry not in spec:
                problems.append(f"6.8: attachment {key} has no {entry}")
        stream = spec.get("/EF", {}).get("/F")
        if stream is None or "/Subtype" not in stream.get_object():
            problems.append(f"6.8: attachment {key} has no MIME type (/Subtype)")
        if not isinstance(reference, IndirectObject) or (
            reference.idnum not in associated
        ):
            problems.append(f"6.8: attachment {key} is not in the catalog's /AF")
    return problems


def pdfa3b_problems(pdf: bytes) -> list[str]:
    """The PDF/A-3b rules (of those listed in the module docstring) that ``pdf``
    breaks, one line each; an empty list when it keeps all of them."""
    reader = PdfReader(io.BytesIO(pdf))
    problems = _file_problems(pdf, reader)
    problems += _metadata_problems(reader)
    problems += _output_intent_problems(reader)
    catalog: Any = reader.trailer["/Root"]
    if "/JavaScript" in catalog.get("/Names", {}):
        problems.append("6.6.1: the document has JavaScript")
    if (
        "/AA" in catalog
        or "/OpenAction" in catalog
        and (catalog["/OpenAction"].get_object().get("/S") in FORBIDDEN_ACTIONS)
    ):
        problems.append("6.6.1: the catalog has a forbidden or additional action")
    for number, found in _objects(reader):
        if isinstance(found, StreamObject):
            problems += _stream_problems(number, found)
        if not isinstance(found, DictionaryObject):
            continue
        kind = found.get("/Type")
        if kind == "/Font":
            problems += _font_problems(number, found)
        elif kind == "/ExtGState" or "/BM" in found or "/TR" in found:
            problems += _graphics_state_problems(number, found)
        elif kind == "/Annot" or (
            "/Subtype" in found and "/Rect" in found and kind != "/XObject"
        ):
            problems += _annotation_problems(number, found)
        elif kind == "/Page" and "/AA" in found:
            problems.append(f"6.6.1: page {number} has additional actions")
        action = found.get("/S")
        if isinstance(action, NameObject) and action in FORBIDDEN_ACTIONS:
            problems.append(f"6.6.1: object {number} is a forbidden action {action}")
        colour_space = found.get("/ColorSpace")
        if isinstance(colour_space, DictionaryObject) and any(
            value == "/DeviceCMYK" for value in colour_space.values()
        ):
            problems.append(f"6.2.4.3: object {number} names DeviceCMYK")
    problems += _attachment_problems(reader)
    return problems
