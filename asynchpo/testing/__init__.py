"""Test suites for code that plugs into asynchpo's seams.

:mod:`asynchpo.testing.storage` holds :class:`~asynchpo.testing.storage.StorageContract`, the
conformance tests every :class:`~asynchpo.Storage` must pass. These modules import pytest: they
are for test suites, and ``import asynchpo`` never imports them.
"""
