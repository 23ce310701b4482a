"""Hypothesis strategies and gradient assertions for your own test suite.

Put :func:`assert_gradient_close` inside a ``@given`` test and hypothesis shrinks a wrong gradient to the
smallest input that shows it::

    from hypothesis import given
    from numgrad.testing import assert_gradient_close, classification_batches

    @given(classification_batches())
    def test_softmax_ce_gradient(batch):
        logits, labels = batch
        assert_gradient_close(lambda z: loss(z, labels), logits, my_grad(logits, labels))

A hand-written backward is checked the same way with :func:`assert_vjp_close`, over a pytree of
parameters drawn by :func:`pytree_of`::

    @given(pytree_of({"x": (4, 3), "W": (3, 2), "b": (2,)}))
    def test_affine_backward(p):
        assert_vjp_close(affine_forward, p, lambda dout: affine_backward(p, dout))

Needs hypothesis (the ``testing`` extra); the rest of numgrad does not import this module.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import DTypeLike, NDArray

from numgrad.checking.check import assert_gradient_close, check_gradient
from numgrad.checking.hessian import assert_hessian_close, check_hessian
from numgrad.checking.vector import assert_jvp_close, assert_vjp_close, check_jvp, check_vjp
from numgrad.common.extras import missing_extra

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ModuleNotFoundError as exc:  # one line naming the extra, not hypothesis' own traceback
    raise missing_extra(exc, needed_by="numgrad.testing") from None

__all__ = [
    "assert_gradient_close",
    "assert_hessian_close",
    "assert_jvp_close",
    "assert_vjp_close",
    "batch_sizes",
    "check_gradient",
    "check_hessian",
    "check_jvp",
    "check_vjp",
    "classification_batches",
    "float_arrays",
    "labels",
    "logits",
    "one_hot_targets",
    "probabilities",
    "pytree_of",
    "pytrees",
    "shapes",
    "two_layer_params",
]

Size = int | st.SearchStrategy[int]
Shape = tuple[int, ...] | st.SearchStrategy[tuple[int, ...]]

DEFAULT_BOUND = 10.0  # well-scaled: |x| <= 10 keeps exp(), log-sum-exp and products of layers finite
LOGIT_BOUND = 5.0  # softmax of logits within ±5 keeps every probability above ~5e-5 for 10 classes
MIN_PROBABILITY = 1e-3  # probability vectors stay off 0, where log(y + 1e-7) has a short length scale
WEIGHT_SCALE = 1.0  # two-layer parameters are drawn within ±WEIGHT_SCALE (sigmoid stays unsaturated)


def _size(value: Size, what: str) -> st.SearchStrategy[int]:
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"numgrad.testing: {what} must be a positive int or a strategy; got {value!r}")
    return st.just(value)


WIDTHS: dict[str, Literal[16, 32, 64]] = {"float16": 16, "float32": 32, "float64": 64}


def _bound(value: object, what: str, dtype: DTypeLike) -> float:
    """A positive finite bound that `dtype` can hold, else a ValueError naming the argument."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf
    top = float(np.finfo(np.dtype(dtype)).max) if np.dtype(dtype).kind == "f" else math.inf
    if not ok or value > top:  # type: ignore[operator]
        raise ValueError(
            f"numgrad.testing: {what} must be a positive finite number within {np.dtype(dtype).name}'s "
            f"range (at most {top:.3g}); got {value!r}"
        )
    return float(value)  # type: ignore[arg-type]


def _elements(dtype: DTypeLike, low: float, high: float) -> st.SearchStrategy[float]:
    name = np.dtype(dtype).name
    if name not in WIDTHS:
        raise TypeError(f"numgrad.testing: dtype must be float16, float32 or float64; got {name}")
    return st.floats(
        low, high, width=WIDTHS[name], allow_nan=False, allow_infinity=False, allow_subnormal=False
    )


def shapes(
    *, min_dims: int = 1, max_dims: int = 2, min_side: int = 1, max_side: int = 8
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes (shrinking towards fewer and shorter dimensions).

    Examples
    --------
    >>> shapes(max_dims=2).example()  # doctest: +SKIP
    (3, 1)
    """
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def batch_sizes(*, min_size: int = 1, max_size: int = 32) -> st.SearchStrategy[int]:
    """Batch sizes N, shrinking towards `min_size` (a batch of one hides missing ``1/N`` factors)."""
    for value, what in ((min_size, "min_size"), (max_size, "max_size")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"numgrad.testing: batch_sizes' {what} must be a positive int; got {value!r}")
    if max_size < min_size:
        raise ValueError(
            f"numgrad.testing: batch_sizes needs min_size <= max_size; got {min_size} > {max_size}"
        )
    return st.integers(min_size, max_size)


def float_arrays(
    shape: Shape, *, dtype: DTypeLike = np.float64, bound: float = DEFAULT_BOUND
) -> st.SearchStrategy[NDArray[Any]]:
    """Finite, well-scaled float arrays: no NaN, inf or subnormals, every element within ``±bound``."""
    _elements(dtype, -1.0, 1.0)  # the dtype first (a TypeError), then the bound in it
    top = _bound(bound, "float_arrays' bound", dtype)
    return hnp.arrays(np.dtype(dtype), shape, elements=_elements(dtype, -top, top))


def logits(
    batch: Size, classes: Size, *, dtype: DTypeLike = np.float64, bound: float = LOGIT_BOUND
) -> st.SearchStrategy[NDArray[Any]]:
    """Scores of shape ``(batch, classes)`` within ``±bound``."""
    shape = st.tuples(_size(batch, "batch"), _size(classes, "classes"))
    return float_arrays(shape, dtype=dtype, bound=bound)


def labels(batch: Size, classes: Size) -> st.SearchStrategy[NDArray[np.int64]]:
    """Integer class labels of shape ``(batch,)`` in ``[0, classes)``."""

    sizes = st.tuples(_size(batch, "batch"), _size(classes, "classes"))

    @st.composite
    def draw_labels(draw: st.DrawFn) -> NDArray[np.int64]:
        n, c = draw(sizes)
        return draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))

    return draw_labels()


def one_hot_targets(
    batch: Size, classes: Size, *, dtype: DTypeLike = np.float64
) -> st.SearchStrategy[NDArray[Any]]:
    """One-hot rows of shape ``(batch, classes)``."""

    rows, width = _size(batch, "batch"), _size(classes, "classes")

    @st.composite
    def draw_one_hot(draw: st.DrawFn) -> NDArray[Any]:
        c = draw(width)
        return np.eye(c, dtype=dtype)[draw(labels(rows, c))]

    return draw_one_hot()


def probabilities(
    batch: Size, classes: Size, *, dtype: DTypeLike = np.float64, min_probability: float = MIN_PROBABILITY
) -> st.SearchStrategy[NDArray[Any]]:
    """Rows of probabilities of shape ``(batch, classes)``: each sums to 1, no entry below about
    `min_probability`."""
    ok = isinstance(min_probability, int | float) and not isinstance(min_probability, bool)
    if not (ok and 0 <= min_probability < math.inf):
        raise ValueError(
            f"numgrad.testing: probabilities' min_probability must be a finite number >= 0; got "
            f"{min_probability!r}"
        )
    weights = logits(batch, classes, dtype=np.float64, bound=1.0).map(lambda w: w + 1.0 + min_probability)
    return weights.map(lambda w: (w / w.sum(axis=-1, keepdims=True)).astype(dtype))


def classification_batches(
    *,
    min_batch: int = 1,
    max_batch: int = 16,
    min_classes: int = 2,
    max_classes: int = 10,
    dtype: DTypeLike = np.float64,
    targets: str = "labels",
) -> st.SearchStrategy[tuple[NDArray[Any], NDArray[Any]]]:
    """``(logits, targets)`` with matching shapes: logits ``(N, C)`` and labels ``(N,)`` or one-hot
    ``(N, C)`` (``targets="one_hot"``). Shrinks towards one sample of `min_classes` classes.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(classification_batches(max_batch=4))
    ... def test(batch):
    ...     z, t = batch
    ...     assert z.shape[0] == t.shape[0]
    >>> test()
    """
    if targets not in ("labels", "one_hot"):
        raise ValueError(f"classification_batches: targets must be 'labels' or 'one_hot'; got {targets!r}")

    @st.composite
    def draw_batch(draw: st.DrawFn) -> tuple[NDArray[Any], NDArray[Any]]:
        n = draw(batch_sizes(min_size=min_batch, max_size=max_batch))
        c = draw(st.integers(min_classes, max_classes))
        scores = draw(logits(n, c, dtype=dtype))
        t = draw(labels(n, c) if targets == "labels" else one_hot_targets(n, c, dtype=dtype))
        return scores, t

    return draw_batch()


def two_layer_params(
    input_size: Size,
    hidden_size: Size,
    output_size: Size,
    *,
    dtype: DTypeLike = np.float64,
    scale: float = WEIGHT_SCALE,
) -> st.SearchStrategy[dict[str, NDArray[Any]]]:
    """Parameters of the book's two-layer net: ``W1 (I, H)``, ``b1 (H,)``, ``W2 (H, O)``, ``b2 (O,)``,
    every entry within ``±scale``."""

    sizes = st.tuples(
        _size(input_size, "input_size"), _size(hidden_size, "hidden_size"), _size(output_size, "output_size")
    )

    @st.composite
    def draw_params(draw: st.DrawFn) -> dict[str, NDArray[Any]]:
        i, h, o = draw(sizes)
        layout = {"W1": (i, h), "b1": (h,), "W2": (h, o), "b2": (o,)}
        return {k: draw(float_arrays(s, dtype=dtype, bound=scale)) for k, s in layout.items()}

    return draw_params()


KEYS = "abcdefghij"  # dict keys of drawn pytrees: short, so shrunk examples stay readable


def pytrees(
    *,
    dtypes: tuple[DTypeLike, ...] = (np.float64, np.float32),
    max_leaves: int = 4,
    max_dims: int = 2,
    max_side: int = 4,
    bound: float = DEFAULT_BOUND,
) -> st.SearchStrategy[Any]:
    """Pytrees of float arrays: a single array, or nested dicts, lists and tuples of them (at most
    `max_leaves` leaves, each of its own dtype from `dtypes` and shape), shrinking towards one small
    float64 array.

    Examples
    --------
    >>> pytrees(max_leaves=3).example()  # doctest: +SKIP
    {'a': array([0.5]), 'b': [array([[1., -2.]], dtype=float32)]}
    """
    if isinstance(max_leaves, bool) or not isinstance(max_leaves, int) or max_leaves < 1:
        raise ValueError(f"numgrad.testing.pytrees: max_leaves must be a positive int; got {max_leaves!r}")
    if not dtypes:
        raise ValueError("numgrad.testing.pytrees: dtypes must name at least one float dtype; got ()")
    leaf = st.sampled_from([np.dtype(d) for d in dtypes]).flatmap(
        lambda d: float_arrays(shapes(min_dims=0, max_dims=max_dims, max_side=max_side), dtype=d, bound=bound)
    )

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.dictionaries(st.sampled_from(KEYS), children, min_size=1, max_size=3),
            st.lists(children, min_size=1, max_size=3),
            st.lists(children, min_size=1, max_size=3).map(tuple),
        )

    return st.recursive(leaf, extend, max_leaves=max_leaves)


def pytree_of(
    spec: Any, *, dtype: DTypeLike = np.float64, bound: float = DEFAULT_BOUND
) -> st.SearchStrategy[Any]:
    """Pytrees of a given structure: `spec` is a dict, list or tuple whose leaves are shapes (tuples of
    ints, or strategies of shapes), e.g. ``{"W": (3, 4), "b": (4,)}``.

    Examples
    --------
    >>> p = pytree_of({"W": (3, 4), "b": (4,)}).example()
    >>> p["W"].shape, p["b"].shape
    ((3, 4), (4,))
    """
    if isinstance(spec, st.SearchStrategy) or (
        isinstance(spec, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in spec)
    ):
        return float_arrays(spec, dtype=dtype, bound=bound)
    if isinstance(spec, dict):
        return st.fixed_dictionaries({k: pytree_of(v, dtype=dtype, bound=bound) for k, v in spec.items()})
    if isinstance(spec, list):
        return st.tuples(*(pytree_of(v, dtype=dtype, bound=bound) for v in spec)).map(list)
    if isinstance(spec, tuple):
        return st.tuples(*(pytree_of(v, dtype=dtype, bound=bound) for v in spec))
    raise TypeError(
        f"numgrad.testing.pytree_of: spec must be a shape (a tuple of ints), a strategy of shapes, or a "
        f"dict / list / tuple of them; got {type(spec).__name__}"
    )
