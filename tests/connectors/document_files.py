"""Real files of each format the documents connector reads, built in the test run."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path


def write(path: Path, content: str | bytes) -> Path:
    """Write a file (creating its folders) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def pdf_bytes(
    pages: Sequence[Sequence[str]], *, title: str | None = None, author: str | None = None
) -> bytes:
    """A minimal, valid PDF: one Helvetica text stream per page, one line per string, and an Info dictionary.

    Written object by object with a correct cross-reference table, so a strict reader
    accepts it as well as a lenient one.
    """
    objects: list[bytes] = []
    page_ids = [3 + 2 * i for i in range(len(pages))]
    font_id = 3 + 2 * len(pages)
    info_id = font_id + 1
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = b" ".join(b"%d 0 R" % pid for pid in page_ids)
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % len(pages))
    for page_id, lines in zip(page_ids, pages, strict=True):
        ops = [b"BT", b"/F1 12 Tf", b"16 TL", b"72 720 Td"]
        for line in lines:
            ops.append(_pdf_string(line) + b" Tj T*")
        ops.append(b"ET")
        content = b"\n".join(ops)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (page_id + 1, font_id)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    info = b"<< /Producer (Bridgehead tests)"
    if title is not None:
        info += b" /Title " + _pdf_string(title)
    if author is not None:
        info += b" /Author " + _pdf_string(author)
    objects.append(info + b" >>")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, info_id)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def encrypted_pdf_bytes(data: bytes, *, user_password: str, owner_password: str = "owner") -> bytes:
    """``data`` re-written with standard AES encryption."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def docx_bytes(
    paragraphs: Sequence[str],
    *,
    title: str | None = None,
    heading: str | None = None,
    author: str | None = None,
    table: Sequence[Sequence[str]] = (),
) -> bytes:
    """A Word document made with python-docx: an optional Title-style heading, paragraphs and a table."""
    import docx

    document = docx.Document()
    if heading is not None:
        document.add_heading(heading, level=0)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table, strict=True):
            for cell, value in zip(row.cells, values, strict=True):
                cell.text = value
    document.core_properties.title = title or ""
    document.core_properties.author = author or ""
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
