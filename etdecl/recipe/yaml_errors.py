"""YAML scanner and parser errors, retold at their cause and in etdecl's words.

ruamel notices most mistakes one token late: an unclosed `{` is reported at the next line's
key, an unclosed quote at the end of the file. The user needs the line where the mistake is,
plus where the construct it breaks started ("opened at line 13"). Messages for the common
mistakes are our own; rare ones keep the parser's wording after "invalid YAML:".
"""

from __future__ import annotations

import re

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from .characters import code_point
from .errors import Location, Problem

CONSTRUCTS = {
    "flow mapping": "the '{' mapping",
    "flow sequence": "the '[' list",
    "block mapping": "the mapping",
    "block collection": "the list",
    "block node": "the value",
    "flow node": "the value",
    "quoted scalar": "the quoted string",
    "double-quoted scalar": "the double-quoted string",
    "single-quoted scalar": "the single-quoted string",
    "simple key": "the key",
    "block scalar": "the block text",
    "anchor": "the anchor",
    "alias": "the alias",
    "directive": "the directive",
}
TOKENS = {
    "<block mapping start>": "a key", "<block sequence start>": "a list item",
    "<block end>": "the end of the block", "<scalar>": "a value",
    "-": "a list item", "<stream end>": "the end of the file", "<document start>": "'---'",
    "?": "a key",
    "<flow mapping start>": "'{'", "<flow sequence start>": "'['", "<block entry>": "a list item",
    "<alias>": "an alias", "<anchor>": "an anchor", "<tag>": "a tag",
}
ESCAPE_HINT = ("inside double quotes a backslash starts an escape; write a path in single "
               "quotes or with forward slashes")


def _construct(context: str | None) -> str | None:
    text = (context or "").strip()
    for prefix in ("while parsing a ", "while parsing an ", "while scanning a ",
                   "while scanning an "):
        if text.startswith(prefix):
            return CONSTRUCTS.get(text[len(prefix):], "the " + text[len(prefix):])
    return None


def _token(text: str) -> str:
    text = text.strip().strip("'")
    return TOKENS.get(text, f"'{text}'")


def _content_end(lines: list[str], line: int, col: int) -> tuple[int, int]:
    """0-based position just after the last non-blank, non-comment text before (line, col)."""
    row, text = line, lines[line][:col] if line < len(lines) else ""
    while row >= 0:
        code = re.sub(r"(^|\s)#.*$", "", text).rstrip()
        if code:
            return row, len(code)
        row -= 1
        text = lines[row] if 0 <= row < len(lines) else ""  # ruamel counts a lone \r as a line
    return line, col


def _indent(lines: list[str], row: int) -> int:
    line = lines[row] if row < len(lines) else ""
    return len(line) - len(line.lstrip(" "))


def _at(file: str, row: int, col: int) -> Location:
    return Location(file, row + 1, col + 1)


def _quote_hint(line: str) -> str:
    """`description: note: this` → `quote the value: description: "note: this"`."""
    key, sep, value = line.strip().partition(": ")
    if not sep or not value:
        return "quote a value that contains ': '"
    value = value.strip().lstrip("-").strip()
    quoted = f"'{value}'" if '"' in value else f'"{value}"'
    return f"a value containing ': ' must be quoted, e.g. {key}: {quoted}"


def _flow_quote_hint(line: str, col: int) -> str:
    """`{path: reviews: 2024.jsonl}` → `quote the value, e.g. path: 'reviews: 2024.jsonl'`."""
    start = max(line.rfind(c, 0, col) for c in "{[,") + 1
    ends = [i for i in (line.find(c, col) for c in "}],") if i >= 0]
    item = line[start:min(ends) if ends else len(line)].strip()
    key, sep, value = item.partition(": ")
    if not sep or not value or "'" in value:
        return "quote the value"
    return f"quote the value, e.g. {key}: '{value}'"


def _mapping_value(file: str, lines: list[str], row: int, col: int) -> Problem:
    """'mapping values are not allowed here': a ': ' inside a value, or a key indented too far."""
    line = lines[row] if row < len(lines) else ""
    indent = len(line) - len(line.lstrip(" "))
    first = re.search(r":(\s|$)", line[indent:])
    is_first_colon = first is not None and indent + first.start() == col
    above_row, _ = _content_end(lines, row, 0) if row else (row, 0)
    above = lines[above_row] if above_row < row else ""
    above_indent = len(above) - len(above.lstrip(" "))
    if is_first_colon and above_row < row and indent > above_indent:
        key = line[indent:col].strip()
        return Problem(
            f"'{key}' is indented deeper than line {above_row + 1}, so YAML reads it as "
            f"part of the value on line {above_row + 1}",
            loc=_at(file, row, indent), expected=f"'{key}' at column {above_indent + 1}",
            found=f"column {indent + 1}",
            hint=f"align '{key}' with the key above it (keys of one mapping share one "
                 "indentation)")
    return Problem("a value contains ': ', which YAML reads as a second key on the same line",
                   loc=_at(file, row, col), hint=_quote_hint(line))


def _marked(err: MarkedYAMLError, file: str, lines: list[str]) -> Problem:
    mark, ctx = err.problem_mark, err.context_mark
    problem = (err.problem or "invalid YAML").strip()
    row, col = mark.line, mark.column
    construct = _construct(err.context)
    verb = "opened" if construct and ("'" in construct or "quoted" in construct) else "started"
    opened = (f"{construct} {verb} at line {ctx.line + 1}, column {ctx.column + 1}"
              if construct and ctx is not None else None)
    if "duplicate key" in problem:
        return Problem(problem.split(" with value")[0], loc=_at(file, row, col),
                       hint="each key may appear once in a mapping")
    if problem == "mapping values are not allowed here":
        return _mapping_value(file, lines, row, col)
    flow = re.match(r"expected ',' or '([}\]])', but got (.*)", problem)
    if flow and ctx is not None:
        closer, got = flow.group(1), flow.group(2)
        end_row, end_col = _content_end(lines, row, 0)
        if row > ctx.line and _indent(lines, row) <= _indent(lines, ctx.line):
            # the next line went back to the owner's indentation: the closer is missing
            return Problem(f"{opened} is not closed", loc=_at(file, end_row, end_col),
                           expected=f"'{closer}' at the end of line {end_row + 1}",
                           found=f"{_token(got)} on line {row + 1}")
        if got.strip("'") == ":":
            return Problem(f"a value in {opened} contains ': '", loc=_at(file, row, col),
                           hint=_flow_quote_hint(lines[row] if row < len(lines) else "", col))
        return Problem(f"{opened} has an item out of place", loc=_at(file, row, col),
                       expected=f"',' between items or '{closer}' to close it",
                       found=_token(got))
    if "end of stream" in problem and ctx is not None and "quoted" in (err.context or ""):
        return Problem(f"{construct} is never closed", loc=_at(file, ctx.line, ctx.column),
                       expected="a closing quote on the same line",
                       found=f"the end of the file (line {row + 1})",
                       hint="add the closing quote; a quote inside the value is doubled ('') "
                            "in single quotes or escaped (\\\") in double quotes")
    escape = re.match(r"found unknown escape character (.*)", problem)
    if escape:
        char = escape.group(1).strip("'")
        return Problem(f"'\\{char}' is not an escape YAML knows in a double-quoted string",
                       loc=_at(file, row, max(col - 1, 0)), hint=ESCAPE_HINT)
    if problem == "could not find expected ':'" and ctx is not None:
        text = lines[ctx.line].strip() if ctx.line < len(lines) else ""
        line = lines[ctx.line] if ctx.line < len(lines) else ""
        hint = "write 'key: value' (a space after the colon)"
        if "\uff1a" in line:  # typed with an East Asian input method
            hint = (f"{code_point(chr(0xFF1A))} at column {line.index(chr(0xFF1A)) + 1} looks "
                    "like ':' but is not; type ':'")
        return Problem("a line inside a mapping has no ':' after its key",
                       loc=_at(file, ctx.line, ctx.column), expected="KEY: VALUE",
                       found=f"'{text}'" if text else None, hint=hint)
    if "expected the node content" in problem and "<stream end>" in problem:
        end_row, end_col = _content_end(lines, row, col)
        return Problem("the file ends too early", loc=_at(file, end_row, end_col),
                       expected="a value", found="the end of the file",
                       hint="is a '[' or '{' left open?")
    block = re.match(r"expected <block end>, but found (.*)", problem)
    if block and ctx is not None:
        above_row, _ = _content_end(lines, row, 0)
        columns = sorted({ctx.column + 1, _indent(lines, above_row) + 1} - {col + 1})
        return Problem(f"wrong indentation: line {row + 1} does not fit {opened}",
                       loc=_at(file, row, col),
                       expected=" or ".join(f"column {c}" for c in columns) or None,
                       found=f"{_token(block.group(1))} at column {col + 1}",
                       hint="keys of one mapping (and items of one list) share one "
                            "indentation, in spaces")
    char = re.match(r"found character '(.*)' that cannot start any token", problem)
    if char:
        shown = char.group(1).encode().decode("unicode_escape") if "\\" in char.group(1) \
            else char.group(1)
        name = code_point(shown) if len(shown) == 1 else f"'{shown}'"
        return Problem(f"{name} cannot start a value", loc=_at(file, row, col),
                       hint="quote the value")
    msg = f"invalid YAML: {problem}"
    if opened:
        msg += f" ({opened})"
    return Problem(msg, loc=_at(file, row, col))


def yaml_problem(err: YAMLError, file: str, text: str) -> Problem:
    """A located problem for any error ruamel raises while reading a recipe."""
    lines = text.split("\n")
    if isinstance(err, MarkedYAMLError) and err.problem_mark is not None:
        return _marked(err, file, lines)
    if isinstance(err, ReaderError) and isinstance(err.position, int):
        line = text.count("\n", 0, err.position) + 1
        col = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        char = err.character if isinstance(err.character, int) else ord(err.character)
        return Problem("special characters are not allowed in a recipe",
                       loc=Location(file, line, col), found=f"character {code_point(chr(char))}")
    return Problem(f"invalid YAML: {err}", loc=Location(file))
