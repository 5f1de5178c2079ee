"""Commands pinned to the first cores of the machine, as a Lambda with that many vCPUs runs."""

from __future__ import annotations

import shutil
from collections.abc import Sequence


def pinned(cores: int, command: Sequence[str]) -> list[str]:
    """``command`` run by ``taskset`` on cores 0 to ``cores - 1``."""
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("the benchmark needs taskset (util-linux) to pin processes to cores")
    return [taskset, "-c", ",".join(str(cpu) for cpu in range(cores)), *command]
