"""Wrong passwords per client address, in memory (per account they are counted in the database).

An address with `max_failures` wrong passwords within `window_s` seconds is refused until
the oldest of them is `window_s` old; a successful login from it forgets its failures.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from checkin.errors import TooManyAttempts

MAX_ADDRESSES = 10_000  # memory bound: the least recently failing addresses are forgotten first


class AddressThrottle:
    """Sliding-window counter of failed logins per address; thread-safe."""

    def __init__(
        self, *, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_failures
        self._window = window_s
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def check(self, address: str) -> None:
        """Raise TooManyAttempts while the address is throttled."""
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            if times is not None and len(times) >= self._max:
                wait = math.ceil(times[0] + self._window - now)
                raise TooManyAttempts(
                    f"此地址密码错误次数过多，请 {wait} 秒后再试 "
                    "(too many wrong passwords from this address, retry later)",
                    retry_after=wait,
                )

    def failed(self, address: str) -> None:
        with self._lock:
            now = self._clock()
            times = self._recent(address, now) or deque()
            times.append(now)
            self._failures[address] = times
            self._failures.move_to_end(address)
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
