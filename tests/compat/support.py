"""Helpers shared by the compat tests."""

from __future__ import annotations

import anyio


class Barrier:
    """Lets *parties* tasks through once all of them have arrived."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.event = anyio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.parties:
            self.event.set()
        await self.event.wait()
