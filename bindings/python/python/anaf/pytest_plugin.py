"""The `anaf_sandbox` pytest fixture, installed with the package: an embedded ANAF with
uploads final at once, stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import anaf


@pytest.fixture
def anaf_sandbox() -> Iterator[anaf.Sandbox]:
    with anaf.Sandbox(instant=True) as sandbox:
        yield sandbox
