"""Parsers: every supported format from real files, and corrupt files refused with ParseError."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from bridgehead.connectors.documents.parsers import SUPPORTED_SUFFIXES, ParseError, parse_document
from tests.connectors.document_files import docx_bytes, encrypted_pdf_bytes, pdf_bytes

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# -- Markdown -------------------------------------------------------------------------------


def test_markdown_front_matter_gives_title_and_metadata_and_is_not_indexed_as_text() -> None:
    data = (
        b"---\n"
        b'title: "Travel and expenses"\n'
        b"owner: People Ops\n"
        b"review: 2025-03-01\n"
        b"---\n"
        b"# A heading that is not the title\n\n"
        b"Book economy class for flights under six hours.\n"
    )
    parsed = parse_document(Path("travel.md"), data)
    assert parsed.title == "Travel and expenses"
    assert parsed.content_type == "text/markdown"
    assert parsed.metadata == {"owner": "People Ops", "review": "2025-03-01"}
    assert parsed.text.startswith("# A heading that is not the title")
    assert "economy class" in parsed.text
    assert "owner" not in parsed.text and "People Ops" not in parsed.text


def test_markdown_front_matter_with_crlf_line_endings() -> None:
    data = b"---\r\ntitle: Remote work\r\n---\r\nWork from anywhere in the EU.\r\n"
    parsed = parse_document(Path("remote.md"), data)
    assert parsed.title == "Remote work"
    assert parsed.text == "Work from anywhere in the EU."


def test_markdown_empty_front_matter_is_removed() -> None:
    parsed = parse_document(Path("notes.md"), b"---\n---\n# Release checklist\nTag the build.\n")
    assert parsed.title == "Release checklist"
    assert "---" not in parsed.text


def test_markdown_without_front_matter_takes_the_first_h1() -> None:
    data = b"Intro line.\n\n## Not this one\n\n# Parental leave  #\n\nSixteen weeks, fully paid.\n"
    parsed = parse_document(Path("leave.markdown"), data)
    assert parsed.title == "Parental leave"
    assert parsed.metadata == {}
    assert "Sixteen weeks" in parsed.text


def test_markdown_without_any_title_falls_back_to_the_file_name() -> None:
    parsed = parse_document(Path("docs/on-call_runbook.md"), b"Page the secondary after 15 minutes.\n")
    assert parsed.title == "On call runbook"


def test_empty_file_has_a_title_and_no_text() -> None:
    parsed = parse_document(Path("empty-page.md"), b"")
    assert (parsed.title, parsed.text) == ("Empty page", "")


# -- plain text -----------------------------------------------------------------------------


def test_text_title_is_the_first_non_blank_line() -> None:
    parsed = parse_document(
        Path("holidays.txt"), b"\n\n  Holiday calendar 2025  \nNew Year's Day: 1 January\n"
    )
    assert parsed.title == "Holiday calendar 2025"
    assert parsed.content_type == "text/plain"
    assert "New Year's Day" in parsed.text


def test_text_in_latin1_and_with_a_bom_is_decoded() -> None:
    assert parse_document(Path("a.txt"), "Café menu\n".encode("latin-1")).title == "Café menu"
    assert parse_document(Path("b.text"), "\ufeffNaïve title\nbody".encode()).title == "Naïve title"


def test_control_characters_are_removed() -> None:
    # PostgreSQL cannot store NUL in a text column; a stray NUL must not stop indexing.
    parsed = parse_document(Path("log.txt"), b"Export\x00 log\nline\x00 two\x07\tend\r\n")
    assert "\x00" not in parsed.text and "\x07" not in parsed.text
    assert parsed.title == "Export log"
    assert parsed.text == "Export log\nline two\tend"


# -- HTML -----------------------------------------------------------------------------------


PRIVACY_HTML = b"""<!doctype html>
<html><head>
<title>Privacy
   notice</title>
<meta name="description" content="How Northwind handles personal data">
<script>var trackingToken = "xyzzyplugh";</script>
<style>.banner { color: magenta }</style>
</head>
<body>
<h1>Privacy at Northwind</h1>
<p>We keep &amp; protect personal data for <b>seven</b> years.</p>
<script type="text/javascript">document.write("injectedword")</script>
<noscript>enablescriptsplease</noscript>
<template><p>templatetext</p></template>
<!-- commentedword -->
</body></html>
"""


def test_html_title_text_and_description() -> None:
    parsed = parse_document(Path("privacy.html"), PRIVACY_HTML)
    assert parsed.title == "Privacy notice"
    assert parsed.content_type == "text/html"
    assert parsed.metadata == {"description": "How Northwind handles personal data"}
    assert "Privacy at Northwind" in parsed.text
    assert "We keep & protect personal data for\nseven\nyears." in parsed.text


@pytest.mark.parametrize(
    "hidden",
    [
        "xyzzyplugh",
        "trackingToken",
        "magenta",
        "injectedword",
        "enablescriptsplease",
        "templatetext",
        "commentedword",
    ],
)
def test_html_scripts_styles_and_comments_are_not_indexed(hidden: str) -> None:
    assert hidden not in parse_document(Path("privacy.htm"), PRIVACY_HTML).text


def test_html_without_title_takes_the_h1() -> None:
    parsed = parse_document(
        Path("codes.html"), b"<p>intro</p><h1>Error <em>code</em> reference</h1><p>E-1042</p>"
    )
    assert parsed.title == "Error code reference"
    assert "E-1042" in parsed.text


# -- DOCX -----------------------------------------------------------------------------------


def test_docx_paragraphs_tables_title_and_author() -> None:
    data = docx_bytes(
        ["Every quote above 20% discount needs VP approval.", "Quotes expire after 30 days."],
        title="Discount policy",
        heading="Discounts and quotes",
        author="Sales Ops",
        table=[["Discount", "Approver"], ["up to 10%", "Account executive"], ["above 20%", "VP Sales"]],
    )
    parsed = parse_document(Path("discounts.docx"), data)
    assert parsed.title == "Discount policy"
    assert parsed.content_type == DOCX_TYPE
    assert parsed.metadata == {"author": "Sales Ops"}
    assert "Every quote above 20% discount needs VP approval." in parsed.text
    assert "above 20% | VP Sales" in parsed.text


def test_docx_without_core_title_takes_the_title_style_heading() -> None:
    parsed = parse_document(Path("x.docx"), docx_bytes(["Body."], heading="Firmware rollout"))
    assert parsed.title == "Firmware rollout"
    assert parsed.metadata == {}


def test_docx_without_any_title_falls_back_to_the_file_name() -> None:
    assert parse_document(Path("quote-template.docx"), docx_bytes(["Body."])).title == "Quote template"


# -- PDF ------------------------------------------------------------------------------------

SAFETY_PAGES = [
    ["Warehouse safety (2025)", "Inspect every TRN-4410 LiDAR module weekly."],
    ["Escalation: call the site lead."],
]


def test_pdf_text_of_every_page_title_and_metadata() -> None:
    parsed = parse_document(Path("safety.pdf"), pdf_bytes(SAFETY_PAGES, title="Safety manual", author="EHS"))
    assert parsed.title == "Safety manual"
    assert parsed.content_type == "application/pdf"
    assert parsed.metadata == {"pages": "2", "author": "EHS"}
    assert "Warehouse safety (2025)" in parsed.text
    assert "Inspect every TRN-4410 LiDAR module weekly." in parsed.text
    assert "Escalation: call the site lead." in parsed.text


def test_pdf_without_info_title_takes_the_first_line() -> None:
    parsed = parse_document(Path("safety.pdf"), pdf_bytes(SAFETY_PAGES))
    assert parsed.title == "Warehouse safety (2025)"


def test_pdf_encrypted_with_an_empty_user_password_is_read() -> None:
    # Owner-password-only PDFs (no printing, no editing) open without a password.
    data = encrypted_pdf_bytes(pdf_bytes(SAFETY_PAGES, title="Safety manual"), user_password="")
    parsed = parse_document(Path("locked.pdf"), data)
    assert "TRN-4410" in parsed.text


def test_pdf_that_needs_a_password_is_refused() -> None:
    data = encrypted_pdf_bytes(pdf_bytes(SAFETY_PAGES), user_password="s3cret")
    with pytest.raises(ParseError, match="password"):
        parse_document(Path("secret.pdf"), data)


# -- corrupt and unsupported ----------------------------------------------------------------


def _zip_without_document() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("broken.pdf", b"this is not a PDF at all"),
        ("truncated.pdf", pdf_bytes(SAFETY_PAGES)[:60]),
        ("empty.pdf", b""),
        ("header-only.pdf", b"%PDF-1.7\n%%EOF\n"),
        ("broken.docx", b"PK\x03\x04 definitely not a zip archive"),
        ("text.docx", b"plain text renamed to .docx"),
        ("other-zip.docx", _zip_without_document()),
        ("truncated.docx", docx_bytes(["Some text."])[:200]),
    ],
)
def test_corrupt_files_raise_parse_error(name: str, data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_document(Path(name), data)


def test_unsupported_suffix_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="unsupported"):
        parse_document(Path("sheet.xlsx"), b"whatever")


def test_suffixes_are_matched_case_insensitively() -> None:
    assert ".md" in SUPPORTED_SUFFIXES
    assert parse_document(Path("README.MD"), b"# Read me\n").title == "Read me"
