"""The garbage collector paused while the engine builds itself, and what it built frozen out."""

from __future__ import annotations

import gc

import pytest

from workflow.local import collection


def test_nothing_is_collected_in_the_block_and_what_it_built_is_frozen_until_thawed() -> None:
    assert gc.isenabled()
    with collection.paused():
        assert not gc.isenabled()
        built = [[index] for index in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)
    collection.thawed()
    assert gc.get_freeze_count() == 0


def test_the_freeze_holds_until_the_last_block_that_froze_thaws() -> None:
    # Given two blocks that froze (the CLI's imports, then its environment)
    with collection.paused():
        pass
    with collection.paused():
        pass
    # When the first lets go, then the other still holds the freeze
    collection.thawed()
    assert gc.get_freeze_count() > 0
    # And when the last lets go, the collector has everything back
    collection.thawed()
    assert gc.get_freeze_count() == 0


def test_a_block_that_fails_freezes_nothing_and_gives_the_collector_back() -> None:
    with pytest.raises(RuntimeError), collection.paused():
        raise RuntimeError("the set-up failed")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    try:
        with collection.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        collection.thawed()
