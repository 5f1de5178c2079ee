"""A handler whose module takes seconds to import (a slow init), for the prewarm tests: an
invocation that comes while it initializes must wait for it."""

from __future__ import annotations

import time

from tests.workflow.sandbox_handlers import describe

INIT_SECONDS = 2.0

time.sleep(INIT_SECONDS)

__all__ = ["describe"]
