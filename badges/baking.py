"""Baked badge images (Open Badges 3.0 §5.3): the signed credential inside the picture.

PNG: an uncompressed ``iTXt`` chunk with keyword ``openbadgecredential`` whose
text is the credential exactly as issued (JSON, or a compact VC-JWT). Reading
walks the chunks itself, checking each CRC, and never decodes pixels, so a
hostile upload cannot make it allocate an image.
"""

from __future__ import annotations

import struct
import textwrap
import zlib
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEYWORD = "openbadgecredential"
SVG_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"
_MAX_CHUNK = 8 * 1024 * 1024

SIZE = 480
BRAND = (11, 87, 164)  # the same blue as the SVG and the pages, 7:1 on white
INK = (27, 31, 36)


def render_png(code: str, title: str, hours: float) -> bytes:
    """The badge picture: a hexagon with the micro-credential code, title and hours."""
    image = Image.new("RGBA", (SIZE, SIZE), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)

    def hexagon(scale: float) -> list[tuple[float, float]]:
        """The SVG's hexagon, scaled about the centre and then to the image size."""
        points = [(120, 8), (222, 64), (222, 176), (120, 232), (18, 176), (18, 64)]
        k = SIZE / 240
        return [((120 + (x - 120) * scale) * k, (120 + (y - 120) * scale) * k) for x, y in points]

    draw.polygon(hexagon(1.0), fill=BRAND)
    draw.polygon(hexagon(0.86), fill=(255, 255, 255, 255))
    big = ImageFont.load_default(size=56)
    small = ImageFont.load_default(size=24)
    draw.text((SIZE / 2, 200), code, font=big, fill=BRAND, anchor="mm")
    y = 250
    for line in textwrap.wrap(title, width=26)[:3]:
        draw.text((SIZE / 2, y), line, font=small, fill=INK, anchor="mm")
        y += 30
    draw.text((SIZE / 2, y + 12), f"{hours:g} PD hours", font=small, fill=INK, anchor="mm")
    out = BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def bake_png(png: bytes, credential: str) -> bytes:
    """The same picture with the credential in an uncompressed ``iTXt`` chunk."""
    if extract_png(png) is not None:
        raise ValueError("This image already carries a credential.")
    info = PngInfo()
    info.add_itxt(KEYWORD, credential, zip=False)
    with Image.open(BytesIO(png)) as image:
        out = BytesIO()
        image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE)


def extract_png(data: bytes) -> str | None:
    """The credential baked into a PNG, or None. Raises ValueError on a broken file."""
    if not is_png(data):
        raise ValueError("This is not a PNG image.")
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if length > _MAX_CHUNK or offset + 12 + length > len(data):
            raise ValueError("The PNG is truncated or damaged.")
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError("The PNG is damaged (a checksum does not match).")
        if kind == b"iTXt":
            text = _itxt(body)
            if text is not None:
                return text
        if kind == b"IEND":
            return None
        offset += 12 + length
    raise ValueError("The PNG is truncated or damaged.")


def _itxt(body: bytes) -> str | None:
    keyword, _, rest = body.partition(b"\x00")
    if keyword.decode("latin-1") != KEYWORD or len(rest) < 2:
        return None
    compressed = rest[0]
    _language, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if compressed:
        raise ValueError("A baked credential must not be compressed.")
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("The baked credential is not UTF-8 text.") from exc
