"""Shared pytest configuration.

The reference cache is pointed at a per-session temporary directory so that
tests never read results a previous (possibly different) version stored in the
user's cache, and never write there.
"""

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_reference_cache(tmp_path_factory):
    old = os.environ.get("STABLE_SOFTMAX_REFERENCE_CACHE")
    os.environ["STABLE_SOFTMAX_REFERENCE_CACHE"] = str(tmp_path_factory.mktemp("reference-cache"))
    yield
    if old is None:
        os.environ.pop("STABLE_SOFTMAX_REFERENCE_CACHE", None)
    else:
        os.environ["STABLE_SOFTMAX_REFERENCE_CACHE"] = old
