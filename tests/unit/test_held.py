"""Patches held while at least one block needs them, whatever order the blocks end in."""

from __future__ import annotations

from collections.abc import Callable

from workflow.local.held import Held


def test_patches_are_installed_by_the_first_block_and_restored_after_the_last_whatever_the_order() -> None:
    events: list[str] = []

    def install() -> Callable[[], None]:
        events.append("installed")
        return lambda: events.append("restored")

    held = Held(install)
    first, second = held.held(), held.held()

    # Two blocks that overlap, the first ending before the second
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert events == ["installed"]
    second.__exit__(None, None, None)
    assert events == ["installed", "restored"]

    # And a later block installs them again
    with held.held():
        assert events == ["installed", "restored", "installed"]
    assert events == ["installed", "restored", "installed", "restored"]
