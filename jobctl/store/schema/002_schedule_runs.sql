-- Version 2: indexes that keep the cron daemon's and `metrics`' reads off a schedule's
-- history, which grows by 86,400 fires and runs a day for a schedule firing every second
-- (nothing is pruned unless asked for).

-- A schedule's runs that count for its overlap rule (models.holds_key), in an
-- index of their own, so that a fire reads those few rows, not every run the schedule ever
-- had (600,000 a week for a schedule firing every second). The condition is the store's
-- HOLDING_SQL, word for word: SQLite uses a partial index only for a query that names it.
CREATE INDEX jobs_schedule_holding ON jobs (schedule)
    WHERE schedule IS NOT NULL
    AND (state IN ('queued', 'scheduled', 'running')
         OR (lease_token IS NOT NULL AND state = 'cancelled'));

-- A schedule's latest enqueued fire (its last run), without stepping over its skips.
CREATE INDEX fires_enqueued ON fires (schedule, fire_time) WHERE status = 'enqueued';
