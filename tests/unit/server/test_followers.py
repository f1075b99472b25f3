"""What follows stored batches runs one run at a time per process (``server.after_ingest.Followers``):
batches committed during a run join the next run, so a burst of uploads never runs side by side
(each run holds the frames of the firms it re-scores and scans)."""

from __future__ import annotations

import asyncio

import pytest

from server.after_ingest import Followers


def test_batches_sent_during_a_run_wait_and_run_together_after_it():
    async def main():
        started: list[set[str]] = []
        going = 0
        most = 0
        release = asyncio.Event()

        async def run(usccs: set[str]) -> None:
            nonlocal going, most
            going += 1
            most = max(most, going)
            started.append(set(usccs))
            if len(started) == 1:
                await release.wait()  # the first run is slow: three more batches arrive
            else:
                await asyncio.sleep(0)
            going -= 1

        followers = Followers(run)
        first = asyncio.create_task(followers.submit(["A", "B"]))
        await asyncio.sleep(0)
        assert started == [{"A", "B"}]
        # each of these returns at once: a run is going
        await asyncio.wait_for(followers.submit(["B", "C"]), 1)
        await asyncio.wait_for(followers.submit(["D"]), 1)
        await asyncio.wait_for(followers.submit([]), 1)
        assert followers.waiting == 3 and len(started) == 1
        release.set()
        await asyncio.wait_for(first, 1)
        assert started == [{"A", "B"}, {"B", "C", "D"}]
        assert most == 1 and followers.runs == 2 and followers.waiting == 0
        # idle again: the next batch runs at once
        await asyncio.wait_for(followers.submit(["E"]), 1)
        assert started[-1] == {"E"} and followers.runs == 3

    asyncio.run(main())


def test_a_run_that_fails_leaves_the_next_batch_its_own_run():
    async def main():
        seen: list[set[str]] = []

        async def run(usccs: set[str]) -> None:
            seen.append(set(usccs))
            if len(seen) == 1:
                raise RuntimeError("the database went away")

        followers = Followers(run)
        with pytest.raises(RuntimeError):
            await followers.submit(["A"])
        await asyncio.wait_for(followers.submit(["B"]), 1)
        assert seen == [{"A"}, {"B"}]

    asyncio.run(main())
