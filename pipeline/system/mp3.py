"""An MP3's length from its own headers (the Xing/LAME frame count, read by mutagen): what the feed
declares, what the EPUB's overlays are clamped to and what the report shows, without decoding."""
from __future__ import annotations

import io
from pathlib import Path

from mutagen.mp3 import MP3


def mp3_duration(path_or_bytes: Path | str | bytes) -> float:
    """Seconds of audio in an MP3 file (or its bytes). mutagen raises for a file that is not an MP3."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        mp3 = MP3(fileobj=io.BytesIO(path_or_bytes))
    else:
        mp3 = MP3(str(path_or_bytes))
    # mutagen declares `FileType.info = None` unannotated, so mypy types it None; MP3() always sets an
    # MPEGInfo (or raises)
    return float(mp3.info.length)  # type: ignore[attr-defined]
