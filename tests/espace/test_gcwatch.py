"""GcWatch times the collector's pauses; settle() freezes what start-up built."""

from __future__ import annotations

import gc

from espace.gcwatch import GcWatch, settle


def test_the_watch_counts_and_times_each_generation():
    watch = GcWatch().install()
    try:
        gc.collect(0)
        gc.collect(2)
    finally:
        watch.uninstall()
    assert watch.collections[0] >= 1
    assert watch.collections[2] >= 1
    assert watch.pause_max_s > 0.0
    assert watch.pause_total_s >= watch.pause_max_s
    g = watch.gauges()
    assert g["gc_collections_gen2"] == watch.collections[2]
    before = watch.collections[2]
    gc.collect(2)  # uninstalled: no longer counted
    assert watch.collections[2] == before


def test_settle_freezes_the_survivors_and_they_can_be_unfrozen():
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the cyclic collector frees it

    keep = [Node() for _ in range(100)]
    try:
        frozen = settle()
        assert frozen >= 100
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()  # the test process must not keep its own objects out of the collector
    assert gc.get_freeze_count() == 0
    del keep
