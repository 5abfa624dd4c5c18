"""The torch networks of the deep learners (imported only when one is built: torch is heavy).

Module-level classes, so that a fitted learner pickles within a process (joblib's workers);
files hold only their weights as arrays (``weights_``; :meth:`NeuralClassifier.network
<alwidget.learn.neural.NeuralClassifier.network>` rebuilds the network).
"""

from __future__ import annotations

import torch
from torch import nn

from .neural import dropout

__all__ = ["CRNNNet", "HeadNet"]


class CRNNNet(nn.Module):
    """Conv blocks over (bands, frames), a bidirectional GRU over time, max over time, softmax
    layer (logits out). ``forward(x, generator)``: x of shape (batch, n_mels * n_frames);
    ``embed(x)`` is the part before dropout (Monte-Carlo dropout runs it once)."""

    def __init__(self, n_mels: int, n_frames: int, channels: tuple, rnn_units: int, p: float,
                 n_classes: int):
        super().__init__()
        self.n_mels, self.n_frames, self.p = n_mels, n_frames, p
        convs, pools = [], []
        h, w, c_in = n_mels, n_frames, 1
        for i, c in enumerate(channels):
            convs.append(nn.Conv2d(c_in, c, 3, padding=1))
            ph = 2 if h >= 2 else 1  # frequency halved each block
            pw = 2 if i < 2 and w >= 4 else 1  # time halved in the first two
            pools.append((ph, pw))
            h, w, c_in = h // ph, w // pw, c
        self.conv = nn.ModuleList(convs)
        self.pools = pools
        self.rnn = nn.GRU(c_in * h, rnn_units, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * rnn_units, n_classes)

    def forward(self, x, generator):
        return self.out(dropout(self.embed(x), self.p, generator, self.training))

    def embed(self, x):
        """The deterministic trunk: pooled GRU features (batch, 2 * rnn_units)."""
        x = x.reshape(-1, 1, self.n_mels, self.n_frames)
        for conv, pool in zip(self.conv, self.pools):
            x = torch.relu(conv(x))
            x = max_pool(x, *pool)
        b, c, h, w = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b, w, c * h)  # (batch, time, features)
        x, _ = self.rnn(x)
        return x.max(dim=1).values


def max_pool(x, ph: int, pw: int):
    """``max_pool2d(x, (ph, pw))`` for ``ph, pw`` in {1, 2}. Without gradients (scoring) as
    element-wise maxima of strided views: the same values, ~10x faster on CPU than torch's
    kernel at these shapes (measured, torch 2.13: 5 vs 49 ms for (240, 16, 64, 48)); in
    training torch's kernel, whose backward is ~2x faster than the views'."""
    if (ph, pw) == (1, 1):
        return x
    if x.requires_grad:
        return nn.functional.max_pool2d(x, (ph, pw))
    if ph == 2:
        h = x.shape[2] // 2 * 2
        x = torch.maximum(x[:, :, 0:h:2], x[:, :, 1:h:2])
    if pw == 2:
        w = x.shape[3] // 2 * 2
        x = torch.maximum(x[..., 0:w:2], x[..., 1:w:2])
    return x


class HeadNet(nn.Module):
    """One hidden ReLU layer (none when ``hidden`` is 0), dropout, softmax layer (logits)."""

    def __init__(self, n_features: int, hidden: int, p: float, n_classes: int):
        super().__init__()
        self.p = p
        self.hidden = nn.Linear(n_features, hidden) if hidden else None
        self.out = nn.Linear(hidden or n_features, n_classes)

    def forward(self, x, generator):
        return self.out(dropout(self.embed(x), self.p, generator, self.training))

    def embed(self, x):
        """The deterministic trunk: the hidden layer's output (the input without one)."""
        return torch.relu(self.hidden(x)) if self.hidden is not None else x
