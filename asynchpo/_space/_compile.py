"""Compiling a user's space into a :class:`Space`, and the :class:`Space` itself."""

from __future__ import annotations

import hashlib
import heapq
import math
import numbers
import reprlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from asynchpo._exceptions import SpaceError
from asynchpo._kinds import INTEGER_KINDS, Kind
from asynchpo._space._describe import _canonical, _expressions, _shape, option_values
from asynchpo._space._params import (
    Mask,
    Param,
    Rows,
    _make_param,
    _param_signature,
    _value_bounds,
)
from asynchpo._space._sampling import _Sampler
from asynchpo._space._templates import (
    _GRID_TOLERANCE,
    _Call,
    _choices,
    _Const,
    _Dict,
    _List,
    _lookup,
    _number,
    _Select,
    _Template,
    _Tuple,
    _Value,
)
from asynchpo.hp import Apply, Choice, Node, Numeric, PChoice, _format_number

__all__ = ["MAX_DEPTH", "MAX_SUPPORT", "Space", "compile_space", "space_eval"]
# The same slack for bounds, relative to the scale of the range: a user who writes
# loguniform('lr', math.log(1e-5), 0) and then suggests lr=1e-5 must not be refused because
# exp(log(1e-5)) is not exactly 1e-5.
_BOUND_TOLERANCE = 1e-9
# Space.support lists at most this many values unless given a limit.
MAX_SUPPORT = 100_000


# --- compiling ----------------------------------------------------------------------------------


# The deepest nesting of containers, choices and scope conversions that a space may have. The
# builders of a compiled space (space_eval, describe) recurse once per level, a few frames each,
# and must stay well inside Python's recursion limit (1000) wherever fmin is called from; real
# spaces nest a handful of levels.
MAX_DEPTH = 100


def _tuple_depth(key: object) -> int:
    """How deeply tuples nest in a dict key (describe() renders such keys recursively)."""
    deepest, stack = 0, [(key, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, tuple):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((part, depth + 1) for part in item)
    return deepest


def _too_deep(obj: object, place: tuple[str, int] | None) -> SpaceError:
    if isinstance(obj, Node):
        where = f"at label {obj.label!r}"
    elif place is not None:
        where = f"under label {place[0]!r} (option {place[1]})"
    else:
        where = "outside any parameter"
    return SpaceError(
        f"the space nests containers and choices more than {MAX_DEPTH} levels deep ({where}); "
        "flatten it, e.g. one choice among the combinations instead of choices nested in "
        "choices"
    )


def _short_repr(obj: object) -> str:
    short = reprlib.Repr()
    short.maxstring, short.maxother = 60, 120
    return short.repr(obj)


def _same_definition(a: Node, b: Node) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:  # options holding objects with odd __eq__ (numpy arrays) compare unequal
        return False


class _Compiler:
    """One walk over the user's structure: finds the parameters, their places, the builders."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}  # by label, in the order first met
        self.top_level: set[str] = set()
        self.links: dict[str, set[tuple[str, int]]] = {}  # label -> {(choice label, option)}
        self.templates: dict[str, _Template] = {}
        self.on_path: set[int] = set()  # ids of the containers being walked
        self.depth = 0  # how many containers, choices and conversions enclose the walk

    def walk(self, obj: object, place: tuple[str, int] | None) -> _Template:
        if isinstance(obj, Node):
            return self._node(obj, place)
        if not isinstance(obj, (dict, list, tuple, Apply)):
            return _Const(obj)
        if self.depth >= MAX_DEPTH:
            raise _too_deep(obj, place)
        if isinstance(obj, Apply):
            self.depth += 1
            try:
                args = tuple(self.walk(arg, place) for arg in obj.args)
                return _Call(obj.name, args, _short_repr(obj))
            finally:
                self.depth -= 1
        if id(obj) in self.on_path:
            raise SpaceError(
                f"the space contains itself: a {type(obj).__name__} holds a reference to one of "
                "its own ancestors; build the space as a tree"
            )
        self.on_path.add(id(obj))
        self.depth += 1
        try:
            if isinstance(obj, dict):
                items = tuple((key, self._item(key, value, place)) for key, value in obj.items())
                return _Dict(None if type(obj) is dict else obj, items)
            children = tuple(self.walk(value, place) for value in obj)
            if isinstance(obj, list):
                return _List(None if type(obj) is list else obj, children)
            return _Tuple(type(obj), children)
        finally:
            self.depth -= 1
            self.on_path.discard(id(obj))

    def _item(self, key: object, value: object, place: tuple[str, int] | None) -> _Template:
        if isinstance(key, tuple) and self.depth + _tuple_depth(key) > MAX_DEPTH:
            raise _too_deep(key, place)
        return self.walk(value, place)

    def _node(self, node: Node, place: tuple[str, int] | None) -> _Template:
        label = node.label
        seen = self.nodes.get(label)
        if seen is not None and not _same_definition(seen, node):
            short = reprlib.Repr()
            short.maxstring, short.maxother = 60, 120
            raise SpaceError(
                f"two different parameters are labelled {label!r}: {short.repr(seen)} and "
                f"{short.repr(node)}; give each its own label (the same definition may be "
                "reused in several places)"
            )
        if place is None:
            self.top_level.add(label)
        if seen is not None:
            known = self.templates.get(label)
            if known is None:  # met again while walking its own options
                raise SpaceError(
                    f"parameter {label!r} appears inside one of its own options; "
                    "build the space as a tree"
                )
            if place is not None:
                self.links[label].add(place)
            return known
        self.nodes[label] = node
        self.links[label] = {place} if place is not None else set()
        if isinstance(node, (Choice, PChoice)):
            if self.depth >= MAX_DEPTH:
                raise _too_deep(node, place)
            self.depth += 1
            try:
                options = tuple(self.walk(o, (label, i)) for i, o in enumerate(node.options))
            finally:
                self.depth -= 1
            template: _Template = _Select(label, options)
        else:
            integer = isinstance(node, Numeric) and Kind(node.kind) in INTEGER_KINDS
            template = _Value(label, integer)
        self.templates[label] = template
        return template

    def order(self) -> list[str]:
        """The labels with parents first, otherwise in the order met (Kahn's algorithm).

        The order met is almost always right already; it is not when a parameter shared by two
        branches was first met under a choice that comes before the other branch's choice.
        """
        rank = {label: i for i, label in enumerate(self.nodes)}
        waiting: dict[str, int] = {}
        children: dict[str, list[str]] = {label: [] for label in self.nodes}
        for label in self.nodes:
            parents = set() if label in self.top_level else {p for p, _ in self.links[label]}
            waiting[label] = len(parents)
            for parent in parents:
                children[parent].append(label)
        ready = [rank[label] for label, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        labels = list(self.nodes)
        out: list[str] = []
        while ready:
            label = labels[heapq.heappop(ready)]
            out.append(label)
            for child in children[label]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, rank[child])
        if len(out) != len(labels):  # only possible through self-referencing containers
            stuck = sorted(set(labels) - set(out))
            raise SpaceError(f"the parameters {stuck} switch each other on; build a tree")
        return out


def compile_space(space: object) -> Space:
    """Compile a user's space (nodes nested in dicts, lists, tuples) into a :class:`Space`.

    Dicts are walked in insertion order. A :class:`Space` is returned unchanged.

    :raises SpaceError: if two different parameters share a label or the structure refers to
        itself.
    """
    if isinstance(space, Space):
        return space
    compiler = _Compiler()
    try:
        template = compiler.walk(space, None)
    except RecursionError:  # MAX_DEPTH levels, called from a stack that is already deep
        raise SpaceError(
            "the space is nested too deeply for Python's recursion limit; flatten it, e.g. "
            "one choice among the combinations instead of choices nested in choices"
        ) from None
    columns = {label: j for j, label in enumerate(compiler.order())}
    params = []
    for label, column in columns.items():
        if label in compiler.top_level:
            parents: tuple[tuple[int, int], ...] = ()
        else:
            parents = tuple(sorted((columns[p], i) for p, i in compiler.links[label]))
        params.append(_make_param(compiler.nodes[label], column, parents))
    return Space(params, template)


def space_eval(space: object, point: Mapping[str, object]) -> object:
    """The user's structure with the point's values filled in (hyperopt's ``space_eval``).

    :param space: a space as given to ``fmin``, or a compiled :class:`Space`.
    :param point: a point in hyperopt's argmin format; labels of inactive parameters are ignored.
    """
    return compile_space(space).evaluate(point)


class Space:
    """A compiled search space: one :class:`Param` per label, parents before children.

    Build one with :func:`compile_space`.
    """

    __slots__ = (
        "_bounds",
        "_cat_cols",
        "_columns",
        "_conditional",
        "_fingerprint",
        "_grid",
        "_labels",
        "_params",
        "_plan",
        "_q_cols",
        "_q_values",
        "_sampler",
        "_selects",
        "_template",
        "_tolerance",
        "_value_high",
        "_value_low",
    )

    def __init__(self, params: Sequence[Param], template: _Template) -> None:
        self._params = tuple(params)
        for j, p in enumerate(self._params):
            if p.column != j or any(parent >= j for parent, _ in p.parents):
                raise SpaceError(f"parameter {p.label!r} is out of order; use compile_space")
        self._template = template
        self._selects = _choices(template)
        self._labels = tuple(p.label for p in self._params)
        self._columns = MappingProxyType({label: j for j, label in enumerate(self._labels)})
        self._fingerprint: str | None = None
        self._plan = tuple((p.label, p.parents, p.categorical) for p in self._params)

        self._bounds = bounds = [_value_bounds(p) for p in self._params]
        self._value_low = np.array([lo for lo, _ in bounds], dtype=np.float64)
        self._value_high = np.array([hi for _, hi in bounds], dtype=np.float64)
        self._cat_cols = np.array([p.column for p in self._params if p.categorical], dtype=np.intp)
        quantized = [p for p in self._params if p.q is not None]
        self._q_cols = np.array([p.column for p in quantized], dtype=np.intp)
        self._q_values = np.array([p.q for p in quantized], dtype=np.float64)
        # to_row's checks, per column: the range of grid indices round(value / q) a quantized
        # parameter can reach, and the slack allowed on a continuous one's bounds.
        self._grid: list[tuple[float, float]] = []
        self._tolerance: list[float] = []
        for p, (lo, hi) in zip(self._params, bounds, strict=True):
            q = p.q or 1.0
            self._grid.append((float(np.round(lo / q)), float(np.round(hi / q))))
            finite = [abs(b) for b in (lo, hi) if math.isfinite(b)]
            width = hi - lo if math.isfinite(hi - lo) else 0.0
            self._tolerance.append(_BOUND_TOLERANCE * max([width, *finite]))
        self._sampler = _Sampler(self._params)
        self._conditional = tuple((j, p.parents) for j, p in enumerate(self._params) if p.parents)

    def __reduce__(self) -> tuple[type[Space], tuple[tuple[Param, ...], _Template]]:
        # MappingProxyType does not pickle; rebuild from the parts instead.
        return (Space, (self._params, self._template))

    def __repr__(self) -> str:
        inner = ", ".join(f"{p.label!r}: {_param_signature(p)}" for p in self._params)
        return f"Space({{{inner}}})"

    def __len__(self) -> int:
        return len(self._params)

    @property
    def params(self) -> tuple[Param, ...]:
        """The parameters, in column order (every parent before its children)."""
        return self._params

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels, in column order."""
        return self._labels

    @property
    def columns(self) -> Mapping[str, int]:
        """The column of each label."""
        return self._columns

    # --- rows -----------------------------------------------------------------------------------

    def _rows(self, rows: object) -> Rows:
        array = np.asarray(rows, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != len(self._params):
            raise SpaceError(
                f"expected rows of shape (n, {len(self._params)}), got shape {array.shape}"
            )
        return array

    def active(self, rows: npt.ArrayLike) -> Mask:
        """Which parameters are active in each row, from the values of their parents.

        :param rows: an ``(n, d)`` array; a parent's value must be an exact option index.
        :returns: a bool array of the same shape.
        """
        values = self._rows(rows)
        active = np.ones(values.shape, dtype=np.bool_)
        for j, parents in self._conditional:
            on = np.zeros(values.shape[0], dtype=np.bool_)
            for parent, option in parents:
                on |= active[:, parent] & (values[:, parent] == option)
            active[:, j] = on
        return active

    def sample(self, rng: np.random.Generator, n: int, *, every_label: bool = False) -> Rows:
        """``n`` independent draws from the prior, ``NaN`` where a parameter is inactive.

        All rows and parameters come from one uniform draw (and one normal draw if the space
        has normal kinds), transformed column-wise, so one point costs about as much as
        thousands, and the same seed gives the same rows.

        :param every_label: keep a value for every parameter, active or not (for algorithms
            that choose the branches themselves and need a prior draw for any label).
        :returns: an ``(n, d)`` float64 array.
        """
        if n < 0:
            raise SpaceError(f"cannot draw {n} samples; n must be at least 0")
        rows = self._sampler.draw(rng, n)
        if self._conditional and not every_label:
            rows[~self.active(rows)] = np.nan
        return rows

    def support_size(self, column: int) -> int | None:
        """How many values the parameter in ``column`` can take, or ``None`` if they are
        endless (continuous and normal kinds); computed, never listed."""
        p = self._params[column]
        if p.categorical:
            return p.n_options
        lo, hi = self._bounds[column]
        if p.q is None or not (math.isfinite(lo) and math.isfinite(hi)):
            return None
        first, last = self._grid[column]
        return int(last) - int(first) + 1

    def support(self, column: int, *, limit: int | None = None) -> npt.NDArray[np.float64] | None:
        """The values the parameter in ``column`` can take, smallest first, as an array.

        Categorical parameters give their option indices (randint: its values); quantized
        ones with finite bounds give their grid; continuous and normal kinds give ``None``.
        With ``limit``, only the first ``limit`` values; without, ``None`` also for a support
        of more than :data:`MAX_SUPPORT` values (ask :meth:`support_size` first).
        """
        size = self.support_size(column)
        if size is None:
            return None
        if limit is not None:
            size = min(size, limit)
        elif size > MAX_SUPPORT:
            return None
        p = self._params[column]
        if p.categorical:
            return np.arange(p.offset, p.offset + size, dtype=np.float64)
        first = self._grid[column][0]
        values: npt.NDArray[np.float64] = (first + np.arange(size, dtype=np.float64)) * (p.q or 1.0)
        return values

    def snap(self, rows: npt.ArrayLike) -> Rows:
        """A copy of ``rows`` moved into the support, ``NaN`` where inactive.

        Categorical values become the nearest valid index (or randint value); quantized values
        are clipped to their bounds before rounding (so the result is one that sampling could
        produce); continuous values are clipped; normal kinds are unbounded (lognormal ones stay
        non-negative). A ``NaN`` where the parameter is active stays ``NaN``.
        """
        out = np.clip(self._rows(rows), self._value_low, self._value_high)
        if self._q_cols.size:
            q = self._q_values
            out[:, self._q_cols] = np.round(out[:, self._q_cols] / q) * q
        if self._cat_cols.size:
            out[:, self._cat_cols] = np.round(out[:, self._cat_cols])
        out[~self.active(out)] = np.nan
        return out

    # --- points ---------------------------------------------------------------------------------

    def to_point(self, row: npt.ArrayLike) -> dict[str, float | int]:
        """The point (hyperopt's argmin format) of one row: its active labels only.

        Categorical parameters give an ``int`` (the option index; randint's value), the others a
        ``float`` (``uniformint`` too, as in hyperopt).

        :raises SpaceError: if an active value is NaN or a categorical one is not whole.
        """
        array = np.asarray(row, dtype=np.float64)
        if array.shape != (len(self._params),):
            raise SpaceError(f"expected a row of shape ({len(self._params)},), got {array.shape}")
        values: list[float] = array.tolist()
        active = [False] * len(values)
        point: dict[str, float | int] = {}
        for j, (label, parents, categorical) in enumerate(self._plan):
            if parents:
                for parent, option in parents:
                    if active[parent] and values[parent] == option:
                        break
                else:
                    continue
            value = values[j]
            if value != value:
                raise SpaceError(f"label {label!r} is active but its value is NaN in the row")
            active[j] = True
            if categorical:
                if not value.is_integer():
                    raise SpaceError(
                        f"label {label!r}: {value!r} is not a whole number; snap the row first"
                    )
                point[label] = int(value)
            else:
                point[label] = value
        return point

    def to_row(self, point: Mapping[str, object]) -> Rows:
        """The row of a point in hyperopt's argmin format; the inverse of :meth:`to_point`.

        Values given for inactive labels are ignored.

        :raises SpaceError: naming the label, for an unknown label, a missing active label or a
            value outside the support (not an option index, not on the q grid, out of bounds).
        """
        for label in point:
            if label not in self._columns:
                raise SpaceError(
                    f"unknown label {label!r} in the point; the space's labels are "
                    f"{list(self._labels)}"
                )
        values = [math.nan] * len(self._params)
        for j, (label, parents, _) in enumerate(self._plan):
            # An inactive parent is NaN here, which equals no option: no need to track activity.
            if parents and not any(values[parent] == option for parent, option in parents):
                continue
            values[j] = self._check(self._params[j], _lookup(label, point))
        return np.array(values, dtype=np.float64)

    def _check(self, p: Param, raw: object) -> float:
        value = _number(p.label, raw)
        j = p.column
        lo, hi = self._bounds[j]
        if p.categorical:
            if value.is_integer() and lo <= value <= hi:
                return value
            if p.kind is Kind.RANDINT:
                expected = f"an integer in [{p.offset}, {p.offset + p.n_options})"
                # In range, but not once a float64 (as rows hold it): say that.
                if (
                    isinstance(raw, numbers.Integral)
                    and p.offset <= int(raw) < p.offset + p.n_options
                ):
                    raise SpaceError(
                        f"label {p.label!r}: {raw!r} is {value:.0f} as a float64 (exact only "
                        f"to 2**53), outside [{lo:.0f}, {hi:.0f}]; pass a value in that range"
                    )
            else:
                expected = f"an option index (0 to {p.n_options - 1})"
            raise SpaceError(
                f"label {p.label!r}: {raw!r} is not {expected}, the support of "
                f"{_param_signature(p)}"
            )
        if p.q is not None:
            steps = value / p.q
            nearest = round(steps) if math.isfinite(steps) else math.nan
            if not abs(steps - nearest) <= _GRID_TOLERANCE * max(1.0, abs(steps)):
                raise SpaceError(
                    f"label {p.label!r}: {raw!r} is not a multiple of q={_format_number(p.q)} "
                    f"as {_param_signature(p)} requires"
                )
            first, last = self._grid[j]
            if first <= nearest <= last:
                return value
            raise SpaceError(
                f"label {p.label!r}: {raw!r} is outside the values "
                f"{_param_signature(p)} can take ({_format_number(first * p.q)} to "
                f"{_format_number(last * p.q)})"
            )
        slack = self._tolerance[j]
        if lo - slack <= value <= hi + slack:
            return value
        raise SpaceError(
            f"label {p.label!r}: {raw!r} is outside [{_format_number(lo)}, "
            f"{_format_number(hi)}], the support of {_param_signature(p)}"
        )

    def values(self, point: Mapping[str, object]) -> dict[str, object]:
        """Each active label's evaluated value: what ``space_eval`` puts where the label is.

        Numbers as ``evaluate`` gives them (``int`` for randint and uniformint); a ``choice`` or
        ``pchoice`` label gives its chosen option, evaluated. Labels not in the space are
        ignored; ``point`` must hold active labels only (as :meth:`to_point` returns).
        """
        out: dict[str, object] = {}
        for label in point:
            column = self._columns.get(label)
            if column is None:
                continue
            select = self._selects.get(label)
            if select is not None:
                out[label] = select.build(point)
            else:
                p = self._params[column]
                out[label] = _Value(label, p.integer).build(point)
        return out

    def evaluate(self, point: Mapping[str, object]) -> object:
        """The user's structure with the point's values filled in (``space_eval``).

        A choice becomes its chosen option, evaluated; randint and uniformint become ``int``,
        other numeric kinds ``float``; dicts, lists and tuples keep their types; constants are
        returned as they are. Labels of inactive (or unknown) parameters are ignored.

        :raises SpaceError: if an active label is missing or its value cannot be used.
        """
        return self._template.build(point)

    # --- description ----------------------------------------------------------------------------

    @property
    def options(self) -> dict[str, list[object]]:
        """The options of each choice (and pchoice), by label, as :meth:`describe` renders
        them: for :meth:`Trial.shown_params`, which shows a choice as its option's value."""
        return option_values(self.describe())

    def describe(self) -> list[dict[str, object]]:
        """A JSON-able description, one entry per parameter in column order.

        Each entry holds ``label``, ``kind``, ``args``, ``parents`` (``[[label, option], ...]``)
        and, for categorical parameters, ``options`` (their number). Choices and pchoices also
        hold ``values``: what each option is, since stored trials hold option indices. An option
        is rendered as JSON from its structure: JSON scalars as themselves; dicts as dicts
        (non-string keys as their repr); lists as lists; a tuple as ``{"tuple": [...]}``; a
        parameter as ``{"param": label}``; a class or function as ``{"class": name}`` or
        ``{"function": name}``, an enum member as ``{"enum": name}``, another object as
        ``{"object": name of its type}``, with dotted qualified names. Containers of a subclass
        add ``"type"``, and a dict with a non-string key or a key that is one of these tags is
        written ``{"dict": {...}}``. A parameter used in expressions (arithmetic, ``scope``
        functions other than ``int`` and ``float``) also holds ``expressions``: the outermost
        ones that use it, rendered as ``{"scope": name, "args": [...]}`` (``x + 1`` is
        ``{"scope": "add", "args": [{"param": "x"}, 1]}``), so changing an expression changes
        the fingerprint, while a space without expressions keeps the one it always had.
        """
        choices = _choices(self._template)
        expressions = _expressions(self._template)
        out: list[dict[str, object]] = []
        for p in self._params:
            entry: dict[str, object] = {
                "label": p.label,
                "kind": p.kind.value,
                "args": list(p.args),
                "parents": [[self._labels[c], i] for c, i in p.parents],
            }
            if p.categorical:
                entry["options"] = p.n_options
            if p.kind is Kind.CHOICE or p.kind is Kind.PCHOICE:
                entry["values"] = [_shape(t) for t in choices[p.label].options]
            if p.label in expressions:
                entry["expressions"] = expressions[p.label]
            out.append(entry)
        return out

    @property
    def fingerprint(self) -> str:
        """The sha256 (hex) of the canonical JSON of :meth:`describe`."""
        if self._fingerprint is None:
            text = _canonical(self.describe())
            self._fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return self._fingerprint
