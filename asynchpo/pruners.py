"""Pruners for ``fmin(..., pruner=...)``: stop unpromising trials early from their reports.

An objective reports its loss as it goes (``await trial.report(step, loss)`` in
``async def objective(params, trial)``, or JSON lines from a :class:`~asynchpo.Command`); the
pruner decides at each report whether the trial goes on. A pruned trial is recorded as
``PRUNED`` with its last reported loss.

- :class:`SuccessiveHalvingPruner`: asynchronous successive halving (ASHA), the usual choice.
- :class:`MedianPruner`: the median stopping rule.
- :class:`Pruner`: the base class, to write another.
"""

from asynchpo._pruners import MedianPruner as MedianPruner
from asynchpo._pruners import Pruner as Pruner
from asynchpo._pruners import SuccessiveHalvingPruner as SuccessiveHalvingPruner

__all__ = ["MedianPruner", "Pruner", "SuccessiveHalvingPruner"]
