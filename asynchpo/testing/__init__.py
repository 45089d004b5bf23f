"""Test suites for code that plugs into asynchpo's seams.

Each module holds the conformance tests of one seam, as a class that a test module subclasses
as ``Test...`` with one fixture:

- :mod:`asynchpo.testing.storage`: :class:`~asynchpo.testing.storage.StorageContract`, for every
  :class:`~asynchpo.Storage` (a ``storage`` fixture).
- :mod:`asynchpo.testing.suggester`: :class:`~asynchpo.testing.suggester.SuggesterContract`,
  for every :class:`~asynchpo.Suggester` (an ``algo`` fixture).
- :mod:`asynchpo.testing.pruner`: :class:`~asynchpo.testing.pruner.PrunerContract`, for every
  :class:`~asynchpo.pruners.Pruner` (a ``pruner_factory`` fixture).

These modules import pytest (and the pruner's, hypothesis): they are for test suites, and
``import asynchpo`` never imports them.
"""
