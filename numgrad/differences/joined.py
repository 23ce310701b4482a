"""Second derivatives of a pytree x: its leaves joined into one vector, and the Hessian cut into blocks.

A Hessian couples every pair of leaves, so a pytree x is differenced as one concatenated vector: the engine
perturbs that vector (in place, as for one array) and :class:`Joined` hands f the tree. With leaves of one
dtype each point is written into the caller's own leaves before f is called, so an f that reads its
parameters from a closure sees the perturbation, as :func:`numgrad.numerical_gradient` promises; leaves of
mixed dtypes are joined in float64 and f receives fresh arrays (views of the point) instead.

The Hessian of a tree is the tree of trees ``jax.hessian`` returns: ``hess[p][q]`` (``p``, ``q`` key paths
of x) of shape ``leaf_p.shape + leaf_q.shape``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from numgrad.common.guard import changed_at, mutation_error, unchanged_tree
from numgrad.common.trees import Flat, flatten, float_leaves, match
from numgrad.common.validate import callable_arg, finite_point
from numgrad.differences.engine import Problem, make_problem

__all__ = [
    "Joined",
    "joined",
    "joined_dtype",
    "matched_square",
    "refuse_batched",
    "square",
    "square_flat",
    "tree_argument",
    "tree_index",
    "tree_name",
    "tree_step",
]


@dataclass
class Joined:
    """f of the concatenated leaves. Called with the engine's own vector (perturbed in place) and `write`,
    it writes the point into the caller's leaves, calls f on the caller's tree and checks that f left
    every leaf as it found it; called with any other array (a float64 copy, an executor's row), it hands
    f fresh leaves cut from that array. `out` maps f's result (a gradient's tree: to one vector)."""

    f: Callable[..., Any]
    flat: Flat
    vector: NDArray[Any]
    write: bool
    func: str
    out: Callable[[Any], Any] | None = field(default=None)

    def __call__(self, v: Any) -> Any:
        if v is self.vector and self.write:
            parts = self.flat.views(v)
            for leaf, part in zip(self.flat.leaves, parts, strict=True):
                np.copyto(leaf, part)
            result = self.f(self.flat.unflatten(self.flat.leaves))
            for leaf, part, path in zip(self.flat.leaves, parts, self.flat.paths, strict=True):
                j = changed_at(leaf, part)
                if j is not None:
                    was, now = part.reshape(-1)[j].item(), leaf.reshape(-1)[j].item()
                    raise mutation_error(self.func, "f", f"x{path}", leaf.shape, j, was, now)
        else:
            result = self.f(self.flat.unflatten(self.flat.split(np.asarray(v))))
        return result if self.out is None else self.out(result)


def tree_argument(x: Any, func: str) -> Flat:
    """x as a pytree of finite real floating arrays; a ``TypeError``/``ValueError`` names the leaf."""

    flat = float_leaves(x, func)
    for leaf, path in zip(flat.leaves, flat.paths, strict=True):
        finite_point(leaf, func, f"x{path}")
    return flat


def tree_step(func: str, h: object) -> None:
    """A pytree x takes one number for h (its leaves' shapes differ), or None."""
    if h is not None and (isinstance(h, bool) or not isinstance(h, int | float)):
        raise ValueError(f"{func}: h must be a number or None when x is a pytree; got {type(h).__name__}")


def refuse_batched(func: str, flat: Flat, batched: object) -> None:
    if batched is not False:
        raise ValueError(
            f"{func}: batched=True needs x to be a single array (a stack of points has no pytree form); got "
            f"a pytree of {len(flat.leaves)} leaves. Use batched=False, or an executor"
        )


def joined_dtype(flat: Flat) -> np.dtype[Any]:
    """The dtype of the joined vector: the leaves' own when they share one, else float64."""
    kinds = {leaf.dtype for leaf in flat.leaves}
    return next(iter(kinds)) if len(kinds) == 1 else np.dtype(np.float64)


@contextmanager
def joined(
    func: str,
    f: object,
    flat: Flat,
    *,
    batched: object = False,
    out_shape: tuple[int, ...] | None = None,
    out: Callable[[Any], Any] | None = None,
    dtype: Any = None,
    chunk_size: object = None,
    executor: Any = None,
) -> Iterator[Problem]:
    """The engine's problem for the tree `flat` as one vector (in `dtype`, default :func:`joined_dtype`).

    Inside the block the caller's leaves may hold a perturbed point; afterwards every leaf is bitwise
    what it was, or a MutatedArgumentError names the leaf f wrote into."""
    fn = callable_arg(f, func)
    refuse_batched(func, flat, batched)
    vdtype = np.dtype(dtype) if dtype is not None else joined_dtype(flat)
    write = executor is None and all(leaf.dtype == vdtype for leaf in flat.leaves)
    if write:
        for leaf, path in zip(flat.leaves, flat.paths, strict=True):
            if not leaf.flags.writeable:
                raise ValueError(
                    f"{func}: x{path} is read-only, but the leaves are perturbed in place (so that a "
                    f"function reading them from a closure sees the perturbation); pass a copy"
                )
    vector = flat.concatenate(flat.leaves, vdtype)
    call = Joined(fn, flat, vector, write, func, out)
    p = make_problem(func, call, vector, out_shape=out_shape, method="central", batched=False,
                     chunk_size=chunk_size, executor=executor)  # fmt: skip
    saved = [leaf.copy() for leaf in flat.leaves]
    with unchanged_tree(func, flat.leaves, flat.paths):
        try:
            yield p
        finally:
            if write:
                for leaf, old in zip(flat.leaves, saved, strict=True):
                    np.copyto(leaf, old)


def square(flat: Flat, matrix: NDArray[Any], dtype: Callable[[int, int], Any] | None = None) -> Any:
    """An (N, N) matrix over the joined vector as the tree of trees: block (p, q) of shape
    ``leaf_p.shape + leaf_q.shape`` (in ``dtype(p, q)``, default the matrix's)."""
    o, shapes = flat.offsets, [np.shape(leaf) for leaf in flat.leaves]

    def block(a: int, b: int) -> NDArray[Any]:
        part = matrix[o[a] : o[a + 1], o[b] : o[b + 1]].reshape(shapes[a] + shapes[b])
        return np.array(part, dtype=None if dtype is None else dtype(a, b))

    m = len(flat.leaves)
    return flat.unflatten([flat.unflatten([block(a, b) for b in range(m)]) for a in range(m)])


def square_flat(flat: Flat, func: str, arg: str) -> Flat:
    """The structure of a tree-of-trees Hessian of x (leaves: shape-only placeholders), to match against."""
    shapes = [np.shape(leaf) for leaf in flat.leaves]
    holders = [[np.broadcast_to(np.float64(0), sa + sb) for sb in shapes] for sa in shapes]
    tree = flat.unflatten([flat.unflatten(row) for row in holders])
    return flatten(tree, func, arg, leaf=lambda v, p: v)


def matched_square(flat: Flat, hess: Any, func: str, arg: str) -> tuple[NDArray[Any], np.dtype[Any]]:
    """A tree-of-trees Hessian (checked for x's structure and block shapes) as one (N, N) matrix, in the
    blocks' common dtype; and the coarsest dtype among the blocks."""
    blocks = match(square_flat(flat, func, arg), hess, func, arg)
    sizes, m = flat.sizes, len(flat.leaves)
    rows = [
        np.concatenate([blocks[a * m + b].reshape(sizes[a], sizes[b]) for b in range(m)], axis=1)
        for a in range(m)
    ]
    coarsest = max((b.dtype for b in blocks), key=lambda d: float(np.finfo(d).eps))
    return np.concatenate(rows, axis=0), coarsest


def tree_index(flat: Flat, i: int) -> tuple[str, tuple[int, ...]]:
    """The key path and the index inside its leaf of element i of the joined vector."""
    k, inner = flat.leaf_of(i)
    return flat.paths[k], inner


def tree_name(flat: Flat) -> Callable[[int], str]:
    """Element i of the joined vector as a user writes it: ``x['W'][1, 2]``."""

    def name(i: int) -> str:
        path, inner = tree_index(flat, i)
        return f"x{path}{list(inner) if inner else ''}"

    return name
