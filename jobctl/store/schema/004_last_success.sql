-- Version 4: each schedule's latest succeeded run (Store.last_successes), read in one step
-- of an index that holds a schedule's succeeded runs alone: jobs_schedule walked a
-- schedule's runs from the newest, through every failure since its last success (1,440 a
-- day for an every-minute schedule that broke), and all of them when none succeeded.
-- Retention keeps the job it names (rows.LATEST_SUCCESSES_SQL). An enqueue adds no entry
-- (its job is queued); a finish that succeeds adds one.
CREATE INDEX jobs_schedule_succeeded ON jobs (schedule, finished_at)
    WHERE schedule IS NOT NULL AND state = 'succeeded';
