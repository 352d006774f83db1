"""The one retry rule: the n-th retry waits `backoff * 2^(n-1)`, capped, with optional jitter."""

from __future__ import annotations

import random

from jobctl.config import JobType


def retry_delay(job_type: JobType, failed_attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before the retry that follows attempt number `failed_attempt` (1-based).

    Jitter ("full jitter" on the upper half) spreads retries of jobs that failed together,
    so a recovering service is not hit by all of them in the same instant.
    """
    exponent = max(0, failed_attempt - 1)
    delay = min(job_type.backoff * (2.0 ** min(exponent, 60)), job_type.backoff_max)
    if job_type.jitter and delay > 0:
        delay = (rng or random).uniform(delay / 2, delay)
    return delay
