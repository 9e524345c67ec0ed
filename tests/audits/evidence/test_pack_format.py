from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.template import Context, Template
from django.utils.safestring import mark_safe
from pypdf import PdfReader, PdfWriter
from pypdf.generic import IndirectObject

from audits.evidence import manifest as pack_manifest
from audits.evidence import render, signing, verify
from audits.monitoring import charts

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
CREATED = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)
TITLE = "Model-version evidence pack"
PACK = {
    "kind": "model-version",
    "model": "credit-risk",
    "version": "1.4.0",
    "period": "2025-01-01/2025-03-31",
    "built_from": "ledger checkpoint 812",
}
ROWS = [
    {"feature": f"feature_{i:02d}", "psi": round(0.003 * i, 4), "missing": i % 7}
    for i in range(80)
]
CSV_NAME = "drift/features.csv"
PACK_TEMPLATE = """{% extends "audits/evidence/base_pack.html" %}
{% block sections %}
<section class="chapter" id="drift">
  <h1>Drift by feature</h1>
  <table>
    <thead><tr><th>Feature</th><th class="number">PSI</th><th class="number">Missing</th></tr></thead>
    <tbody>{% for row in rows %}<tr><td>{{ row.feature }}</td><td class="number">{{ row.psi }}</td><td class="number">{{ row.missing }}</td></tr>{% endfor %}</tbody>
  </table>
</section>
<section class="chapter" id="chart">
  <h1>PSI chart</h1>
  <figure>{{ chart }}<figcaption>PSI of the twelve first features</figcaption></figure>
</section>
{% endblock %}"""
# Rebuilds the pack in a fresh interpreter with another hash seed.
REBUILD = """
import hashlib, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django
django.setup()
from tests.audits.evidence.test_pack_format import build_pack
built = build_pack()
print(json.dumps({name: hashlib.sha256(getattr(built, name)).hexdigest()
                  for name in ("pdf", "archive", "signature")}))
"""


@dataclass(frozen=True)
class Built:
    sources: list[pack_manifest.Source]
    manifest: dict[str, Any]
    pdf: bytes
    archive: bytes
    signature: bytes


def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pack_sources() -> list[pack_manifest.Source]:
    csv = "feature,psi,missing\n" + "".join(
        f"{row['feature']},{row['psi']},{row['missing']}\n" for row in ROWS
    )
    return [
        pack_manifest.Source(
            "model_version.json",
            "application/json",
            orjson.dumps(
                {"model": "credit-risk", "version": "1.4.0", "status": "approved"},
                option=orjson.OPT_SORT_KEYS,
            ),
        ),
        pack_manifest.Source(
            "drift/psi.json",
            "application/json",
            orjson.dumps(
                {"psi": {row["feature"]: row["psi"] for row in ROWS}},
                option=orjson.OPT_SORT_KEYS,
            ),
        ),
        pack_manifest.Source(CSV_NAME, "text/csv", csv.encode()),
    ]


def build_pack() -> Built:
    sources = pack_sources()
    manifest = pack_manifest.manifest_of(sources, pack=PACK)
    context = render.pack_context(
        manifest=manifest,
        title=TITLE,
        created=CREATED,
        toc=[("drift", "Drift by feature"), ("chart", "PSI chart")],
    )
    chart = charts.psi_chart(
        {row["feature"]: row["psi"] for row in ROWS[:12]}, title="PSI by feature"
    )
    html = Template(PACK_TEMPLATE).render(
        Context({**context, "rows": ROWS, "chart": mark_safe(chart)})
    )
    pdf = render.render_pack_pdf(
        html=html, sources=sources, manifest=manifest, created=CREATED
    )
    return Built(
        sources=sources,
        manifest=manifest,
        pdf=pdf,
        archive=pack_manifest.sources_zip(sources, manifest),
        signature=signing.sign_pack(pdf, signing_key()),
    )


@pytest.fixture(scope="module")
def built() -> Built:
    return build_pack()


@pytest.fixture
def pack_files(tmp_path: Path, built: Built) -> dict[str, Path]:
    files = {
        "pdf": tmp_path / "pack.pdf",
        "signature": tmp_path / "pack.pdf.sig",
        "key": tmp_path / "key.pem",
    }
    files["pdf"].write_bytes(built.pdf)
    files["signature"].write_bytes(built.signature)
    files["key"].write_bytes(public_pem(signing_key()))
    return files


def offline_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "MODELGOV_"))
    }
    return {
        **env,
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }


def page_texts(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "read.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return text.split("\f")[:-1]


def first_line(page: str) -> str:
    return next(line for line in page.splitlines() if line.strip())


def embedded_stream_number(pdf: bytes, name: str) -> int:
    catalog = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    names = catalog["/Names"]["/EmbeddedFiles"]["/Names"]
    for key, reference in zip(names[::2], names[1::2], strict=True):
        if key == name:
            stream = reference.get_object()["/EF"].raw_get("/F")
            assert isinstance(stream, IndirectObject)
            return stream.idnum
    raise AssertionError(f"{name} is not attached")


def flip_one_byte_of_attachment(pdf: bytes, name: str) -> bytes:
    number = embedded_stream_number(pdf, name)
    start = pdf.index(b"\n%d 0 obj" % number)
    data_start = pdf.index(b"stream\n", start) + len(b"stream\n")
    data_end = pdf.index(b"\nendstream", data_start)
    middle = (data_start + data_end) // 2
    return pdf[:middle] + bytes([pdf[middle] ^ 0x01]) + pdf[middle + 1 :]


# --- Manifest and ZIP ---------------------------------------------------------------


def test_manifest_lists_sources_by_name_with_size_and_sha256() -> None:
    # given
    sources = [
        pack_manifest.Source("b.csv", "text/csv", b"a,b\n1,2\n"),
        pack_manifest.Source("a.json", "application/json", b"{}"),
    ]
    # when
    manifest = pack_manifest.manifest_of(sources, pack={"model": "m", "version": "1"})
    # then
    assert manifest == {
        "format": "modelgov-evidence-pack/1",
        "pack": {"model": "m", "version": "1"},
        "sources": [
            {
                "name": "a.json",
                "media_type": "application/json",
                "bytes": 2,
                "sha256": hashlib.sha256(b"{}").hexdigest(),
            },
            {
                "name": "b.csv",
                "media_type": "text/csv",
                "bytes": 8,
                "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest(),
            },
        ],
    }
    assert pack_manifest.manifest_bytes(manifest) == json.dumps(
        manifest, sort_keys=True, separators=(",", ":")
    ).encode("utf-8")


@pytest.mark.parametrize(
    "name",
    ["", "manifest.json", "/etc/passwd", "../up.json", "a//b.json", ".hidden", "é.csv"],
)
def test_manifest_refuses_a_source_name_unsafe_as_a_file_name(name: str) -> None:
    with pytest.raises(ValueError):
        pack_manifest.manifest_of(
            [pack_manifest.Source(name, "text/csv", b"x")], pack={}
        )


def test_manifest_refuses_two_sources_with_one_name() -> None:
    source = pack_manifest.Source("a.csv", "text/csv", b"x")
    with pytest.raises(ValueError, match="two sources are named 'a.csv'"):
        pack_manifest.manifest_of([source, source], pack={})


def test_check_reports_missing_extra_and_altered_sources() -> None:
    # given a manifest of a.json and b.csv
    a = pack_manifest.Source("a.json", "application/json", b"{}")
    b = pack_manifest.Source("b.csv", "text/csv", b"x\n")
    manifest = pack_manifest.manifest_of([a, b], pack={})
    # when a.json is altered, b.csv missing and c.csv extra
    problems = pack_manifest.check(
        manifest,
        [
            pack_manifest.Source("a.json", "application/json", b"[]"),
            pack_manifest.Source("c.csv", "text/csv", b""),
        ],
    )
    # then
    assert problems == [
        f"source 'a.json': SHA-256 {hashlib.sha256(b'[]').hexdigest()} (2 bytes), "
        f"the manifest says {a.sha256} (2 bytes)",
        "source 'b.csv' is in the manifest but missing",
        "source 'c.csv' is not in the manifest",
    ]
    assert pack_manifest.check(manifest, [b, a]) == []


def test_sources_zip_holds_manifest_then_sources_with_fixed_metadata(
    built: Built,
) -> None:
    with zipfile.ZipFile(io.BytesIO(built.archive)) as archive:
        infos = archive.infolist()
        assert [info.filename for info in infos] == [
            "manifest.json",
            "drift/features.csv",
            "drift/psi.json",
            "model_version.json",
        ]
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
            assert info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.read("manifest.json") == pack_manifest.manifest_bytes(
            built.manifest
        )
        for source in built.sources:
            assert archive.read(source.name) == source.content


# --- The PDF -------------------------------------------------------------------------


def test_pack_reads_back_with_header_page_numbers_contents_and_digests(
    built: Built, tmp_path: Path
) -> None:
    pages = page_texts(built.pdf, tmp_path)
    assert len(pages) == 5
    cover, table_start, table_end, chart, appendix = pages
    # the cover: title and subject, no running header, the contents with pages
    assert first_line(cover).strip() == TITLE
    assert "credit-risk 1.4.0" in cover
    assert "2025-04-01 09:30:00 UTC from ledger checkpoint 812" in cover
    assert re.search(r"Drift by feature \.{5,} 2\n", cover)
    assert re.search(r"PSI chart \.{5,} 4\n", cover)
    assert re.search(r"Appendix: manifest of sources \.{5,} 5\n", cover)
    assert "Page 1 of 5" in cover
    # every later page: the running header names the model, version and pack
    for number, page in enumerate(pages[1:], start=2):
        assert re.fullmatch(r"credit-risk 1\.4\.0 +" + TITLE, first_line(page))
        assert f"Page {number} of 5" in page
    # the 80-row table crosses a page and repeats its header there
    assert "feature_00" in table_start and "feature_79" in table_end
    assert re.search(r"Feature +PSI +Missing", table_end)
    # the chart is vector text
    assert "PSI by feature" in chart and "breach (0.25)" in chart
    # the appendix lists every digest, the manifest's own last
    manifest_digest = pack_manifest.manifest_sha256(built.manifest)
    for source in built.sources:
        assert re.search(rf"{re.escape(source.name)} .* {source.sha256}", appendix)
    assert re.search(rf"manifest\.json .* {manifest_digest}", appendix)
    assert f"Manifest SHA-256 {manifest_digest}" in table_start


def test_pack_is_pdfa3b_with_manifest_and_sources_attached(built: Built) -> None:
    reader = PdfReader(io.BytesIO(built.pdf))
    catalog = reader.trailer["/Root"]
    xmp = catalog["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="B"' in xmp
    assert catalog["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    assert built.pdf.startswith(b"%PDF-1.7\n")
    # attachments: the canonical manifest and every source, byte for byte
    attachments = {name: files[0] for name, files in reader.attachments.items()}
    assert attachments.pop("manifest.json") == pack_manifest.manifest_bytes(
        built.manifest
    )
    assert {
        name: hashlib.sha256(content).hexdigest()
        for name, content in attachments.items()
    } == {entry["name"]: entry["sha256"] for entry in built.manifest["sources"]}
    # associated files, as PDF/A-3 requires, with their relationship and media type
    relationships = {
        spec.get_object()["/UF"]: (
            spec.get_object()["/AFRelationship"],
            spec.get_object()["/EF"]["/F"].get_object()["/Subtype"],
        )
        for spec in catalog["/AF"]
    }
    assert relationships == {
        "manifest.json": ("/Supplement", "/application/json"),
        "drift/features.csv": ("/Data", "/text/csv"),
        "drift/psi.json": ("/Data", "/application/json"),
        "model_version.json": ("/Data", "/application/json"),
    }
    # the dates and the identifier are pinned by the inputs
    assert reader.metadata is not None
    assert reader.metadata["/CreationDate"] == "D:20250401093000Z"
    assert reader.metadata["/ModDate"] == "D:20250401093000Z"
    first_id = reader.trailer["/ID"][0]
    expected_id = pack_manifest.manifest_sha256(built.manifest)[:32]
    assert bytes(first_id.original_bytes).decode() == expected_id


def test_same_inputs_give_the_same_bytes_within_the_process(built: Built) -> None:
    again = build_pack()
    assert again.pdf == built.pdf
    assert again.archive == built.archive
    assert again.signature == built.signature


def test_same_inputs_give_the_same_bytes_in_another_process(built: Built) -> None:
    result = subprocess.run(
        [sys.executable, "-c", REBUILD],
        cwd=ROOT,
        env={**offline_env(), "PYTHONHASHSEED": "4242"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {
        "pdf": hashlib.sha256(built.pdf).hexdigest(),
        "archive": hashlib.sha256(built.archive).hexdigest(),
        "signature": hashlib.sha256(built.signature).hexdigest(),
    }


def test_render_refuses_a_manifest_of_other_sources_and_a_naive_time() -> None:
    sources = pack_sources()
    manifest = pack_manifest.manifest_of(sources[:2], pack=PACK)
    with pytest.raises(ValueError, match="is not in the manifest"):
        render.render_pack_pdf(
            html="<p>x</p>", sources=sources, manifest=manifest, created=CREATED
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        render.render_pack_pdf(
            html="<p>x</p>",
            sources=sources[:2],
            manifest=manifest,
            created=datetime(2025, 4, 1, 9, 30),
        )


def test_render_fetches_nothing_from_the_network() -> None:
    sources = pack_sources()[:1]
    manifest = pack_manifest.manifest_of(sources, pack=PACK)
    with pytest.raises(RuntimeError, match="cannot be loaded"):
        render.render_pack_pdf(
            html='<img src="https://example.com/logo.png">',
            sources=sources,
            manifest=manifest,
            created=CREATED,
        )


# --- Signature and verification -----------------------------------------------------


def test_signature_is_detached_json_over_the_pdf_digest(built: Built) -> None:
    document = json.loads(built.signature)
    key = signing_key()
    digest = hashlib.sha256(built.pdf).digest()
    assert document["format"] == "modelgov-evidence-pack-signature/1"
    assert document["sha256"] == digest.hex()
    assert (
        document["key_id"]
        == hashlib.sha256(
            key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        ).hexdigest()
    )
    key.public_key().verify(
        base64.b64decode(document["signature"]),
        b"modelgov-evidence-pack/1\n" + digest,
    )
    assert signing.verify_signature(built.pdf, built.signature, key.public_key()) == []


def test_signature_by_another_key_is_refused(built: Built) -> None:
    other = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    problems = signing.verify_signature(built.pdf, built.signature, other)
    assert problems == [
        f"the signature names key {verify.key_id(signing_key().public_key())}, "
        f"not the given key {verify.key_id(other)}",
        "the signature is not valid for this PDF and key",
    ]


def test_verify_pack_accepts_the_genuine_pack(built: Built) -> None:
    problems = verify.verify_pack(built.pdf, built.signature, public_pem(signing_key()))
    assert problems == []


def test_one_flipped_byte_inside_an_attached_source_fails_verification(
    built: Built,
) -> None:
    # given the pack with one bit changed inside the CSV's embedded stream
    tampered = flip_one_byte_of_attachment(built.pdf, CSV_NAME)
    assert len(tampered) == len(built.pdf) and tampered != built.pdf
    # when
    problems = verify.verify_pack(tampered, built.signature, public_pem(signing_key()))
    # then the signature fails, and the CSV no longer matches the manifest
    assert problems[:2] == [
        f"the PDF's SHA-256 is {hashlib.sha256(tampered).hexdigest()}, "
        f"the signature was made for {hashlib.sha256(built.pdf).hexdigest()}",
        "the signature is not valid for this PDF and key",
    ]
    assert any(CSV_NAME in problem for problem in problems[2:]), problems


def test_resigned_pack_with_an_altered_attachment_fails_on_its_digest(
    built: Built,
) -> None:
    # given the CSV altered by one byte inside the PDF, and the result re-signed
    writer = PdfWriter(clone_from=io.BytesIO(built.pdf))
    csv = next(f for f in writer.attachment_list if f.name == CSV_NAME)
    altered = csv.content.replace(b"feature_42,0.126", b"feature_42,0.127")
    assert len(altered) == len(csv.content) and altered != csv.content
    csv.content = altered
    buffer = io.BytesIO()
    writer.write(buffer)
    forged = buffer.getvalue()
    signature = signing.sign_pack(forged, signing_key())
    # when
    problems = verify.verify_pack(forged, signature, public_pem(signing_key()))
    # then the signature holds, yet the manifest digest catches the change
    expected = next(s for s in built.sources if s.name == CSV_NAME).sha256
    assert problems == [
        f"source {CSV_NAME!r}: SHA-256 {hashlib.sha256(altered).hexdigest()} "
        f"({len(altered)} bytes), the manifest says {expected} ({len(altered)} bytes)"
    ]


def test_modelgov_verify_pack_exits_0_valid_1_tampered_2_usage(
    pack_files: dict[str, Path], built: Built
) -> None:
    command = [str(BIN / "modelgov"), "verify-pack", str(pack_files["pdf"])]
    key = ["--public-key", str(pack_files["key"])]
    # genuine, with the default signature path PACK.sig
    ok = subprocess.run(
        [*command, *key], env=offline_env(), capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(
        "OK: evidence pack model-version credit-risk 1.4.0: signature valid, "
        "3 sources match the manifest\n"
    )
    assert f"  pdf sha256       {hashlib.sha256(built.pdf).hexdigest()}" in ok.stdout
    # tampered
    tampered = pack_files["pdf"].with_name("tampered.pdf")
    tampered.write_bytes(flip_one_byte_of_attachment(built.pdf, CSV_NAME))
    bad = subprocess.run(
        [
            *command[:2],
            str(tampered),
            *key,
            "--signature",
            str(pack_files["signature"]),
        ],
        env=offline_env(),
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stdout.startswith("INVALID: the PDF's SHA-256 is ")
    # no key file
    usage = subprocess.run(
        [*command, "--public-key", str(pack_files["key"]) + ".missing"],
        env=offline_env(),
        capture_output=True,
        text=True,
    )
    assert usage.returncode == 2
    assert "No such file" in usage.stderr


def test_verifier_runs_isolated_without_django_and_as_a_copied_file(
    pack_files: dict[str, Path], tmp_path: Path
) -> None:
    arguments = [str(pack_files["pdf"]), "--public-key", str(pack_files["key"])]
    # as a module, isolated (-I: no environment variables, no user site)
    as_module = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", "-m", "audits.evidence.verify"]
        + arguments,
        cwd=tmp_path,
        env=offline_env(),
        capture_output=True,
        text=True,
    )
    assert as_module.returncode == 0, as_module.stdout + as_module.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in as_module.stderr.splitlines()
    }
    assert "pypdf" in imported and "cryptography" in imported
    assert not {name for name in imported if name.split(".")[0] == "django"}
    assert as_module.stdout.startswith("OK: evidence pack")
    # copied alone onto an auditor's machine
    copy = tmp_path / "verify_pack.py"
    shutil.copyfile(ROOT / "audits" / "evidence" / "verify.py", copy)
    as_file = subprocess.run(
        [sys.executable, "-I", str(copy), *arguments],
        cwd=tmp_path,
        env=offline_env(),
        capture_output=True,
        text=True,
    )
    assert as_file.returncode == 0, as_file.stdout + as_file.stderr
    assert as_file.stdout == as_module.stdout
