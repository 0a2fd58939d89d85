"""Model components, one registry per kind: encoders and heads. Builders import torch."""
