"""Fuzzing the data readers: whatever bytes a data file holds, reading it through the reader,
`validate` and the trainer's examples loader gives rows or a DataError naming the file and line,
never a traceback; and files as spreadsheet programs save them read back as written.

Profiles, chosen by the environment variable ETDECL_FUZZ_PROFILE (as test_fuzz_validate.py):
  ci       (default)  250 files + 150 spreadsheet files, derandomised: the same every run
  nightly             10,000 files + 2,000 spreadsheet files, a fresh random seed each run
"""

from __future__ import annotations

import os

from fuzz_data import check_file, data_files, spreadsheet_files
from hypothesis import HealthCheck, given, settings

NIGHTLY = os.environ.get("ETDECL_FUZZ_PROFILE", "ci") == "nightly"
COMMON = dict(deadline=None, database=None, print_blob=True, derandomize=not NIGHTLY,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much, HealthCheck.large_base_example])


@settings(max_examples=10_000 if NIGHTLY else 250, **COMMON)
@given(case=data_files())
def test_any_data_file_gives_rows_or_located_errors(case: tuple[str, bytes]) -> None:
    name, raw = case
    check_file(name, raw)


@settings(max_examples=2_000 if NIGHTLY else 150, **COMMON)
@given(case=spreadsheet_files())
def test_spreadsheet_files_read_back_as_written(case) -> None:
    name, raw, expected = case
    rows = check_file(name, raw)
    assert [r.values for r in rows] == expected
