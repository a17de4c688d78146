"""Every time-series test module runs torch on one thread (tiny networks: more only contend)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import torch_threads


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield
