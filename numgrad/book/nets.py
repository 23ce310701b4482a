"""The nets of chapter 4: the book's ``simpleNet`` and ``TwoLayerNet``, with fast numerical gradients.

``TwoLayerNet.numerical_gradient`` is the book's central difference over every parameter, computed by
exploiting the net's structure (:mod:`numgrad.book.structured`): for ``TwoLayerNet(784, 50, 10)``
and a batch of 100 MNIST images, the 79,520 perturbed losses take a fraction of a second instead of
the textbook loop's tens of seconds. ``mode="generic"`` runs :func:`numgrad.numerical_gradient` over
each parameter (the textbook loop) at the same step; both give the same numbers within rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from numgrad.book.functions import sigmoid, softmax
from numgrad.book.losses import LOG_DELTA, cross_entropy_error
from numgrad.book.structured import two_layer_differences
from numgrad.common import numerics as nm
from numgrad.common.validate import as_float_array, choice, class_labels, positive_int, seed_generator
from numgrad.differences.gradient import numerical_gradient as _engine_gradient

__all__ = ["SimpleNet", "TwoLayerNet"]

F64 = NDArray[np.float64]
GRADIENT_MODES = ("structured", "generic")
# The book's printed weights of simpleNet (chapter 4.4.2): with x = [0.6, 0.9], t = 2 the loss is 0.928...
BOOK_SIMPLE_W = ((0.47355232, 0.9977393, 0.84668094), (0.85557411, 0.03563661, 0.69422093))


def _step(h: float | None, func: str) -> float:
    """The step of every parameter: :func:`numgrad.common.numerics.net_step`, or the given h."""
    if h is None:
        return nm.net_step(np.float64)
    if isinstance(h, bool) or not isinstance(h, int | float) or not (np.isfinite(h) and h > 0):
        raise ValueError(f"{func}: h must be a positive finite number or None; got {h!r}")
    return float(h)


def _labels(t: ArrayLike, n: int, classes: int, func: str) -> NDArray[np.intp]:
    """Integer labels (N,) from labels or one-hot rows (N, C); anything else is an error."""
    ta = np.asarray(t)
    if ta.shape == (n, classes) and ta.dtype.kind in "biuf":
        one_hot = np.all((ta == 0) | (ta == 1), axis=1) & (np.sum(ta == 1, axis=1) == 1)
        if not one_hot.all():
            raise ValueError(
                f"{func}: one-hot t must hold a single 1 and zeros in each row; row "
                f"{int(np.flatnonzero(~one_hot)[0])} does not"
            )
        return np.asarray(np.argmax(ta, axis=1), dtype=np.intp)
    if ta.shape != (n,):
        raise ValueError(
            f"{func}: t must be integer labels of shape ({n},) or one-hot rows of shape ({n}, {classes}); "
            f"got shape {ta.shape}"
        )
    return class_labels(ta, classes, func)


class SimpleNet:
    """The book's ``simpleNet``: ``softmax(x · W)`` with cross-entropy loss, W of shape (2, 3) by default.

    Parameters
    ----------
    W : array_like (D, C), optional
        The weights (copied); by default standard normal, as the book's ``np.random.randn(2, 3)``.
    seed : int, optional
        Seed of the drawn weights.

    Examples
    --------
    >>> net = SimpleNet(BOOK_SIMPLE_W)
    >>> round(net.loss(np.array([0.6, 0.9]), np.array([0, 0, 1])), 6)  # the book: 0.92806853663411326
    0.928068
    """

    def __init__(self, W: ArrayLike | None = None, *, seed: int | None = None) -> None:
        if W is None:
            W = seed_generator(seed, "SimpleNet").standard_normal((2, 3))
        w = np.array(as_float_array(W, "SimpleNet", "W"), dtype=np.float64)
        if w.ndim != 2 or 0 in w.shape:
            raise ValueError(f"SimpleNet: W must be a non-empty matrix (D, C); got shape {w.shape}")
        self.W: F64 = w

    def predict(self, x: ArrayLike) -> F64:
        """Scores ``x · W``: shape (C,) for one sample (D,), (N, C) for a batch (N, D)."""
        xa = as_float_array(x, "SimpleNet.predict", "x")
        if xa.shape[-1:] != self.W.shape[:1] or xa.ndim > 2:
            d = self.W.shape[0]
            raise ValueError(f"SimpleNet.predict: x must have shape ({d},) or (N, {d}); got {xa.shape}")
        return np.asarray(xa @ self.W, dtype=np.float64)

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """The book's loss: ``cross_entropy_error(softmax(x · W), t)``; t labels or one-hot."""
        return float(cross_entropy_error(softmax(self.predict(x)), t))

    def numerical_gradient(self, x: ArrayLike, t: ArrayLike, *, h: float | None = None) -> F64:
        """``dL/dW`` by the book's idiom ``numerical_gradient(lambda W: net.loss(x, t), net.W)``.

        ``h=None`` lets :func:`numgrad.numerical_gradient` choose the steps; ``h=1e-4`` is the book's.
        """
        return np.asarray(_engine_gradient(lambda _: self.loss(x, t), self.W, h=h), dtype=np.float64)

    def gradient(self, x: ArrayLike, t: ArrayLike) -> F64:
        """``dL/dW`` by backpropagation (exact, including the 1e-7 inside the book's log)."""
        xa = as_float_array(x, "SimpleNet.gradient", "x")
        y = np.atleast_2d(softmax(self.predict(xa)))
        ta = np.asarray(t)[None] if xa.ndim == 1 else t  # one sample: a batch of one
        labels = _labels(ta, len(y), y.shape[1], "SimpleNet.gradient")
        return np.asarray(np.atleast_2d(xa).T @ _logit_gradient(y, labels))


def _logit_gradient(y: F64, labels: NDArray[np.intp]) -> F64:
    """``dL/da`` of the mean of ``−log(softmax(a)_t + 1e-7)``: ``r·(y − onehot(t)) / N``, ``r = y_t/(y_t+δ)``.

    The book's ``(y − t) / N`` drops the factor r, which is 1 − 1e-7/y_t: off by 1e-6 where y_t ≈ 0.1.
    """
    n = len(y)
    y_t = y[np.arange(n), labels]
    r = y_t / (y_t + LOG_DELTA)
    out = y * r[:, None]
    out[np.arange(n), labels] -= r
    return np.asarray(out / n)


class TwoLayerNet:
    """The book's two-layer net: ``softmax(sigmoid(x·W1 + b1)·W2 + b2)``, cross-entropy loss.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        D, H, C: W1 is (D, H), b1 (H,), W2 (H, C), b2 (C,), all float64.
    weight_init_std : float
        Standard deviation of the normal initial weights (biases start at 0), the book's 0.01.
    seed : int, optional
        Seed of the initial weights (``numpy.random.default_rng(seed)``).

    Attributes
    ----------
    params : dict of str to ndarray
        ``W1, b1, W2, b2``; training updates them in place, as in the book.

    Examples
    --------
    >>> net = TwoLayerNet(784, 50, 10, seed=0)
    >>> x, t = np.zeros((3, 784)), np.array([1, 2, 3])
    >>> net.predict(x).shape, round(net.loss(x, t), 2)
    ((3, 10), 2.3)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        seed: int | None = None,
    ) -> None:
        sizes = {"input_size": input_size, "hidden_size": hidden_size, "output_size": output_size}
        d, h, c = (positive_int(v, "TwoLayerNet", name) for name, v in sizes.items())
        if (
            isinstance(weight_init_std, bool)
            or not isinstance(weight_init_std, int | float)
            or weight_init_std < 0
        ):
            raise ValueError(
                f"TwoLayerNet: weight_init_std must be a non-negative number; got {weight_init_std!r}"
            )
        rng = seed_generator(seed, "TwoLayerNet")
        self.params: dict[str, F64] = {
            "W1": weight_init_std * rng.standard_normal((d, h)),
            "b1": np.zeros(h),
            "W2": weight_init_std * rng.standard_normal((h, c)),
            "b2": np.zeros(c),
        }

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(input_size, hidden_size, output_size)."""
        d, h = self.params["W1"].shape
        return d, h, self.params["W2"].shape[1]

    def _x(self, x: ArrayLike, func: str) -> F64:
        xa = as_float_array(x, func, "x")
        d = self.sizes[0]
        if xa.ndim != 2 or xa.shape[1] != d:
            raise ValueError(
                f"{func}: x must be a batch of shape (N, {d}); got shape {xa.shape}"
                + (". Pass x[None] for one sample" if xa.shape == (d,) else "")
            )
        return np.asarray(xa, dtype=np.float64)

    def _batch(self, x: ArrayLike, t: ArrayLike, func: str) -> tuple[F64, NDArray[np.intp]]:
        xa = self._x(x, func)
        return xa, _labels(t, len(xa), self.sizes[2], func)

    def predict(self, x: ArrayLike) -> F64:
        """Class probabilities, shape (N, C), for a batch x of shape (N, D)."""
        p = self.params
        z = sigmoid(self._x(x, "TwoLayerNet.predict") @ p["W1"] + p["b1"])
        return np.asarray(softmax(z @ p["W2"] + p["b2"]))

    def loss(self, x: ArrayLike, t: ArrayLike) -> float:
        """The book's ``cross_entropy_error(predict(x), t)``; t integer labels (N,) or one-hot (N, C)."""
        _, labels = self._batch(x, t, "TwoLayerNet.loss")
        return float(cross_entropy_error(self.predict(x), t if np.ndim(t) == 2 else labels))

    def accuracy(self, x: ArrayLike, t: ArrayLike) -> float:
        """Share of the batch whose most probable class is the label (labels or one-hot t)."""
        xa, labels = self._batch(x, t, "TwoLayerNet.accuracy")
        return float(np.mean(np.argmax(self.predict(xa), axis=1) == labels))

    def numerical_gradient(
        self, x: ArrayLike, t: ArrayLike, *, h: float | None = None, mode: str = "structured"
    ) -> dict[str, F64]:
        """Central-difference gradient of :meth:`loss` over W1, b1, W2, b2.

        Parameters
        ----------
        x, t : array_like
            A batch (N, D) and its labels (N,) or one-hot rows (N, C).
        h : float, optional
            The step of every weight; ``None`` takes ``cbrt(eps)`` as a power of two (2⁻¹⁷), ``1e-4``
            is the book's.
        mode : {"structured", "generic"}
            ``"structured"`` computes every perturbed loss from the net's structure in batched array
            passes (fast); ``"generic"`` runs :func:`numgrad.numerical_gradient` over each parameter,
            perturbing it in place and re-evaluating the loss (the textbook loop). Same steps, same
            numbers within rounding.

        Returns
        -------
        dict of str to ndarray
            Gradients with the parameters' names and shapes.

        Raises
        ------
        FloatingPointError
            If the structured pass overflows (a step far too large for the weights).
        """
        func = "TwoLayerNet.numerical_gradient"
        xa, labels = self._batch(x, t, func)
        choice(mode, GRADIENT_MODES, func, "mode")
        step = _step(h, func)
        if mode == "generic":

            def loss(_: Any) -> float:  # the book's idiom: f ignores its argument, reads the params
                return self.loss(x, t)

            return {k: np.asarray(_engine_gradient(loss, p, h=step)) for k, p in self.params.items()}
        grads = two_layer_differences(self.params, xa, labels, step)
        bad = [k for k, g in grads.items() if not np.all(np.isfinite(g))]
        if bad:
            raise FloatingPointError(
                f"{func}: the perturbed losses of {bad[0]} overflowed at step h={h} (a step this large "
                f"leaves the range where the net's values are finite); pass a smaller h, or mode='generic'"
            )
        return grads

    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, F64]:
        """Gradient of :meth:`loss` by backpropagation, exact (the 1e-7 inside the book's log included)."""
        xa, labels = self._batch(x, t, "TwoLayerNet.gradient")
        p = self.params
        a1 = xa @ p["W1"] + p["b1"]
        z = sigmoid(a1)
        da2 = _logit_gradient(softmax(z @ p["W2"] + p["b2"]), labels)
        da1 = (da2 @ p["W2"].T) * z * sigmoid(-a1)
        out: dict[str, Any] = {
            "W1": xa.T @ da1,
            "b1": da1.sum(axis=0),
            "W2": z.T @ da2,
            "b2": da2.sum(axis=0),
        }
        return out
