"""Data files as they arrive (JSONL, CSV, TSV, compressed, odd encodings): rows that know
their file and line, or a DataError naming the cause. Pure Python and torch-free: `validate`
peeks at data through it, training reads through it."""
