"""What `etdecl serve` accepts: the limits an operator sets, and the checks that turn any bad
request into a 4xx with a message and the JSON path of the field at fault, before the model
sees it. Rows are read by the tasks' own `read_inputs`, so the server accepts exactly what
`etdecl predict` accepts from a file."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..datafiles.readers import DataError
from ..tasks.base import Task

SOURCE = "request"
"""The `file` of DataErrors raised for request items (their `line` is the 1-based position)."""


@dataclass(frozen=True)
class ServeLimits:
    """Per-request limits. The defaults fit a CPU server: a request of 64 review-sized texts
    is ~50 KB; 1 MiB leaves room for long inputs while keeping one request from holding the
    model for seconds; 10,000 characters is ~2,500 tokens, already far past `max_length`."""

    max_request_bytes: int = 1 << 20
    max_batch: int = 64
    max_text_chars: int = 10_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, not {value}")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class RequestError(Exception):
    """A request the server refuses: HTTP status, message, and the field at fault (a JSON path
    such as `inputs[3].text`, or None for the request as a whole)."""

    def __init__(self, status: int, message: str, field: str | None) -> None:
        self.status, self.message, self.field = status, message, field
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "field": self.field}}


def input_fields(tasks: Sequence[Task]) -> list[str]:
    """Field names an item must have for these heads (the recipe's `fields` mapping)."""
    return list(dict.fromkeys(name for task in tasks for name in task.input_fields().values()))


def check_content_type(value: str | None) -> None:
    kind = (value or "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise RequestError(415, f"the body must be JSON (Content-Type: application/json), "
                                f"not {value or 'unspecified'}", "content-type")


def check_declared_size(value: str | None, limits: ServeLimits) -> None:
    """Refuse by the Content-Length header, before reading a byte of the body."""
    if value is None:
        return
    try:
        size = int(value)
    except ValueError:
        raise RequestError(400, f"Content-Length '{value}' is not a number",
                           "content-length") from None
    too_large(size, limits)


def too_large(size: int, limits: ServeLimits) -> None:
    if size > limits.max_request_bytes:
        raise RequestError(413, f"the request body is over {limits.max_request_bytes} bytes "
                                f"(at least {size}; the server's --max-request-bytes)", "body")


_FIELD = re.compile(r"field '([^']+)'")


def field_of(err: DataError, index: int) -> str:
    found = _FIELD.search(err.message)
    return f"inputs[{index}]" + (f".{found.group(1)}" if found else "")


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):  # a tag head's words, counted as the sentence they spell
        return sum(len(w) for w in value if isinstance(w, str)) + max(len(value) - 1, 0)
    return 0


def parse_request(body: bytes, tasks: Sequence[Task], limits: ServeLimits) -> list[dict]:
    """The items of a `/predict` body, each checked as `predict` checks a file's row; the first
    problem raises RequestError."""
    try:
        data = json.loads(body)
    except ValueError as e:  # bad JSON or bad UTF-8
        raise RequestError(400, f"the body is not valid JSON: {e}", "body") from None
    if not isinstance(data, dict):
        raise RequestError(422, 'the body must be a JSON object: {"inputs": [{...}, ...]}, '
                                f"found {type(data).__name__}", "body")
    if "inputs" not in data:
        raise RequestError(422, 'missing "inputs": a list of items with the recipe\'s field '
                                "names", "inputs")
    items = data["inputs"]
    if not isinstance(items, list):
        raise RequestError(422, f'"inputs" must be a list of objects, found '
                                f"{type(items).__name__}", "inputs")
    if not items:
        raise RequestError(422, '"inputs" is empty: send at least one item', "inputs")
    if len(items) > limits.max_batch:
        raise RequestError(413, f"{len(items)} items in one request; the limit is "
                                f"{limits.max_batch} (the server's --max-batch)", "inputs")
    names = input_fields(tasks)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError(422, f"each item must be an object of fields, found "
                                    f"{type(item).__name__}", f"inputs[{i}]")
        for task in tasks:
            try:
                task.read_inputs(item, SOURCE, i + 1)
                task.check_domain(item, SOURCE, i + 1)
            except DataError as e:
                raise RequestError(422, e.message, field_of(e, i)) from None
        for name in names:
            if (n := _text_chars(item.get(name))) > limits.max_text_chars:
                raise RequestError(422, f"field '{name}' has {n} characters; the limit is "
                                        f"{limits.max_text_chars} (the server's "
                                        "--max-text-chars)", f"inputs[{i}].{name}")
    return items
