"""Located recipe problems, collected together and rendered as text, JSON or GitHub annotations.

A recipe is checked in one pass that gathers every problem; the user fixes them all at once
instead of replaying the loader once per typo.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

OVERRIDE_PREFIX = "--set "


@dataclass(frozen=True, order=True)
class Location:
    """A place in a recipe source: 1-based line and column, as editors show them."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"

    @property
    def is_override(self) -> bool:
        """A `--set KEY=VALUE` on the command line, not a place in a file."""
        return self.file.startswith(OVERRIDE_PREFIX) and self.line <= 0


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe, with where it is and what was expected."""

    message: str
    loc: Location | None = None
    path: str = ""
    expected: str | None = None
    found: str | None = None
    hint: str | None = None
    severity: str = "error"

    def render(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        at = f"{self.path}: " if self.path else ""
        text = f"{where}{self.severity}: {at}{self.message}"
        details = []
        if self.expected is not None:
            details.append(f"expected {self.expected}")
        if self.found is not None:
            details.append(f"found {self.found}")
        if details:
            text += f" ({', '.join(details)})"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def to_dict(self) -> dict:
        """JSON form: `loc` is a file position; a `--set` problem has `origin` instead."""
        out = asdict(self)
        override = self.loc is not None and self.loc.is_override
        out["loc"] = asdict(self.loc) if self.loc and not override else None
        out["origin"] = self.loc.file if override and self.loc else None
        return out


@dataclass
class RecipeError(Exception):
    """Every problem found in a recipe. Raised once, after the whole recipe has been read."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt name, or None when nothing is close.

    Beyond spelling (difflib): a case-only difference (`PLM` for `plm`, said to be one, since
    names are case-sensitive), and a word that is one part or the start of exactly one choice
    (`f1` for `macro_f1`, `acc` for `accuracy`).
    """
    word = str(word)
    choices = sorted({str(c) for c in choices} - {word})
    same = [c for c in choices if c.casefold() == word.casefold()]
    if same:
        return f"did you mean '{same[0]}'? (names are case-sensitive)"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        folded = {c.casefold(): c for c in choices}
        close = [folded[c] for c in difflib.get_close_matches(word.casefold(), list(folded),
                                                              n=1, cutoff=0.6)]
    if not close and len(word) >= 2:
        low = word.casefold()
        close = [c for c in choices if low in re.split(r"[_\-.]", c.casefold())]
        if len(close) != 1 and len(word) >= 3:
            close = [c for c in choices if c.casefold().startswith(low)]
    if len(close) == 1:
        return f"did you mean '{close[0]}'?"
    return None


def one_of(choices: Iterable[str]) -> str:
    items = sorted({str(c) for c in choices})
    return "one of " + ", ".join(f"'{c}'" for c in items) if items else "nothing: none is declared"


def render_text(problems: Sequence[Problem]) -> str:
    return "\n".join(p.render() for p in problems)


def render_json(results: dict[str, Sequence[Problem]], fingerprints: dict[str, str]) -> str:
    """One JSON document over all files: {"valid": bool, "files": [{file, valid, ...}]}"""
    files = []
    for name, problems in results.items():
        files.append(
            {
                "file": name,
                "valid": not any(p.severity == "error" for p in problems),
                "fingerprint": fingerprints.get(name),
                "problems": [p.to_dict() for p in problems],
            }
        )
    return json.dumps({"valid": all(f["valid"] for f in files), "files": files}, indent=2)


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(problems: Sequence[Problem]) -> str:
    """GitHub Actions workflow commands, so problems show inline on the pull request diff."""
    lines = []
    for p in problems:
        props = []
        in_file = p.loc is not None and not p.loc.is_override
        if p.loc and in_file:  # a --set problem has no file: its origin stays in the text
            props.append(f"file={_gh_escape(p.loc.file, True)}")
            if p.loc.line:
                props.append(f"line={p.loc.line}")
                props.append(f"col={p.loc.col}")
        props.append(f"title={_gh_escape('etdecl ' + (p.path or 'recipe'), True)}")
        msg = p.render()
        if p.loc and in_file:
            msg = msg.removeprefix(f"{p.loc}: ")
        kind = "error" if p.severity == "error" else "warning"
        lines.append(f"::{kind} {','.join(props)}::{_gh_escape(msg)}")
    return "\n".join(lines)
