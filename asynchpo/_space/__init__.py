"""Compiled search spaces: a user's tree of ``hp`` nodes turned into flat, numeric rows.

:func:`compile_space` walks the user's structure once and produces a :class:`Space`: one
:class:`Param` per label, in an order where every conditional parameter comes after the choices
that switch it on. Suggesters then work on *rows*: float64 vectors with one column per parameter
and ``NaN`` where a parameter is inactive. A row holds

* the option index for ``choice``/``pchoice`` and the integer itself for ``randint``,
* the value itself for every numeric kind (``3.0`` for ``uniformint``),

which is exactly hyperopt's argmin format, so :meth:`Space.to_point` and :meth:`Space.to_row`
only translate between a vector and a dict. :meth:`Space.evaluate` (``space_eval``) rebuilds the
user's structure from a point.

:meth:`Space.describe` is a JSON-able summary stored with a study, so a resumed study can check
that its space did not change (:attr:`Space.fingerprint`) and say what did
(:func:`describe_difference`).

The package, by job: :mod:`._params` (the parameter kinds and :class:`Param`), :mod:`._templates`
(the builders behind ``space_eval``), :mod:`._compile` (compiling, and :class:`Space`),
:mod:`._describe` (the stored description, fingerprint and :func:`describe_difference`) and
:mod:`._sampling` (prior draws).
"""

from asynchpo._space._compile import MAX_DEPTH as MAX_DEPTH
from asynchpo._space._compile import MAX_SUPPORT as MAX_SUPPORT
from asynchpo._space._compile import Space as Space
from asynchpo._space._compile import compile_space as compile_space
from asynchpo._space._compile import space_eval as space_eval
from asynchpo._space._describe import _canonical as _canonical
from asynchpo._space._describe import describe_difference as describe_difference
from asynchpo._space._describe import option_values as option_values
from asynchpo._space._params import MAX_CATEGORIES as MAX_CATEGORIES
from asynchpo._space._params import Kind as Kind
from asynchpo._space._params import Mask as Mask
from asynchpo._space._params import Param as Param
from asynchpo._space._params import Rows as Rows
from asynchpo._space._params import as_modelled as as_modelled
from asynchpo._space._templates import _Call as _Call
from asynchpo._space._templates import _Dict as _Dict
from asynchpo._space._templates import _List as _List
from asynchpo._space._templates import _Select as _Select
from asynchpo._space._templates import _Tuple as _Tuple
from asynchpo._space._templates import _Value as _Value

__all__ = [
    "Kind",
    "Param",
    "Space",
    "compile_space",
    "describe_difference",
    "space_eval",
]
