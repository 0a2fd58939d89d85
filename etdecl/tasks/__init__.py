"""Task types: what a head predicts, how it is trained, decoded and scored.

One module per task type (classify, match, tag, span) plus the pieces they share (the CRF,
SQuAD scoring, span decoding, tagging schemes).
"""
