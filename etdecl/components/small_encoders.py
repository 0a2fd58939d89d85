"""Small encoders over word-piece embeddings: TextCNN (Kim 2014) and a BiLSTM.

Both read the same ids a transformer's tokenizer produces (so they share its tokenizer and can
start from its embedding matrix), and both return pooled and per-token outputs, so they serve
every task type, and serve as students and as private towers.
"""

from __future__ import annotations

import torch
from torch import nn

from .outputs import EncoderOutput, masked_mean


def make_embedding(
    vocab_size: int, dim: int, pad_id: int, weights: torch.Tensor | None, freeze: bool
) -> nn.Embedding:
    """Random embeddings, or a copy of a pretrained matrix (e.g. a transformer's word table)."""
    emb = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
    if weights is not None:
        if tuple(weights.shape) != (vocab_size, dim):
            raise ValueError(
                f"embedding matrix is {tuple(weights.shape)}, expected ({vocab_size}, {dim})"
            )
        with torch.no_grad():
            emb.weight.copy_(weights)
    emb.weight.requires_grad_(not freeze)
    return emb


class TextCNN(nn.Module):
    """Parallel 1-d convolutions of several widths, max-pooled over time (Kim 2014).

    Token outputs are the concatenated convolution maps ('same' padding), so tag and span heads
    can read them too.
    """

    def __init__(self, embedding: nn.Embedding, widths: list[int], channels: int,
                 dropout: float) -> None:
        super().__init__()
        self.embedding = embedding
        dim = embedding.embedding_dim
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, w, padding=w // 2) for w in widths)
        self.dropout = nn.Dropout(dropout)
        self.hidden_size = channels * len(widths)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> EncoderOutput:
        x = self.dropout(self.embedding(input_ids)).transpose(1, 2)  # (B, D, T)
        steps = input_ids.shape[1]
        maps = [torch.relu(conv(x))[..., :steps] for conv in self.convs]
        tokens = torch.cat(maps, dim=1).transpose(1, 2)  # (B, T, C*W)
        mask = attention_mask.bool().unsqueeze(-1)
        pooled = tokens.masked_fill(~mask, float("-inf")).max(dim=1).values
        pooled = torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled))
        return EncoderOutput(self.dropout(pooled), tokens, attention_mask)


class BiLSTM(nn.Module):
    """A bidirectional LSTM over embeddings; pooled is the masked mean (or max) of its states."""

    def __init__(self, embedding: nn.Embedding, hidden: int, layers: int, dropout: float,
                 pooling: str = "mean") -> None:
        super().__init__()
        self.embedding = embedding
        self.lstm = nn.LSTM(
            embedding.embedding_dim, hidden, num_layers=layers, batch_first=True,
            bidirectional=True, dropout=dropout if layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.pooling = pooling
        self.hidden_size = 2 * hidden

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> EncoderOutput:
        x = self.dropout(self.embedding(input_ids))
        lengths = attention_mask.long().sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        tokens, _ = nn.utils.rnn.pad_packed_sequence(
            out, batch_first=True, total_length=input_ids.shape[1]
        )
        if self.pooling == "max":
            m = attention_mask.bool().unsqueeze(-1)
            pooled = tokens.masked_fill(~m, float("-inf")).max(1).values
            pooled = torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled))
        else:
            pooled = masked_mean(tokens, attention_mask)
        return EncoderOutput(self.dropout(pooled), self.dropout(tokens), attention_mask)
