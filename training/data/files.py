"""Reading real-world data files: JSONL (optionally gzipped), CSV/TSV, Parquet and plain text.

Files exported from Excel or older Arabic systems are often not UTF-8 (Windows-1256, UTF-16, UTF-8 with a
BOM) and CSVs are often ``;``-separated, so the encoding and the delimiter are detected here and reported
once per file. Rows come back with the line they start on so that every error can name it; a row that
cannot be parsed comes back with a ``problem`` instead of values, and the caller decides to stop or skip.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

logger = logging.getLogger(__name__)

DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
DELIMITER_CANDIDATES = ",;\t|"
SAVE_AS_UTF8 = "save it as 'CSV UTF-8' (or UTF-8 text) or pass --data.encoding CODEC, e.g. cp1256"
_ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "utf-16": "UTF-16", "utf-16-le": "UTF-16 LE",
                   "utf-16-be": "UTF-16 BE", "cp1256": "Windows-1256"}

# Arabic articles are long: the csv module's default 128 KiB field limit would reject some of them.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class DataError(ValueError):
    """Data that cannot be used as it is; the message names where and how to fix it."""


def check_named_columns(table: "FileRows", config: object, named: Sequence[str]) -> None:
    """Each column setting in ``named`` (a DataConfig field the user gave, such as ``title_column``) must name a
    column of ``table`` (in its header, or in any row of a JSONL file): a typo would otherwise read as "no titles"
    without a word."""
    for name in named:
        column = getattr(config, name)
        if column and column not in table.columns:
            flag = "--data." + name.replace("_", "-")
            raise DataError(f"{table.path}: missing column {column!r} (given with {flag}); found columns "
                            f"{table.columns}; fix the name, or leave {flag} out")


def missing_text_column(table: "FileRows", config: Any) -> DataError:
    """The error for a table without its text column (``config.text_column``), suggesting the column whose values are
    longest on average over the first rows, among those no other setting names (ids, titles, labels, sources)."""
    import shlex

    taken = {getattr(config, name, None) for name in ("title_column", "label_column", "labels_column", "source_column",
                                                      "id_column")}
    lengths: dict[str, list[int]] = {}
    for row in table.rows[:50]:
        for key, value in (row.values or {}).items():
            if isinstance(value, str) and value.strip() and key not in taken:
                lengths.setdefault(key, []).append(len(value))
    likely = max(lengths, key=lambda key: sum(lengths[key]) / len(lengths[key])) if lengths else None
    hint = f" (the longest texts are in {likely!r}: --data.text-column {shlex.quote(likely)})" if likely else ""
    return DataError(f"{table.path}: missing column {config.text_column!r}; found columns {table.columns}; name yours "
                     f"with --data.text-column NAME{hint}")


@dataclass
class RawRow:
    """One record: its values, or why it could not be parsed; ``line`` is where it starts (None for Parquet)."""

    values: dict | None
    line: int | None
    problem: str | None = None
    place: str | None = None  # where it is when not at a line, e.g. "task 11" of a Label Studio export


@dataclass
class FileRows:
    path: Path
    rows: list[RawRow]
    encoding: str | None = None
    delimiter: str | None = None
    columns: list[str] = field(default_factory=list)  # in file order; of a JSONL file, every row's keys

    def location(self, index: int) -> str:
        row = self.rows[index]
        if row.line is not None:
            return f"{self.path} line {row.line}"
        return f"{self.path} {row.place or f'row {index + 1}'}"


def data_format(path: Path) -> str | None:
    """'jsonl', 'csv', 'tsv' or 'parquet' from the file name (``.gz`` allowed on text formats), else None."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
        if not suffixes or suffixes[-1] == ".parquet":
            return None
    suffix = suffixes[-1] if suffixes else ""
    return {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}.get(suffix)


def stem(path: Path) -> str:
    """File name without its data suffixes: ``news.jsonl.gz`` -> ``news``."""
    name = path.name
    for suffix in (".gz",) + DATA_SUFFIXES + (".txt",):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or path.name


# ------------------------------------------------------------------------------------------- encoding

def _arabic_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha() and ord(ch) > 127]
    return sum("\u0600" <= ch <= "\u06ff" for ch in letters) / len(letters) if letters else 0.0


def detect_encoding(data: bytes, path: Path | str) -> str:
    """The codec of ``data``: UTF-8, UTF-8 with BOM, UTF-16 (BOM or NUL pattern) or Windows-1256."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = data[:4096]
    if head.count(0) > len(head) // 4:  # UTF-16 without a BOM: every ASCII character has a NUL beside it
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # Mostly-valid UTF-8 with a few damaged lines stays UTF-8 (the damaged lines are reported); a file whose
    # non-ASCII lines are mostly not UTF-8 but read as Arabic in Windows-1256 is Windows-1256.
    non_ascii = [line for line in data.split(b"\n") if not line.isascii()]
    valid = sum(1 for line in non_ascii if _is_utf8(line))
    if valid * 2 >= len(non_ascii):
        return "utf-8"
    try:
        decoded = data.decode("cp1256")
    except UnicodeDecodeError:
        decoded = ""
    if _arabic_share(decoded) >= 0.8:
        return "cp1256"
    raise DataError(f"{path}: cannot tell the text encoding (not UTF-8, UTF-16 or Windows-1256 Arabic); {SAVE_AS_UTF8}")


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def resolve_codec(encoding: str | None, data: bytes, path: Path | str) -> tuple[str, str]:
    """(codec, how) for ``--data.encoding``: auto detects; an explicit codec name wins."""
    if not encoding or encoding.lower() == "auto":
        return detect_encoding(data, path), "detected"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"--data.encoding: unknown encoding {encoding!r}; use auto or a Python codec name such as "
                        "utf-8, utf-8-sig, utf-16 or cp1256") from None
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "given"  # the BOM is not part of the first column's name
    return encoding, "given"


def describe_codec(codec: str) -> str:
    return _ENCODING_NAMES.get(codecs.lookup(codec).name if codec != "utf-8-sig" else codec, codec)


def decode_lines(data: bytes, codec: str, path: Path | str) -> tuple[list[str], dict[int, str]]:
    """Lines (ends kept) and {line number: problem} for lines that are not valid in ``codec``.

    ASCII-compatible codecs are decoded line by line so one damaged line is located instead of failing the file.
    """
    if codecs.lookup(codec).name.startswith(("utf-16", "utf-32")) or "\n".encode(codec) != b"\n":
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not valid {describe_codec(codec)} (byte {exc.start}: {exc.reason}); "
                            f"{SAVE_AS_UTF8}") from None
        return _split_keep_ends(text), {}
    if codec == "utf-8-sig":
        data, codec = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data, "utf-8"
    lines, bad = [], {}
    for number, raw in enumerate(_split_keep_ends(data), 1):
        try:
            lines.append(raw.decode(codec))
        except UnicodeDecodeError as exc:
            bad[number] = (f"bytes that are not valid {describe_codec(codec)} at column {exc.start + 1}; "
                           f"{SAVE_AS_UTF8}")
            lines.append(raw.decode(codec, errors="replace"))
    return lines, bad


def _split_keep_ends(text):
    """Split on newline only (``str.splitlines`` would also split on characters that may occur inside text)."""
    newline = "\n" if isinstance(text, str) else b"\n"
    parts = text.split(newline)
    return [part + newline for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check the path and its permissions") from None
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc}); re-compress it or give the uncompressed file") from None
    return data


def read_text(path: Path, encoding: str | None = "auto") -> tuple[str, str, dict[int, str]]:
    """A whole text file: (text, codec, {line: problem}) for files that are one article each."""
    data = read_bytes(path)
    codec, _ = resolve_codec(encoding, data, path)
    lines, bad = decode_lines(data, codec, path)
    return "".join(lines), codec, bad


# ---------------------------------------------------------------------------------------------- rows

def read_rows(path: Path, *, encoding: str | None = "auto", delimiter: str | None = "auto",
              expected_columns: Sequence[str] = ()) -> FileRows:
    """The records of a JSONL/CSV/TSV/Parquet file; ``expected_columns`` helps pick the CSV delimiter."""
    fmt = data_format(path)
    if fmt is None:
        raise DataError(f"{path}: unsupported file type {''.join(path.suffixes[-2:]) or path.name!r}; expected one of "
                        f"{', '.join(DATA_SUFFIXES)} (text formats may be gzipped: .jsonl.gz)")
    if path.stat().st_size == 0:
        column = f"`{expected_columns[0]}`" if expected_columns else "text"
        raise DataError(f"{path}: the file is empty; expected one article per row, with a {column} column")
    if fmt == "parquet":
        return _read_parquet(path)
    data = read_bytes(path)
    codec, how = resolve_codec(encoding, data, path)
    lines, bad = decode_lines(data, codec, path)
    if fmt == "jsonl":
        result = _parse_jsonl(path, lines, bad)
        logger.info("%s: %s text (%s)", path, describe_codec(codec), how)
    else:
        chosen, chosen_how = _choose_delimiter(path, fmt, lines, delimiter, expected_columns)
        result = _parse_csv(path, lines, bad, chosen)
        logger.info("%s: %s text (%s), delimiter %r (%s)", path, describe_codec(codec), how, chosen, chosen_how)
    result.encoding = codec
    return result


def _read_parquet(path: Path) -> FileRows:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise DataError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc})") from None
    return FileRows(path, [RawRow(values, None) for values in table.to_pylist()], columns=list(table.column_names))


def _parse_jsonl(path: Path, lines: list[str], bad: dict[int, str]) -> FileRows:
    text = "".join(lines).lstrip()
    if text.startswith("["):  # a .json file holding one array of objects
        if bad:  # decoding replaced those bytes: the array would silently hold damaged text
            line, problem = min(bad.items())
            raise DataError(f"{path}: line {line} has {problem}")
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {exc.lineno} is not valid JSON ({exc.msg} at column {exc.colno}); "
                            "fix it, or write one object per line (JSONL)") from None
        rows = [RawRow(v, None) if isinstance(v, dict) else
                RawRow(None, None, f"item {i + 1} is a JSON {type(v).__name__}, expected an object") for i, v in enumerate(values)]
        return FileRows(path, rows, columns=list(dict.fromkeys(k for v in values if isinstance(v, dict) for k in v)))
    rows, columns = [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if number in bad:
            rows.append(RawRow(None, number, f"line {number} has {bad[number]}"))
            continue
        try:
            value = json.loads(line.rstrip("\r\n"))  # without its line break, a cut-off line's column is its own
        except json.JSONDecodeError as exc:
            rows.append(RawRow(None, number, f"line {number} is not valid JSON ({exc.msg} at column {exc.colno}); "
                                             "fix or remove that line"))
            continue
        if not isinstance(value, dict):
            rows.append(RawRow(None, number, f"line {number} is a JSON {type(value).__name__}, expected an object "
                                             "{\"text\": ..., \"label\": ...}; fix or remove that line"))
            continue
        columns.update(dict.fromkeys(value))
        rows.append(RawRow(value, number))
    return FileRows(path, rows, columns=list(columns))


def _header(lines: list[str], delimiter: str) -> list[str]:
    try:
        return [name.strip() for name in next(csv.reader(lines[:200], delimiter=delimiter), [])]
    except csv.Error:
        return []


def _choose_delimiter(path: Path, fmt: str, lines: list[str], delimiter: str | None,
                      expected_columns: Sequence[str]) -> tuple[str, str]:
    """The given delimiter; else the one whose header holds the expected columns; else ``csv.Sniffer``'s guess."""
    if delimiter and delimiter.lower() != "auto":
        named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(delimiter.lower(), delimiter)
        if len(named) != 1:
            raise DataError(f"--data.csv-delimiter: expected auto or one character such as ';' or tab, found {delimiter!r}")
        return named, "given"
    if fmt == "tsv":
        return "\t", "TSV"
    try:
        sniffed = csv.Sniffer().sniff("".join(lines[:50])[:65536], delimiters=DELIMITER_CANDIDATES).delimiter
    except csv.Error:
        sniffed = None
    order = ([sniffed] if sniffed else []) + [d for d in DELIMITER_CANDIDATES if d != sniffed]
    wanted = [column for column in expected_columns if column]
    for candidate in order:
        header = _header(lines, candidate)
        if len(header) > 1 and wanted and all(column in header for column in wanted[:1]):
            return candidate, "detected from the header"
    if sniffed:
        return sniffed, "sniffed"
    return ",", "default; none of , ; tab | separates the header"


def _parse_csv(path: Path, lines: list[str], bad: dict[int, str], delimiter: str) -> FileRows:
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True)
    header: list[str] | None = None
    rows: list[RawRow] = []
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"{path} line {start}: not valid CSV ({exc}); check the quoting of that row") from None
        if not any(field.strip() for field in fields):  # a blank line, or an empty row Excel writes as ";;;;"
            continue
        damaged = [n for n in range(start, reader.line_num + 1) if n in bad]
        if header is None:
            if damaged:
                raise DataError(f"{path} line {damaged[0]} (the header) has {bad[damaged[0]]}")
            header = [name.strip() for name in fields]
            other = [d for d in DELIMITER_CANDIDATES if len(header) == 1 and d in header[0]]
            if other:  # a given delimiter that is not the file's: say which one it is
                raise DataError(f"{path} line {start}: the header is one column when split on {delimiter!r}, but it "
                                f"contains {other[0]!r}: pass --data.csv-delimiter {other[0]!r} (or auto)")
            continue
        if damaged:
            rows.append(RawRow(None, start, f"line {damaged[0]} has {bad[damaged[0]]}"))
        elif len(fields) > len(header):
            rows.append(RawRow(None, start, f"line {start} has {len(fields)} fields but the header has {len(header)}; "
                                            f"quote fields that contain the delimiter {delimiter!r}"))
        else:
            rows.append(RawRow(dict(zip(header, fields + [None] * (len(header) - len(fields)))), start))
    return FileRows(path, rows, delimiter=delimiter, columns=header or [])
