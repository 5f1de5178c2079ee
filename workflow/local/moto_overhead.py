"""Work moto repeats on every request, done once or done faster.

Under ``pipeline serve``'s load these were a fifth of the engine's time, spent on nothing a run
needs twice:

- ``camelcase_to_underscores`` turns the same few action and parameter names into method names
  on every request (character by character); it is a pure function, so its results are kept.
  moto's modules bind it by name, so each module holding it gets the cached version.
- ``MotoRandom.get_random_string`` builds every request id one ``choice`` at a time; here it
  draws them with one ``choices`` call, from the same pool and moto's own (seedable) generator,
  so ids keep their alphabet and length and stay reproducible under ``mock_random.seed``.
- ``UpdateExpressionParser.make`` tokenizes and parses an ``UpdateItem``'s expression twice per
  request (the ledger's are the same few strings); its callers only read the tree it returns (the
  validator works on a deep copy), so one tree per expression is kept.

Each is guarded by a test in ``tests/workflow/test_moto_reliances.py``.
"""

from __future__ import annotations

import functools
import string
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core import utils as moto_utils
from moto.dynamodb.parsing import expressions as update_expressions
from moto.moto_api._internal.moto_random import MotoRandom


def _random_string(self: MotoRandom, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
    pool = string.ascii_letters + (string.digits if include_digits else "")
    drawn = "".join(self.choices(pool, k=length))
    return drawn.lower() if lower_case else drawn


@contextmanager
def reduced() -> Iterator[None]:
    """moto's per-request overhead reduced until the block ends."""
    original_convert = vars(moto_utils)["camelcase_to_underscores"]
    cached = functools.lru_cache(maxsize=8192)(original_convert)
    holders = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto") and getattr(module, "camelcase_to_underscores", None) is original_convert
    ]
    original_random: Any = MotoRandom.get_random_string
    # (the module is untyped to mypy: "# type: ignore" at its top)
    parser: Any = vars(update_expressions)["UpdateExpressionParser"]
    original_make = vars(parser)["make"]
    parse: Any = functools.lru_cache(maxsize=1024)(original_make.__func__)
    for module in holders:
        module.camelcase_to_underscores = cached  # type: ignore[attr-defined]
    MotoRandom.get_random_string = _random_string  # type: ignore[method-assign]
    parser.make = classmethod(parse)
    try:
        yield
    finally:
        for module in holders:
            module.camelcase_to_underscores = original_convert  # type: ignore[attr-defined]
        MotoRandom.get_random_string = original_random  # type: ignore[method-assign]
        parser.make = original_make
