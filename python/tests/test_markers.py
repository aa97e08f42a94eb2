"""The marker client against a fake memlab, under the .venv's Python (one test per check)."""

from __future__ import annotations

from typing import Callable

import pytest

import marker_checks


@pytest.mark.parametrize("check", marker_checks.CHECKS, ids=lambda check: check.__name__[6:])
def test_marker_client(check: Callable[[], None]) -> None:
    check()
