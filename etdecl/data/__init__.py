"""Data: readers and sources are pure Python; tokenisation and batching import torch lazily."""
