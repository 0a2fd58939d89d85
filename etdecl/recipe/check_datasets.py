"""Checks of each dataset: its sources, and its first rows against the heads that read it
(fields present, labels listed, tags in the declared scheme).

Every dataset of the recipe is checked, whether it is the one `data:` dataset or one of
`data.sets`; messages point at the dataset's own keys (`data.sets.nli.fields.text`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..datafiles.values import as_text as _norm
from .check import _err, _inherited, _placed, check, data_check
from .datasets import DatasetView, SourceError, dataset_heads, datasets, locate
from .errors import Problem, did_you_mean, one_of
from .loaded import LoadedRecipe
from .registry import config_class


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


@check
def data_source_is_one_kind(lr: LoadedRecipe) -> Iterator[Problem]:
    """A source is either `path:` or `package:` + `resource:`. When one side was inherited,
    the message says so and where each came from: the user never wrote both."""
    for view in datasets(lr.recipe).values():
        for split in ("train", "dev"):
            src = getattr(view, split)
            at = (*view.path, split)
            name = _dotted(at)
            if src is None and split == "train" and at in lr.tree.keys:  # `train:` and no value
                yield Problem("wrong type", loc=lr.tree.key_where(at), path=name,
                              expected="a mapping", found="nothing (the key has no value)")
                continue
            if src is None:
                if split == "train":
                    yield _err(lr, view.path, f"{_dotted(view.path)} names no training data",
                               expected="'train' (or named datasets under data.sets)")
                continue
            has_path = src.path is not None
            has_pkg = src.package is not None or src.resource is not None
            if has_path and has_pkg:
                path_key = (*at, "path")
                pkg_key = (*at, "package" if src.package else "resource")
                own, other = ((path_key, pkg_key) if _inherited(lr, pkg_key)
                              else (pkg_key, path_key))
                hint = None
                if _inherited(lr, other):
                    by_set = lr.tree.origins.get(own, "").startswith("--set")
                    hint = ("to replace the inherited source whole, " + (
                        f"--set '{name}={{path: mine.jsonl}}'" if by_set else
                        f"write {name} as one mapping of its own kind in this file "
                        f"(`{split}: {{path: mine.jsonl}}`) or add `$replace: true` to it"))
                yield _err(lr, own, f"{name} sets both 'path' and 'package'/'resource': "
                           f"{_placed(lr, path_key)} and {_placed(lr, pkg_key)}",
                           expected="either a file path or a package resource", hint=hint)
            elif not has_path and not has_pkg:
                yield _err(lr, at, "names no data", expected="'path', or 'package' and 'resource'")
            elif has_pkg and (src.package is None or src.resource is None):
                missing = "package" if src.package is None else "resource"
                yield _err(lr, at, f"{name} needs '{missing}' too",
                           expected="both 'package' and 'resource'")


@check
def data_train_or_sets(lr: LoadedRecipe) -> Iterator[Problem]:
    """One dataset at the `data:` level, or named ones under `data.sets`, not both."""
    data = lr.recipe.data
    if data.sets and (data.train is not None or data.dev is not None):
        key = "train" if data.train is not None else "dev"
        yield _err(lr, ("data", key), f"data.{key} is set beside data.sets",
                   expected="sources inside each named set",
                   hint="move it under data.sets.<name>, or drop data.sets")


@check
def data_stream_reads_rows_once(lr: LoadedRecipe) -> Iterator[Problem]:
    """`data.stream` reads training rows once, in order: a held-out dev share and a `limit`
    sample would both need every row in memory first."""
    if not lr.recipe.data.stream:
        return
    for view in datasets(lr.recipe).values():
        if view.train is not None and view.dev is None:
            yield _err(lr, ("data", "stream"), f"needs a dev source "
                       f"({_dotted((*view.path, 'dev'))}): holding out dev_fraction of the "
                       "training rows would read them all into memory first",
                       expected=f"{_dotted((*view.path, 'dev'))} set",
                       hint="split the file once (a dev file), or drop data.stream")
        if view.train is not None and view.train.limit is not None:
            yield _err(lr, (*view.path, "train", "limit"), "a streamed training split is "
                       "read once, in order, so it cannot be sampled with 'limit'",
                       expected="no limit with data.stream",
                       hint="cut the file instead, or drop data.stream")


def _readable(src) -> bool:
    return src is not None and (src.path is None) != (src.package is None) and (
        src.path is not None or src.resource is not None)


def peek(lr: LoadedRecipe, view: DatasetView, split: str, on_bad=None):
    """(shown, first rows) of a split's file, None when it has no readable source here, or a
    located Problem (warning) saying why it could not be read. Raises DataError for a file
    that cannot be read at all. Each file is read once per process (`peek_cache`)."""
    from ..datafiles.peek_cache import peek_rows_once

    src = getattr(view, split)
    if not _readable(src):
        return None
    try:
        path, shown = locate(lr, view, split)
    except SourceError as err:
        return Problem(str(err), loc=lr.where(*view.path, split),
                       path=_dotted((*view.path, split)), severity="warning")
    if not Path(path).is_file():
        return Problem(f"data file not found (checked at training time): {shown}",
                       loc=lr.where(*view.path, split), path=_dotted((*view.path, split)),
                       severity="warning")
    return shown, peek_rows_once(path, shown, src.format, on_bad_line=on_bad)


def _roles(lr: LoadedRecipe, view: DatasetView) -> list[tuple[tuple, str]]:
    """(where to point, column name) of every field the heads reading this dataset need."""
    heads = dataset_heads(lr.recipe).get(view.name, [])
    roles: list[str] = []
    for head in heads:
        cfg = lr.recipe.heads[head]
        spec = config_class(cfg)
        roles += [r for r in (*spec.ROLES, *spec.TARGET_ROLES) if r not in roles]
    if not heads:
        roles = ["text", "label"]
    for optional in ("text_pair", "domain"):
        if getattr(view.fields, optional) is not None and optional not in roles:
            roles.append(optional)
    fields_at = ("data", "fields") if view.path == ("data",) or (
        lr.recipe.data.sets[view.name].fields is None) else (*view.path, "fields")
    out = []
    for role in roles:
        path = (*fields_at, role)
        if lr.where(*path) is None or path not in lr.tree.values:
            path = view.path
        out.append((path, getattr(view.fields, role)))
    return out



def readable_splits(lr: LoadedRecipe, view: DatasetView):
    """(shown name, first rows) of each of a dataset's splits that can be read; bad rows
    pass by, and an unreadable file is `data_fields_present`'s to report."""
    for split in ("train", "dev"):
        try:
            peeked = peek(lr, view, split, lambda _err: None)
        except Exception:  # noqa: BLE001 - data_fields_present reports unreadable files
            continue
        if peeked is not None and not isinstance(peeked, Problem):
            yield peeked

@data_check
def data_fields_present(lr: LoadedRecipe) -> Iterator[Problem]:
    """When a data file exists, the fields the heads need appear in its first rows."""
    from ..datafiles.readers import DataError

    skip = lr.recipe.data.on_bad_row == "skip"
    for view in datasets(lr.recipe).values():
        wanted = _roles(lr, view)
        where_at = ("data", "where") if view.path == ("data",) or (
            lr.recipe.data.sets[view.name].where is None) else (*view.path, "where")
        wanted += [((*where_at, key), key) for key in view.where]
        for split in ("train", "dev"):
            bad: list[DataError] = []
            try:
                peeked = peek(lr, view, split, bad.append if skip else None)
            except DataError as err:
                yield _err(lr, (*view.path, split), str(err))
                continue
            if peeked is None:
                continue
            if isinstance(peeked, Problem):
                yield peeked
                continue
            shown, rows = peeked
            if bad:  # under `on_bad_row: skip` a bad row is counted at training time
                yield Problem(f"{len(bad)} bad row(s) among the first rows will be skipped "
                              f"(first: {bad[0]})", loc=lr.where(*view.path, split),
                              path=_dotted((*view.path, split)), severity="warning")
            present = set().union(*(r.values.keys() for r in rows)) if rows else set()
            for path_key, field in wanted:
                if field not in present:
                    yield _err(lr, path_key, f"field '{field}' is not in {shown} (first "
                               f"{len(rows)} rows checked)", expected=one_of(present),
                               hint=did_you_mean(field, present))




def _listed(items: list[str]) -> str:
    return "one of " + ", ".join(f"'{x}'" for x in items)


def _head_values(cfg, view: DatasetView, values: dict) -> list[str] | None:
    """The label values a row holds for a head: its label, or its tags (None: not a list)."""
    if "tags" in config_class(cfg).TARGET_ROLES:
        tags = values.get(view.fields.tags)
        return [str(t) for t in tags] if isinstance(tags, list) else None
    raw = values.get(view.fields.label)
    return None if raw is None else [_norm(raw)]


@data_check
def data_labels_known(lr: LoadedRecipe) -> Iterator[Problem]:
    """Labels (and tags) in the rows `validate` peeks at, after `where`, are among each head's
    labels; tag sequences follow the head's scheme."""
    from .tag_schemes import scheme_problem

    skip = lr.recipe.data.on_bad_row == "skip"
    severity = "warning" if skip else "error"
    tail = " (under on_bad_row: skip, such rows are skipped)" if skip else ""
    by_dataset = dataset_heads(lr.recipe)
    for view in datasets(lr.recipe).values():
        heads = [(h, lr.recipe.heads[h]) for h in by_dataset.get(view.name, [])]
        heads = [(h, c) for h, c in heads if hasattr(c, "labels") and len(c.labels) >= 2]
        if not heads:
            continue
        where = {k: {_norm(v) for v in vs} for k, vs in view.where.items()}
        for shown, rows in readable_splits(lr, view):
            seen: set[tuple[str, str]] = set()
            for row in rows:
                values = row.values
                if any(k in values and _norm(values[k]) not in ok for k, ok in where.items()):
                    continue
                for head_name, cfg in heads:
                    found = _head_values(cfg, view, values)
                    if found is None:
                        continue
                    for label in found:
                        if label in cfg.labels or (head_name, label) in seen:
                            continue
                        seen.add((head_name, label))
                        yield Problem(  # worded as training would say it, where the rows are
                            f"{shown}:{row.line}: data error: label '{label}' is not one of the "
                            "head's labels" + tail,
                            loc=lr.where("heads", head_name, "labels"),
                            path=f"heads.{head_name}.labels", expected=_listed(cfg.labels),
                            found=f"'{label}'", hint=did_you_mean(label, cfg.labels),
                            severity=severity)
                    scheme = getattr(cfg, "scheme", None)
                    if scheme and found and all(t in cfg.labels for t in found) and (
                            (head_name, "scheme") not in seen):
                        why = scheme_problem(found, scheme)
                        if why:
                            seen.add((head_name, "scheme"))
                            at = ("heads", head_name, "scheme")
                            yield Problem(
                                f"{shown}:{row.line}: data error: {why}{tail}",
                                loc=lr.where(*at) or lr.where("heads", head_name),
                                path=_dotted(at), expected=f"tags in {scheme.upper()}",
                                hint="set the head's scheme to the data's (bio or bioes)",
                                severity=severity)
