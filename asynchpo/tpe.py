"""The Tree-structured Parzen Estimator, as hyperopt's ``tpe`` module: ``algo=tpe.suggest``.

Options as in hyperopt, bound with :func:`functools.partial`:
``partial(tpe.suggest, n_startup_jobs=20, n_EI_candidates=48)``; every option is documented on
:class:`TPE`, whose instances are search algorithms too: ``algo=tpe.TPE(multivariate=False)``.
"""

from asynchpo._suggesters._tpe import TPE, suggest

__all__ = ["TPE", "suggest"]
