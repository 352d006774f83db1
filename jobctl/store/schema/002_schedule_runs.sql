-- Version 2: a schedule's runs that count for its overlap rule (models.holds_key), in an
-- index of their own, so that a fire reads those few rows, not every run the schedule ever
-- had (600,000 a week for a schedule firing every second). The condition is the store's
-- HOLDING_SQL, word for word: SQLite uses a partial index only for a query that names it.
CREATE INDEX jobs_schedule_holding ON jobs (schedule)
    WHERE schedule IS NOT NULL
    AND (state IN ('queued', 'scheduled', 'running')
         OR (lease_token IS NOT NULL AND state = 'cancelled'));
