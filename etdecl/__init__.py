"""etdecl: declarative YAML model assembly for deep transfer learning in NLP."""

__version__ = "0.1.0"
