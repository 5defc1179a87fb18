"""Wall-clock and CPU time between laps, for the benchmark scripts."""

import time


class Clock:
    """``lap()`` returns ``(wall seconds, CPU seconds)`` since the previous lap."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self):
        now_wall, now_cpu = time.perf_counter(), time.process_time()
        lap = (now_wall - self.wall, now_cpu - self.cpu)
        self.wall, self.cpu = now_wall, now_cpu
        return lap
