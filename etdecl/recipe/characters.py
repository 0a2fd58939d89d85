"""Characters that look like YAML but are not: byte-order marks, invisible and look-alike
characters, tabs used for indentation, and control characters made by double-quote escapes.

Each of them makes YAML read something other than what the author sees, and the error YAML
then reports (an unknown key 'name', a missing ':') points away from the cause. So they are
found in the source first and named by code point and column.
"""

from __future__ import annotations

import codecs
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from .errors import Location, Problem

BOMS = [  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "UTF-32 (little-endian)"),
    (codecs.BOM_UTF32_BE, "UTF-32 (big-endian)"),
    (codecs.BOM_UTF16_LE, "UTF-16 (little-endian)"),
    (codecs.BOM_UTF16_BE, "UTF-16 (big-endian)"),
]
SAVE_AS_UTF8 = "save the file as UTF-8 (editors call it 'UTF-8' in their encoding menu)"

INVISIBLE = {
    "\u00a0": "no-break space",
    "\u00ad": "soft hyphen",
    "\u180e": "Mongolian vowel separator",
    "\u2000": "en quad", "\u2001": "em quad", "\u2002": "en space", "\u2003": "em space",
    "\u2004": "three-per-em space", "\u2005": "four-per-em space", "\u2006": "six-per-em space",
    "\u2007": "figure space", "\u2008": "punctuation space", "\u2009": "thin space",
    "\u200a": "hair space",
    "\u200b": "zero-width space",
    "\u200c": "zero-width non-joiner",
    "\u200d": "zero-width joiner",
    "\u200e": "left-to-right mark",
    "\u200f": "right-to-left mark",
    "\u2028": "line separator",
    "\u2029": "paragraph separator",
    "\u202f": "narrow no-break space",
    "\u2060": "word joiner",
    "\u3000": "ideographic space",
    "\ufeff": "byte-order mark (zero-width no-break space)",
}
QUOTES = {
    "\u2018": "left single quotation mark", "\u2019": "right single quotation mark",
    "\u201c": "left double quotation mark", "\u201d": "right double quotation mark",
    "\u00ab": "left-pointing double angle quotation mark",
    "\u00bb": "right-pointing double angle quotation mark",
    "\u201e": "double low-9 quotation mark", "\u201a": "single low-9 quotation mark",
}
_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x08": "\\b", "\x0c": "\\f", "\x0b": "\\v",
            "\x07": "\\a", "\x00": "\\0", "\x1b": "\\e"}
CONTROL = {"\t": "tab", "\n": "line feed", "\r": "carriage return", "\x08": "backspace",
           "\x0c": "form feed", "\x0b": "vertical tab", "\x07": "bell", "\x00": "null",
           "\x1b": "escape"}
FREE_TEXT = {("description",)}
"""Free text, where a curly quote may open a sentence."""
PATH_KEYS = {"path", "output_dir", "model", "config", "tokenizer", "resource", "extends"}


def encoding_problem(raw: bytes, file: str) -> Problem | None:
    """A UTF-16 or UTF-32 byte-order mark, named (a UTF-8 one is fine and dropped by the reader)."""
    for bom, name in BOMS:
        if raw.startswith(bom):
            return Problem(f"recipe is encoded as {name}, not UTF-8", loc=Location(file, 1, 1),
                           expected="UTF-8",
                           found=f"byte-order mark {' '.join(f'{b:02X}' for b in bom)}",
                           hint=SAVE_AS_UTF8)
    guess = _wide_encoding(raw[:400])
    if guess is not None:
        return Problem(f"recipe looks encoded as {guess}, not UTF-8", loc=Location(file, 1, 1),
                       expected="UTF-8", found="00 bytes between the characters (no byte-order "
                       "mark)", hint=SAVE_AS_UTF8)
    return None


def _wide_encoding(head: bytes) -> str | None:
    """UTF-16/32 without a byte-order mark, told by where its 00 bytes fall in ASCII text."""
    if len(head) < 8 or head.count(0) < len(head) // 3:
        return None

    def zeros(offsets: tuple[int, ...], step: int) -> bool:
        picked = [b for i, b in enumerate(head) if i % step in offsets]
        return picked.count(0) >= 0.9 * len(picked)

    for offsets, step, name in [((1, 2, 3), 4, "UTF-32 (little-endian)"),
                                ((0, 1, 2), 4, "UTF-32 (big-endian)"),
                                ((1,), 2, "UTF-16 (little-endian)"),
                                ((0,), 2, "UTF-16 (big-endian)")]:
        if zeros(offsets, step):
            return name
    return None


def code_point(char: str) -> str:
    """`U+00A0 (no-break space)`: how a character is named in messages."""
    name = INVISIBLE.get(char) or QUOTES.get(char)
    if name is None:
        name = CONTROL.get(char) or unicodedata.name(char, "control character").lower()
    return f"U+{ord(char):04X} ({name})"


def _code_spans(line: str) -> Iterator[tuple[int, int]]:
    """Spans of a line outside comments (a '#' at the start or after a space, outside quotes)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and (i == 0 or line[i - 1] in " \t:[{,-"):
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            yield 0, i
            return
    yield 0, len(line)


def invisible_at(text: str, i: int) -> bool:
    """An invisible character at text[i], except a zero-width joiner inside an emoji sequence
    (woman, joiner, laptop: one "technologist" emoji), where it is part of what is shown."""
    if text[i] not in INVISIBLE:
        return False
    if text[i] == "\u200d" and 0 < i < len(text) - 1:
        return not all(unicodedata.category(c) == "So" for c in (text[i - 1], text[i + 1]))
    return True


def suspicious_characters(text: str, file: str) -> list[Problem]:
    """Invisible characters and tab indentation, located (comments may hold anything)."""
    problems: list[Problem] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent] and line.strip() and not line.lstrip().startswith("#"):
            col = line.index("\t") + 1
            problems.append(Problem(
                "a tab is used for indentation", loc=Location(file, number, col),
                expected="spaces", found=f"character {code_point(chr(9))} at column {col}",
                hint="YAML indents with spaces only; replace the tab with spaces"))
        for start, end in _code_spans(line):
            code = line[start:end]
            for i, char in enumerate(code):
                if invisible_at(code, i) and not (number == 1 and i == 0 and char == "\ufeff"):
                    problems.append(Problem(
                        "invisible character in the recipe", loc=Location(file, number, i + 1),
                        found=f"{code_point(char)} at column {i + 1}",
                        hint="delete it and type a plain space if one is meant (editors often "
                             "paste it from web pages or documents)"))
    return problems


def shown(text: str) -> str:
    """A string with its control characters written as escapes, never raw."""
    out = "".join(_ESCAPES.get(c, f"\\x{ord(c):02x}") if ord(c) < 32 or ord(c) == 127
                  else f"\\u{ord(c):04X}" if c in INVISIBLE else c for c in text)
    return f"'{out}'"


def _strings(data: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _strings(value, (*path, i))
    elif isinstance(data, str):
        yield path, data


def invisible_in_values(data: Any, where: Callable, name: Callable,
                        only: Callable[[tuple], bool] = lambda path: True) -> list[Problem]:
    """Invisible characters that reached a value without being in the source as such: written
    as an escape (`"a\\_b"`) or given by `--set`. No recipe value needs one."""
    problems = []
    for path, value in _strings(data, ()):
        bad = next((c for i, c in enumerate(value) if invisible_at(value, i)), None)
        if bad is not None and only(path):
            problems.append(Problem("invisible character in a value", loc=where(path),
                                    path=name(path), found=f"{code_point(bad)} in {shown(value)}",
                                    hint="remove it; values never need one"))
    return problems


def typographic_quotes(data: Any, keys: dict[tuple, Location], where: Callable,
                       name: Callable, only: Callable[[tuple], bool] = lambda path: True,
                       ) -> list[Problem]:
    """Keys and values that start (or keys that end) with a curly quote: it was meant as a quote.

    Checked on the parsed tree, so a curly quote inside a sentence is left alone.
    """
    problems: list[Problem] = []
    seen: set[tuple] = set()
    for path, loc in sorted(keys.items(), key=lambda item: (item[1], item[0])):
        key = str(path[-1])
        if key and (key[0] in QUOTES or key[-1] in QUOTES) and path not in seen and only(path):
            seen.add(path)
            if key[0] in QUOTES:
                problems.append(_quote_problem(key[0], loc, name(path)))
            else:  # the closing quote, at the key's last character
                end = Location(loc.file, loc.line, loc.col + len(key) - 1) if loc.line else loc
                problems.append(_quote_problem(key[-1], end, name(path)))
    for path, value in _strings(data, ()):
        if value and value[0] in QUOTES and path not in FREE_TEXT and only(path):
            problems.append(_quote_problem(value[0], where(path), name(path)))
    return problems


def _quote_problem(char: str, loc: Location | None, path: str) -> Problem:
    col = f" at column {loc.col}" if loc is not None and loc.line else ""
    return Problem("typographic quote used as a YAML quote", loc=loc, path=path,
                   expected="a straight quote ' or \"", found=f"{code_point(char)}{col}",
                   hint="word processors and chat apps curl quotes; retype them as ' or \"")


def is_path_value(path: tuple) -> bool:
    """Values that name files or folders: where a Windows path in double quotes goes wrong."""
    keys = [p for p in path if isinstance(p, str)]
    return bool(keys) and (keys[-1] in PATH_KEYS or keys[0] == "extends")


def escaped_control_characters(data: Any, where: Callable, name: Callable, text: str | None,
                               only: Callable[[tuple], bool] = lambda path: True,
                               ) -> list[Problem]:
    """Paths in which a double-quote escape (`"C:\\new\\train.jsonl"`) made a control character.

    `where(path)` gives a value's location; with the source `text`, the problem points at the
    backslash that made it. Control characters are shown as escapes, never raw.
    """
    problems: list[Problem] = []
    lines = text.split("\n") if text is not None else []
    for path, value in _strings(data, ()):
        if not is_path_value(path) or not only(path):
            continue
        bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
        if bad is None:
            continue
        loc = where(path)
        escape = _ESCAPES.get(bad, f"\\x{ord(bad):02x}")
        message = f"the path contains the control character {code_point(bad)}"
        if loc is not None and 0 < loc.line <= len(lines):
            col = lines[loc.line - 1].find(escape, loc.col - 1)
            if col >= 0:
                loc = Location(loc.file, loc.line, col + 1)
                message = (f"the double-quoted string turns '{escape}' into the control "
                           f"character {code_point(bad)}")
        plain = value
        for char, esc in _ESCAPES.items():
            plain = plain.replace(char, esc)
        problems.append(Problem(
            message, loc=loc, path=name(path), found=shown(value),
            hint=f"inside double quotes a backslash starts an escape ('{escape}'); write "
                 f"'{plain}' in single quotes, or use forward slashes: "
                 f"{plain.replace(chr(92), '/')}"))
    return problems


def value_problems(data: Any, keys: dict[tuple, Location], where: Callable, name: Callable,
                   text: str | None, only: Callable[[tuple], bool] = lambda path: True,
                   ) -> list[Problem]:
    """Every check on parsed keys and values: curly quotes, invisible characters, paths with
    control characters. `only` limits them to some paths (those `--set` gave)."""
    return (typographic_quotes(data, keys, where, name, only)
            + invisible_in_values(data, where, name, only)
            + escaped_control_characters(data, where, name, text, only))


def override_character_problems(tree: Any) -> list[Problem]:
    """The same checks for what `--set` gave (the file's own were checked on reading), so a
    valid recipe never holds what its saved form would be refused for."""
    from .load import dotted

    if not any(origin.startswith("--set") for origin in tree.origins.values()):
        return []  # nothing came from `--set` (a file's own values were checked on reading)
    return value_problems(tree.data, tree.keys, tree.where, dotted, None,
                          only=lambda path: tree.origins.get(path, "").startswith("--set"))
