"""Pytrees: nested dicts, lists and tuples of float arrays, flattened to leaves with key paths.

A key path names a leaf as it is reached from the root, in the format of ``jax.tree_util.keystr``:
``['W1']`` for a dict key, ``[1]`` for a list or tuple position, ``['a'][0]`` nested, and ``''`` for the
root when x is a single array. Leaves come in the order a user sees them (dict insertion order); two
dicts with the same keys in another order are the same structure.

A list or tuple of plain numbers (``[3.0, 4.0]``, ``[[1.0, 2.0], [3.0, 4.0]]``) is one array, as NumPy
reads it; a list or tuple holding an array, a dict or another such container is a container.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.array_utils import byte_bounds
from numpy.typing import NDArray

__all__ = ["Flat", "WithLeaf", "flatten", "float_leaves", "is_tree", "match", "path_str"]

CONTAINERS = (dict, list, tuple)


@dataclass(frozen=True)
class Node:
    """The structure of a pytree without its leaves: a leaf, or a container of child nodes."""

    kind: type | None  # None for a leaf; dict, list, tuple, or a subclass (OrderedDict, a namedtuple's class)
    keys: tuple[Any, ...]  # dict keys (in x's order) or positions
    children: tuple[Node, ...]
    factory: Any = None  # a defaultdict's default_factory

    @property
    def mapping(self) -> bool:
        return self.kind is not None and issubclass(self.kind, dict)


def path_str(path: Sequence[Any]) -> str:
    """``['W1'][0]`` for the keys ``("W1", 0)`` (ints are positions, anything else a dict key)."""
    return "".join(f"[{k}]" if isinstance(k, int) and not isinstance(k, bool) else f"[{k!r}]" for k in path)


def _is_number_literal(x: object) -> bool:
    """Plain numbers, or lists/tuples of them (what np.asarray reads as one numeric array)."""
    if isinstance(x, list | tuple):
        return len(x) > 0 and all(_is_number_literal(v) for v in x)
    return isinstance(x, int | float | np.number) and not isinstance(x, bool | np.bool_)


def is_tree(x: object) -> bool:
    """Whether x is a container of arrays (a pytree) rather than one array-like."""
    if isinstance(x, dict):
        return True
    return isinstance(x, list | tuple) and not _is_number_literal(x)


def _items(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, dict):
        return list(node.items())
    return list(enumerate(node))


def _build(node: Node, values: list[Any]) -> Any:
    """A container of node's type holding `values` (f sees the kind of container it was given)."""
    kind, keys = node.kind, node.keys
    assert kind is not None
    if kind is dict:
        return dict(zip(keys, values, strict=True))
    if kind is list:
        return values
    if kind is tuple:
        return tuple(values)
    if issubclass(kind, defaultdict):
        return kind(node.factory, zip(keys, values, strict=True))
    if issubclass(kind, dict):
        return kind(zip(keys, values, strict=True))  # OrderedDict, and dict subclasses built alike
    cls: Any = kind
    return cls(*values) if hasattr(cls, "_fields") else cls(values)  # a namedtuple, or a list subclass


@dataclass(frozen=True)
class Flat:
    """A pytree taken apart: its structure, its leaves (the caller's own arrays) and their key paths."""

    node: Node
    leaves: tuple[Any, ...]
    paths: tuple[str, ...]

    @property
    def single(self) -> bool:
        """x was one array, not a container (its one leaf has the root path ``''``)."""
        return self.node.kind is None

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(int(np.size(leaf)) for leaf in self.leaves)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Where each leaf starts in the concatenated vector (and its total size last)."""
        return tuple(int(v) for v in np.concatenate([[0], np.cumsum(self.sizes, dtype=np.int64)]))

    def unflatten(self, leaves: Sequence[Any]) -> Any:
        """The same structure with `leaves` in place of the originals (a single array: leaves[0])."""
        it = iter(leaves)

        def build(node: Node) -> Any:
            if node.kind is None:
                return next(it)
            return _build(node, [build(c) for c in node.children])

        return build(self.node)

    def replaced(self, k: int, value: Any) -> Any:
        """The structure with leaf k replaced by `value`, the other leaves the caller's own arrays."""
        return self.unflatten([value if j == k else leaf for j, leaf in enumerate(self.leaves)])

    def concatenate(self, leaves: Sequence[Any], dtype: Any = np.float64) -> NDArray[Any]:
        """Leaves (of this structure's shapes) as one flat vector."""
        if not leaves:
            return np.zeros(0, dtype=dtype)
        return np.concatenate([np.ravel(np.asarray(v)).astype(dtype, copy=False) for v in leaves])

    def split(self, vector: NDArray[Any], dtypes: Sequence[Any] | None = None) -> list[NDArray[Any]]:
        """A flat vector cut into fresh arrays of the leaves' shapes (and `dtypes`, else the vector's)."""
        o = self.offsets
        out = []
        for k, leaf in enumerate(self.leaves):
            part = vector[o[k] : o[k + 1]].reshape(np.shape(leaf))
            out.append(np.array(part, dtype=None if dtypes is None else dtypes[k]))
        return out

    def views(self, vector: NDArray[Any]) -> list[NDArray[Any]]:
        """A flat vector seen as arrays of the leaves' shapes (no copies)."""
        o = self.offsets
        return [vector[o[k] : o[k + 1]].reshape(np.shape(leaf)) for k, leaf in enumerate(self.leaves)]

    def leaf_of(self, flat_index: int) -> tuple[int, tuple[int, ...]]:
        """The leaf holding element `flat_index` of the concatenated vector, and the index inside it."""
        o = self.offsets
        k = int(np.searchsorted(o, flat_index, side="right") - 1)
        shape = np.shape(self.leaves[k])
        inner = np.unravel_index(flat_index - o[k], shape) if shape else ()
        return k, tuple(int(i) for i in inner)


@dataclass(frozen=True)
class WithLeaf:
    """g of leaf k alone: the tree with leaf k replaced by the point (picklable when g and the leaves are,
    so an executor can run it). In place, the point *is* the caller's leaf, perturbed."""

    g: Callable[..., Any]
    flat: Flat
    k: int

    def __call__(self, v: Any) -> Any:
        return self.g(self.flat.replaced(self.k, v))


def float_leaves(x: Any, func: str) -> Flat:
    """x as a pytree whose leaves are real floating NumPy arrays (a TypeError names the first that is not)."""

    def leaf(value: Any, path: str) -> Any:
        _array_leaf(value, func, "x", path)
        if value.dtype.kind != "f":
            raise TypeError(
                f"{func}: every leaf of x must be a float array (float32 or float64); got {describe(value)} "
                f"at {path}. Pass np.asarray(leaf, dtype=np.float64)"
            )
        return value

    return disjoint_leaves(flatten(x, func, "x", leaf=leaf), func)


def disjoint_leaves(flat: Flat, func: str) -> Flat:
    """`flat` itself, where no two of its array leaves share an element; else a ``ValueError`` naming both.
    Each leaf is perturbed in place, so a leaf given twice (``{"a": w, "b": w}``) or two overlapping views
    would move together: every derivative of the one would hold the other's too."""
    arrays = [(byte_bounds(a), k) for k, a in enumerate(flat.leaves) if isinstance(a, np.ndarray) and a.size]
    arrays.sort()
    open_: list[tuple[int, int]] = []  # (end, leaf) of the leaves whose bytes reach past this one's start
    for (start, end), k in arrays:  # in order of their first byte: only bytes that overlap can be shared
        open_ = [(e, j) for e, j in open_ if e > start]
        for _, j in open_:
            if np.shares_memory(flat.leaves[j], flat.leaves[k]):  # exact (interleaved views share none)
                a, b = flat.paths[j], flat.paths[k]
                raise ValueError(
                    f"{func}: leaves x{a} and x{b} share memory (the same array twice, or overlapping "
                    f"views); each leaf is perturbed in place, so moving one would move the other. Pass "
                    f"separate arrays (x{b}.copy())"
                )
        open_.append((end, k))
    return flat


def flatten(x: Any, func: str, arg: str = "x", *, leaf: Callable[[Any, str], Any] | None = None) -> Flat:
    """Take x apart. `leaf(value, path)` validates (and may convert) each leaf; by default a leaf must be
    a NumPy array. A leaf that is not an array is a ``TypeError`` naming its path."""
    check = leaf or (lambda v, p: _array_leaf(v, func, arg, p))
    leaves: list[Any] = []
    paths: list[str] = []

    def walk(node: Any, path: tuple[Any, ...]) -> Node:
        if not is_tree(node):
            leaves.append(check(node, path_str(path)))
            paths.append(path_str(path))
            return Node(None, (), ())
        items = _items(node)
        if not items:
            raise ValueError(
                f"{func}: {arg}{path_str(path)} is an empty {type(node).__name__}; a pytree needs leaves"
            )
        children = tuple(walk(v, (*path, k)) for k, v in items)
        factory = node.default_factory if isinstance(node, defaultdict) else None
        return Node(type(node), tuple(k for k, _ in items), children, factory)

    node = walk(x, ())
    return Flat(node, tuple(leaves), tuple(paths))


def _array_leaf(value: Any, func: str, arg: str, path: str) -> Any:
    if not isinstance(value, np.ndarray):
        where = f" at {path}" if path else ""
        raise TypeError(
            f"{func}: every leaf of {arg} must be a NumPy float array; got {type(value).__name__}{where}. "
            f"Wrap it: np.asarray(value, dtype=np.float64)"
        )
    return value


def describe(value: Any) -> str:
    """A leaf or a subtree in a few words, for messages."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    if isinstance(value, dict):
        return f"a dict with keys {list(value)}"
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {len(value)} items"
    return type(value).__name__


def match(
    flat: Flat,
    other: Any,
    func: str,
    arg: str,
    *,
    shape_of: Callable[[int], tuple[int, ...]] | None = None,
) -> list[NDArray[Any]]:
    """`other`'s leaves in `flat`'s order, after checking that it has x's structure and shapes.

    `shape_of(k)` is the shape leaf k of `other` must have (default: leaf k of x's). Raises a
    ``ValueError`` (structure, shape) or ``TypeError`` (a leaf that is not numeric) naming the path.
    """
    want = shape_of or (lambda k: tuple(np.shape(flat.leaves[k])))
    out: list[NDArray[Any]] = []
    counter = iter(range(len(flat.leaves)))

    def walk(node: Node, value: Any, path: tuple[Any, ...]) -> None:
        where = f"{arg}{path_str(path)}"
        if node.kind is None:
            k = next(counter)
            out.append(_numeric_leaf(value, want(k), func, where, flat.leaves[k]))
            return
        expected = "a dict" if node.mapping else f"a {node.kind.__name__} of {len(node.keys)} items"
        if node.mapping:
            if not isinstance(value, dict):
                raise ValueError(f"{func}: {where} must be {expected} like x; got {describe(value)}")
            missing = [k for k in node.keys if k not in value]
            if missing:
                raise ValueError(
                    f"{func}: {arg} is missing the key {missing[0]!r} at {path_str((*path, missing[0]))} "
                    f"(x has {flat_leaf_or_tree(node, missing[0])} there)"
                )
            extra = [k for k in value if k not in node.keys]
            if extra:
                raise ValueError(
                    f"{func}: {arg} has an extra key {extra[0]!r} at {path_str((*path, extra[0]))} that x "
                    f"does not have (x's keys there: {list(node.keys)})"
                )
            children = [value[k] for k in node.keys]
        else:
            if not isinstance(value, list | tuple):
                raise ValueError(f"{func}: {where} must be {expected} like x; got {describe(value)}")
            if len(value) != len(node.keys):
                more = "an extra leaf" if len(value) > len(node.keys) else "a missing leaf"
                raise ValueError(
                    f"{func}: {where} has {len(value)} items where x has {len(node.keys)} ({more}); "
                    f"expected {expected}"
                )
            children = list(value)
        for key, child, sub in zip(node.keys, children, node.children, strict=True):
            walk(sub, child, (*path, key))

    walk(flat.node, other, ())
    return out


def flat_leaf_or_tree(node: Node, key: Any) -> str:
    """What x holds under `key` of a dict node, for messages."""
    child = node.children[node.keys.index(key)]
    return "an array" if child.kind is None else f"a {child.kind.__name__}"


def _numeric_leaf(value: Any, shape: tuple[int, ...], func: str, where: str, like: Any) -> NDArray[Any]:
    if isinstance(value, dict | list | tuple) and is_tree(value):
        raise ValueError(f"{func}: {where} must be an array of shape {shape}; got {describe(value)}")
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise TypeError(
            f"{func}: {where} must be a real numeric array of shape {shape}; got {describe(value)}"
        )
    if a.shape != shape:
        hint = ": it is the transpose (dW.T?)" if a.ndim == 2 and a.shape == shape[::-1] else ""
        raise ValueError(f"{func}: {where} must have shape {shape}; got shape {a.shape}{hint}")
    return a if a.dtype.kind == "f" else a.astype(np.float64)
