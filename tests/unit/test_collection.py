"""The garbage collector paused while the engine builds itself, and what it built frozen out."""

from __future__ import annotations

import gc

import pytest

from workflow.local import collection


@pytest.fixture(autouse=True)
def _thawed() -> None:
    gc.unfreeze()


def test_nothing_is_collected_in_the_block_and_what_it_built_is_frozen_after() -> None:
    assert gc.isenabled()
    with collection.paused():
        assert not gc.isenabled()
        built = [[index] for index in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)
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
