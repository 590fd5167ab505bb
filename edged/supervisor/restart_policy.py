"""When may a crashed worker restart: a budget per window, then backoff while marked failed."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    budget: int
    window_s: float
    retry_s: float
    retry_max_s: float
    _restarts: deque[float] = field(default_factory=deque)
    failed_since: float | None = None
    _failed_retries: int = 0

    def on_exit(self, now: float) -> float:
        """Record an unwanted exit; return the delay before the next start."""
        while self._restarts and now - self._restarts[0] > self.window_s:
            self._restarts.popleft()
        if self.failed_since is not None or len(self._restarts) >= self.budget:
            if self.failed_since is None:
                self.failed_since = now
            delay = min(self.retry_s * 2**self._failed_retries, self.retry_max_s)
            self._failed_retries += 1
            return delay
        self._restarts.append(now)
        return 0.0

    def on_healthy(self) -> None:
        """The worker has run a full window since its last start: it is no longer failed."""
        self.failed_since = None
        self._failed_retries = 0

    @property
    def failed(self) -> bool:
        return self.failed_since is not None
