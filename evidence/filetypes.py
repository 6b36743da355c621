"""What an uploaded file really is, judged from its content, not its name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import filetype

from core.i18n import N_, _l

SNIFF_BYTES = 8192


@dataclass(frozen=True)
class FileType:
    media_type: str
    kind: str  # the evidence kind a micro-credential part accepts
    extensions: tuple[str, ...]
    label: str


ALLOWED: tuple[FileType, ...] = (
    FileType("application/pdf", "pdf", (".pdf",), "PDF"),
    FileType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "document",
        (".docx",),
        "Word document (.docx)",
    ),
    FileType("application/vnd.oasis.opendocument.text", "document", (".odt",), "OpenDocument text"),
    FileType("application/rtf", "document", (".rtf",), "Rich text (.rtf)"),
    FileType("text/plain", "document", (".txt", ".md", ".vtt", ".srt"), "Plain text"),
    FileType(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "spreadsheet",
        (".xlsx",),
        "Excel workbook (.xlsx)",
    ),
    FileType(
        "application/vnd.oasis.opendocument.spreadsheet",
        "spreadsheet",
        (".ods",),
        "OpenDocument spreadsheet",
    ),
    FileType("text/csv", "spreadsheet", (".csv",), "CSV"),
    FileType(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "presentation",
        (".pptx",),
        "PowerPoint (.pptx)",
    ),
    FileType(
        "application/vnd.oasis.opendocument.presentation",
        "presentation",
        (".odp",),
        "OpenDocument presentation",
    ),
    FileType("image/jpeg", "image", (".jpg", ".jpeg"), "JPEG image"),
    FileType("image/png", "image", (".png",), "PNG image"),
    FileType("image/gif", "image", (".gif",), "GIF image"),
    FileType("image/webp", "image", (".webp",), "WebP image"),
    FileType("image/heic", "image", (".heic", ".heif"), "HEIC photo"),
    FileType("audio/mpeg", "audio", (".mp3",), "MP3 audio"),
    FileType("audio/mp4", "audio", (".m4a",), "M4A audio"),
    FileType("audio/x-wav", "audio", (".wav",), "WAV audio"),
    FileType("audio/ogg", "audio", (".ogg", ".oga"), "Ogg audio"),
    FileType("video/mp4", "video", (".mp4", ".m4v"), "MP4 video"),
    FileType("video/quicktime", "video", (".mov",), "QuickTime video"),
    FileType("video/webm", "video", (".webm",), "WebM video"),
)
BY_MEDIA_TYPE = {file_type.media_type: file_type for file_type in ALLOWED}
# filetype's names for some of the same formats.
ALIASES = {"audio/x-m4a": "audio/mp4", "audio/wav": "audio/x-wav", "video/x-m4v": "video/mp4"}
EXECUTABLE_TYPES = {
    "application/x-executable",
    "application/x-msdownload",
    "application/x-mach-binary",
    "application/x-elf",
    "application/x-sharedlib",
    "application/vnd.microsoft.portable-executable",
}


class FileTypeError(Exception):
    """The file is not an allowed type, or its name says something else."""


def allowed_labels(kinds: list[str] | None = None) -> str:
    labels = [t.label for t in ALLOWED if kinds is None or t.kind in kinds]
    return ", ".join(dict.fromkeys(labels))


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is fine.
        return exc.start >= len(head) - 3
    return True


def sniff(path: Path, original_name: str) -> FileType:
    """Identify the file by content and check that its extension agrees."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head.startswith((b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xce", b"#!")):
        raise FileTypeError(N_("Programs and scripts are not accepted as evidence."))
    guess = filetype.guess(head)
    extension = Path(original_name).suffix.lower()
    if guess is not None:
        media_type = ALIASES.get(guess.mime, guess.mime)
        if media_type in EXECUTABLE_TYPES:
            raise FileTypeError(N_("Programs and scripts are not accepted as evidence."))
        found = BY_MEDIA_TYPE.get(media_type)
        if found is None:
            raise FileTypeError(_l("Files of type %(type)s are not accepted.", type=media_type))
    elif head.startswith(b"{\\rtf"):
        found = BY_MEDIA_TYPE["application/rtf"]
    elif _looks_like_text(head):
        found = BY_MEDIA_TYPE["text/csv" if extension == ".csv" else "text/plain"]
    else:
        raise FileTypeError(N_("This file's type could not be recognised."))
    if extension not in found.extensions:
        raise FileTypeError(
            _l(
                "The file's content is %(kind)s, but its name ends in “%(ending)s”. "
                "Rename it to end in %(expected)s.",
                kind=found.label,
                ending=extension or "…",
                expected=found.extensions[0],
            )
        )
    return found


def extension_for(media_type: str) -> str:
    """The usual file extension for a stored media type ("" when unknown)."""
    known = BY_MEDIA_TYPE.get(media_type)
    return known.extensions[0] if known else ""
