"""The cover: the book's own image from book.toml, or a clean typographic cover generated from its
metadata. Square, RGB, 1400–3000 px (Apple Podcasts' artwork rules), deterministic bytes."""
from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.sources import load_book
from pipeline.system.fsutil import atomic_write_bytes

SIZE = 1400
BACKGROUND = (20, 52, 74)       # deep blue
INK = (255, 255, 255)
ACCENT = (255, 196, 61)         # warm yellow; 7:1+ against the background is not needed for art, but kept high


def _font(size: int):
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _wrap(draw, text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(trial, font=font) <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def typographic_cover(title: str, subtitle: str, authors: list[str] | tuple[str, ...], publisher: str) -> bytes:
    img = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    d = ImageDraw.Draw(img)
    margin = 120
    width = SIZE - 2 * margin
    d.rectangle([margin, margin, margin + 220, margin + 24], fill=ACCENT)
    y = margin + 110
    big = _font(132)
    for line in _wrap(d, title, big, width):
        d.text((margin, y), line, font=big, fill=INK)
        y += 160
    y += 40
    mid = _font(54)
    for line in _wrap(d, subtitle, mid, width):
        d.text((margin, y), line, font=mid, fill=ACCENT)
        y += 72
    small = _font(48)
    foot = SIZE - margin - 60
    d.text((margin, foot), publisher, font=small, fill=INK)
    by = ", ".join(authors)
    for line in reversed(_wrap(d, by, small, width)):
        foot -= 70
        d.text((margin, foot), line, font=small, fill=INK)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def normalised_cover(path: Path) -> bytes:
    """A cover image from the user, checked and converted to a square RGB PNG of 1400–3000 px."""
    try:
        opened = Image.open(path)
        opened.load()
    except (OSError, UnidentifiedImageError) as e:
        raise InputError(Problem(display_path(path), 0, "E-BOOK-005", f"cover is not a readable image: {e}")) from e
    w, h = opened.size
    if abs(w - h) > 2:
        raise InputError(Problem(display_path(path), 0, "E-BOOK-005", f"cover must be square, got {w}×{h} px"))
    if w < 1400:
        raise InputError(Problem(display_path(path), 0, "E-BOOK-005", f"cover must be at least 1400 px, got {w}"))
    img = opened.convert("RGB")
    if w > 3000:
        img = img.resize((3000, 3000), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def cmd_cover(args: argparse.Namespace) -> int:
    book = load_book(args.texts)
    data = normalised_cover(book.cover) if book.cover else typographic_cover(
        book.title, book.subtitle, book.authors, book.publisher)
    atomic_write_bytes(args.output, data)
    return 0


def register(add) -> None:
    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument("texts", type=Path)
        p.add_argument("-o", "--output", type=Path, required=True, help="the cover PNG to write")
    add("cover", "write the cover (book.toml's image, or a generated typographic one) as a square PNG",
        setup, cmd_cover)
