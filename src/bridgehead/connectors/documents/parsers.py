"""Turn files into (title, text): Markdown, plain text, HTML, PDF and DOCX."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf", ".docx")


class ParseError(Exception):
    """The file could not be read as the format its name says."""


@dataclass(frozen=True)
class ParsedDocument:
    """A document's searchable content."""

    title: str
    text: str
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


def parse_document(path: Path, data: bytes) -> ParsedDocument:
    """Parse ``data`` (the bytes of ``path``) according to the file's suffix."""
    suffix = path.suffix.lower()
    parser = _PARSERS.get(suffix)
    if parser is None:
        raise ParseError(f"unsupported file type {suffix!r}")
    try:
        parsed = parser(data)
    except ParseError:
        raise
    except Exception as exc:  # third-party parsers raise anything on corrupt input
        raise ParseError(f"{type(exc).__name__}: {exc}") from exc
    title = " ".join(_clean(parsed.title).split()) or _title_from_filename(path)
    metadata = {key: _clean(value) for key, value in parsed.metadata.items()}
    return ParsedDocument(title[:500], _clean(parsed.text).strip(), parsed.content_type, metadata)


# NUL and the other C0 controls (but tab, newline, form feed and carriage return) mean nothing in
# text, and PostgreSQL refuses NUL in a text column; lone surrogates (from broken PDF text maps)
# cannot be encoded as UTF-8 by either store.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    text = _CONTROL.sub("", text)
    return text.encode("utf-8", "replace").decode("utf-8")


def _title_from_filename(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(?:(.*?)\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_MD_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _parse_markdown(data: bytes) -> ParsedDocument:
    text = _decode(data)
    metadata: dict[str, str] = {}
    title = ""
    match = _FRONT_MATTER.match(text)
    if match:
        text = text[match.end() :]
        for line in (match.group(1) or "").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() and value.strip():
                metadata[key.strip().lower()] = value.strip().strip("\"'")
        title = metadata.pop("title", "")
    if not title:
        heading = _MD_HEADING.search(text)
        if heading:
            title = heading.group(1)
    return ParsedDocument(title, text, "text/markdown", metadata)


def _parse_text(data: bytes) -> ParsedDocument:
    text = _decode(data)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return ParsedDocument(first[:200], text, "text/plain")


def _parse_html(data: bytes) -> ParsedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = ""
    if soup.title and soup.title.string:
        title = soup.title.string
    else:
        h1 = soup.find("h1")
        if h1 is not None:
            title = h1.get_text(" ", strip=True)
    metadata = {}
    description = soup.find("meta", attrs={"name": "description"})
    if description is not None and description.get("content"):
        metadata["description"] = str(description["content"])
    body = soup.body or soup
    text = body.get_text("\n", strip=True)
    return ParsedDocument(title, text, "text/html", metadata)


def _parse_pdf(data: bytes) -> ParsedDocument:
    from pypdf import PasswordType, PdfReader

    reader = PdfReader(io.BytesIO(data))
    # Many PDFs are encrypted only to restrict printing or editing, with an empty user
    # password; those are readable. Only a PDF that needs a password to open is refused.
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise ParseError("the PDF is encrypted with a password")
    pages = [page.extract_text() or "" for page in reader.pages]
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    info = reader.metadata
    title = str(info.title) if info is not None and info.title else ""
    if not title:
        title = next((line.strip() for line in text.splitlines() if line.strip()), "")
    metadata = {"pages": str(len(reader.pages))}
    if info is not None and info.author:
        metadata["author"] = str(info.author)
    return ParsedDocument(title, text, "application/pdf", metadata)


def _parse_docx(data: bytes) -> ParsedDocument:
    import docx

    document = docx.Document(io.BytesIO(data))
    paragraphs = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append(" | ".join(cell.text.strip() for cell in row.cells))
    title = document.core_properties.title or ""
    if not title:
        for paragraph in document.paragraphs:
            style = (paragraph.style.name if paragraph.style is not None else None) or ""
            if paragraph.text.strip() and (style == "Title" or style.startswith("Heading")):
                title = paragraph.text
                break
    metadata = {}
    if document.core_properties.author:
        metadata["author"] = document.core_properties.author
    return ParsedDocument(
        title,
        "\n".join(paragraphs),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        metadata,
    )


_PARSERS: dict[str, Callable[[bytes], ParsedDocument]] = {
    ".md": _parse_markdown,
    ".markdown": _parse_markdown,
    ".txt": _parse_text,
    ".text": _parse_text,
    ".html": _parse_html,
    ".htm": _parse_html,
    ".pdf": _parse_pdf,
    ".docx": _parse_docx,
}
