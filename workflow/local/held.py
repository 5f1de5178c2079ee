"""Patches of moto held while at least one environment needs them.

Environments (``LocalPipeline``) may overlap in any order: a test's inside another's, two
``pipeline`` commands' in one process. A patch that each environment installed on entering and
undid on leaving would be undone under the one still running, or left behind by the last. A
``Held`` installs its patches when the first block enters and restores the originals when the
last one leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Install = Callable[[], Callable[[], None]]  # installs the patches; returns what restores the originals


class Held:
    """``install``'s patches, in place while at least one ``held()`` block runs."""

    def __init__(self, install: Install) -> None:
        self._install = install
        self._lock = threading.Lock()
        self._holders = 0
        self._restore: Callable[[], None] | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._restore = self._install()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._restore is not None:
                    self._restore()
                    self._restore = None
