"""Task types by recipe `type:` name (the same names as the torch-free head registry)."""

from __future__ import annotations

from .base import Task
from .classify import ClassifyTask, MatchTask
from .span import SpanTask
from .tag import TagTask

TASKS: dict[str, type[Task]] = {
    "classify": ClassifyTask,
    "match": MatchTask,
    "tag": TagTask,
    "span": SpanTask,
}
