"""`etdecl report RUN_DIR`: what a finished (or running) run did, read back from its files.

Pure functions over the run directory's records (selection logs, metrics.jsonl, result.json),
so they are tested without the command line; `etdecl/commands/report.py` only prints. Nothing
here imports torch; matplotlib is imported when a plot is drawn.
"""
