"""LightGBM fit time with N threads on the bundled sample repeated 50 times (193,100 rows).

Run under the bake's Python, one process per thread count, side by side:

    build/bench/bake/trip-duration/.venv/bin/python benchmarks/threads.py 1
    build/bench/bake/trip-duration/.venv/bin/python benchmarks/threads.py 2

On a busy machine the threaded fit is far slower than one thread (docs/benchmarks.md, section 4).
"""

from __future__ import annotations

import sys
import tempfile
import time


def main(threads: int) -> None:
    import pandas as pd
    from loguru import logger
    from trip_duration.config import DataSettings, TrainingSettings
    from trip_duration.data import DURATION, load_month
    from trip_duration.model import TripDurationModel

    logger.remove()
    data = DataSettings(quarantine_dir=tempfile.mkdtemp(prefix="threads-"))
    trips = pd.concat([load_month(data, "2023-01").trips] * 50, ignore_index=True)
    wall, cpu = time.perf_counter(), time.process_time()
    TripDurationModel.fit(trips, trips[DURATION], TrainingSettings(n_jobs=threads), 42)
    print(
        f"{threads} thread(s), {len(trips):,} rows: wall {time.perf_counter() - wall:.1f} s, "
        f"CPU {time.process_time() - cpu:.1f} s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
