"""A softmax cross-entropy whose hand-written gradient forgot to divide by the batch size N.

`numgrad check docs/forgot_one_over_n.py:loss --shape 8,10 --grad docs/forgot_one_over_n.py:grad`
finds it (the README's tour draws the heatmap of this check).
"""

import numpy as np

N = 8
LABELS = np.random.default_rng(0).integers(0, 10, N)


def loss(z):
    s = z - z.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return -np.sum(log_p[np.arange(N), LABELS]) / N


def grad(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(N), LABELS] -= 1
    return p  # the bug: should be p / N
