"""A handler whose module takes seconds to import (a slow init), for the prewarm tests: an
invocation that comes while it initializes must wait for it."""

from __future__ import annotations

import time

from tests.workflow.sandbox_handlers import SLOW_INIT_SECONDS, describe

time.sleep(SLOW_INIT_SECONDS)

__all__ = ["describe"]
