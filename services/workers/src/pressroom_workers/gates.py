"""How many deliveries to each outlet this worker process has in flight, capped per outlet.

The delivery worker's threads serve every outlet. Without a cap, a partner that answers in
five seconds would soon hold every thread and stall all the others; with it, that partner holds
at most `per_outlet` threads and its other deliveries are parked in the database until one of
its own ends (runner._park, steps.release_parked).
"""

from __future__ import annotations

import threading


class OutletGates:
    def __init__(self, per_outlet: int) -> None:
        self.per_outlet = per_outlet
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._parked: set[str] = set()

    def enter(self, outlet: str) -> bool:
        """Take a slot; False (and nothing taken) when the outlet's slots are all in use."""
        with self._lock:
            busy = self._in_flight.get(outlet, 0)
            if busy >= self.per_outlet:
                return False
            self._in_flight[outlet] = busy + 1
            return True

    def leave(self, outlet: str) -> None:
        with self._lock:
            self._in_flight[outlet] = max(0, self._in_flight.get(outlet, 0) - 1)

    def in_flight(self, outlet: str) -> int:
        with self._lock:
            return self._in_flight.get(outlet, 0)

    def parked(self, outlet: str) -> None:
        """This process parked a delivery to `outlet`: its next ending delivery releases one."""
        with self._lock:
            self._parked.add(outlet)

    def may_have_parked(self, outlet: str) -> bool:
        with self._lock:
            return outlet in self._parked

    def none_parked(self, outlet: str) -> None:
        with self._lock:
            self._parked.discard(outlet)
