"""What a data file really is, whatever its name says: compression by magic bytes, text encoding
by byte-order mark, and the file kinds spreadsheet programs save that are not text at all.

Users rename files, spreadsheet programs add byte-order marks and save UTF-16, and a `.csv` may
be gzip-compressed or an Excel workbook. The readers open files through `open_data`, so each
case either works or fails with a DataError that names the cause.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import DataError

_MAGIC = (  # (leading bytes, compression name, opener)
    (b"\x1f\x8b", "gzip", gzip.open),
    (b"BZh", "bzip2", bz2.open),
    (b"\xfd7zXZ\x00", "xz", lzma.open),
)
SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}

_NOT_TEXT = (  # (leading bytes, what it is, what to do)
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or OpenDocument workbook?)",
     "export the sheet as 'CSV UTF-8', or unzip it"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 .xls workbook",
     "export the sheet as 'CSV UTF-8'"),
    (b"%PDF", "a PDF document", "export the table as CSV"),
    (b"SQLite format 3\x00", "an SQLite database", "export the table as CSV or JSONL"),
    (b"\x89PNG", "a PNG image", "point the recipe at the data file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "unpack it (gzip, bzip2 and xz are read as is)"),
    (b"(\xb5/\xfd", "a Zstandard-compressed file",
     "decompress it or recompress with gzip, bzip2 or xz"),
)

_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)

STREAM_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error)
"""What a broken compressed stream raises while it is read (gzip.BadGzipFile is an OSError)."""


@dataclass(frozen=True)
class Opened:
    """A data file's decompressed byte stream and what was found out about it."""

    stream: IO[bytes]
    compression: str | None
    encoding: str
    """A Python codec: 'utf-8' (no byte-order mark), 'utf-8-sig', 'utf-16', 'utf-32',
    'utf-16-le' or 'utf-16-be' (UTF-16 without a mark, told by its zero bytes)."""


def _guess_encoding(head: bytes) -> str:
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc
    sample = head[:64]
    if len(sample) >= 4 and sample.count(0) * 3 >= len(sample):  # ASCII text stored as UTF-16
        evens, odds = sample[0::2].count(0), sample[1::2].count(0)
        if odds > 2 * max(evens, 1):
            return "utf-16-le"
        if evens > 2 * max(odds, 1):
            return "utf-16-be"
    return "utf-8"


def open_data(path: Path, shown: str) -> Opened:
    """Open a data file by what its bytes are, not by its name. Raises DataError for files that
    are not (possibly compressed) text."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as err:
        raise DataError(shown, 0, f"cannot read the data file ({err.strerror or err})",
                        "cannot read") from None
    compression, stream = None, None
    for magic, name, opener in _MAGIC:
        if head.startswith(magic):
            compression, stream = name, opener(path, "rb")
            break
    if stream is None:
        stream = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    if compression is not None:
        try:
            head = stream.peek(64)[:64]  # type: ignore[attr-defined]
        except STREAM_ERRORS as err:
            stream.close()
            raise broken_stream(shown, 1, compression, err) from None
    for magic, what, todo in _NOT_TEXT:
        if head.startswith(magic):
            stream.close()
            inside = f" (inside {compression})" if compression else ""
            raise DataError(shown, 0, f"this is {what}{inside}, not JSONL, CSV or TSV text; "
                            f"{todo}", "not a text file")
    return Opened(stream, compression, _guess_encoding(head))


def broken_stream(shown: str, line: int, compression: str | None, err: BaseException) -> DataError:
    """The DataError for a compressed stream that cannot be read on (corrupt or cut short)."""
    what = f"{compression}-compressed data" if compression else "the data file"
    why = "it ends too early (a truncated file?)" if isinstance(err, EOFError) else \
        f"it is corrupt ({err})"
    return DataError(shown, line, f"cannot read {what} past this line: {why}",
                     "corrupt compressed data")


def encoding_hint(raw: bytes) -> str:
    """Why bytes are not UTF-8, in the user's terms: the usual cause is a spreadsheet's
    'CSV' export in the computer's legacy code page."""
    if any(0x80 <= b <= 0xFF for b in raw):
        return ("the file is not UTF-8 (a spreadsheet's plain 'CSV' export is often "
                "Windows-1252 or Latin-1): save it as 'CSV UTF-8' or convert it with "
                "`iconv -t UTF-8`")
    return "the file is not UTF-8"
