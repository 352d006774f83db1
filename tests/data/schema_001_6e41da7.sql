-- Schema 1 as jobctl 6e41da7 made it (001_init.sql was edited since: see 008).
-- Version 1: jobs, their attempts, queues, workers.
-- Times are Unix seconds (REAL); payloads and ad-hoc argv are JSON text.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job              TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,  -- in the current cycle (reset by dead retry)
    runs             INTEGER NOT NULL DEFAULT 0,  -- over the job's whole life (numbers history)
    max_attempts     INTEGER NOT NULL,
    payload          TEXT    NOT NULL,
    key              TEXT,
    run_at           REAL    NOT NULL,
    created_at       REAL    NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    exit_code        INTEGER,
    error            TEXT,
    worker           TEXT,
    lease_token      TEXT,
    lease_expires_at REAL,
    command          TEXT,
    cwd              TEXT,
    schedule         TEXT,
    fire_time        REAL
);

-- Claiming: the best ready job of a queue is the first entry of this index.
CREATE INDEX jobs_ready ON jobs (queue, priority DESC, run_at, id) WHERE state = 'queued';
-- The age of the oldest ready job, per queue.
CREATE INDEX jobs_ready_age ON jobs (queue, run_at) WHERE state = 'queued';
-- Promotion of delayed jobs and retries whose time has come.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'scheduled';
-- Rescue of attempts whose worker died.
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state = 'running';
-- Idempotent enqueue: one active job per key.
CREATE UNIQUE INDEX jobs_active_key ON jobs (key)
    WHERE key IS NOT NULL AND state IN ('queued', 'scheduled', 'running');
-- Listing and pruning by state and age.
CREATE INDEX jobs_state_finished ON jobs (state, finished_at);
CREATE INDEX jobs_job ON jobs (job, id);

CREATE TABLE attempts (
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    run         INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    worker      TEXT    NOT NULL,
    started_at  REAL    NOT NULL,
    finished_at REAL,
    outcome     TEXT,
    exit_code   INTEGER,
    signal      INTEGER,
    error       TEXT,
    log_path    TEXT,
    PRIMARY KEY (job_id, run)
) WITHOUT ROWID;

CREATE TABLE queues (
    name   TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    kind         TEXT    NOT NULL DEFAULT 'worker',  -- 'worker' or 'scheduler'

    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT    NOT NULL,
    concurrency  INTEGER NOT NULL,
    started_at   REAL    NOT NULL,
    heartbeat_at REAL    NOT NULL,
    interval     REAL    NOT NULL DEFAULT 10  -- seconds between heartbeats
) WITHOUT ROWID;

-- Counts per queue and state, kept up to date so `status` never scans the jobs table.
CREATE TABLE job_counts (
    queue TEXT    NOT NULL,
    state TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

-- Inserts are counted by the store, once per batch and (queue, state), not per row.

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state, queue ON jobs
    WHEN OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue BEGIN
    UPDATE job_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    INSERT INTO job_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

-- Cron fires: one row per (schedule, fire time), written in the same transaction as the job
-- it enqueued (or the decision to skip it), so no fire is ever enqueued twice.
CREATE TABLE fires (
    schedule  TEXT    NOT NULL,
    fire_time REAL    NOT NULL,
    job_id    INTEGER,          -- NULL when skipped or still pending (overlap = "queue")
    status    TEXT    NOT NULL, -- 'enqueued', 'skipped', 'pending'
    reason    TEXT,
    manual    INTEGER NOT NULL DEFAULT 0,
    at        REAL    NOT NULL,
    PRIMARY KEY (schedule, fire_time)
) WITHOUT ROWID;
CREATE INDEX fires_pending ON fires (schedule, fire_time) WHERE status = 'pending';
CREATE INDEX jobs_schedule ON jobs (schedule, id) WHERE schedule IS NOT NULL;

CREATE TABLE schedule_state (
    name   TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Statistics that outlive the jobs they count (prune deletes jobs, never these).
-- Per hour, queue and job type: events 'enqueued', 'started', 'succeeded', 'dead',
-- 'cancelled', and 'attempt:<outcome>' for every attempt that ended.
CREATE TABLE stat_counts (
    hour  INTEGER NOT NULL,
    queue TEXT    NOT NULL,
    job   TEXT    NOT NULL,
    event TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (hour, queue, job, event)
) WITHOUT ROWID;

-- Cumulative histograms of run time ('run') and wait from due to start ('wait'), in the
-- bucket bounds of hist_bounds (seconds; the last bound stands for +Inf).
CREATE TABLE hist_bounds (le REAL PRIMARY KEY) WITHOUT ROWID;
INSERT INTO hist_bounds (le) VALUES
    (0.005), (0.01), (0.025), (0.05), (0.1), (0.25), (0.5), (1), (2.5), (5), (10), (30),
    (60), (120), (300), (600), (1800), (3600), (1e308);

CREATE TABLE stat_hist (
    kind  TEXT    NOT NULL,
    queue TEXT    NOT NULL,
    job   TEXT    NOT NULL,
    le    REAL    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (kind, queue, job, le)
) WITHOUT ROWID;

CREATE TABLE stat_sums (
    kind  TEXT    NOT NULL,
    queue TEXT    NOT NULL,
    job   TEXT    NOT NULL,
    count INTEGER NOT NULL,
    sum   REAL    NOT NULL,
    PRIMARY KEY (kind, queue, job)
) WITHOUT ROWID;

CREATE TRIGGER stats_attempt_started AFTER INSERT ON attempts BEGIN
    INSERT INTO stat_counts (hour, queue, job, event, n)
        SELECT CAST(NEW.started_at / 3600 AS INTEGER) * 3600, queue, job, 'started', 1
        FROM jobs WHERE id = NEW.job_id
        ON CONFLICT (hour, queue, job, event) DO UPDATE SET n = n + 1;
    INSERT INTO stat_hist (kind, queue, job, le, n)
        SELECT 'wait', queue, job,
               (SELECT MIN(le) FROM hist_bounds WHERE le >= MAX(0, NEW.started_at - run_at)), 1
        FROM jobs WHERE id = NEW.job_id
        ON CONFLICT (kind, queue, job, le) DO UPDATE SET n = n + 1;
    INSERT INTO stat_sums (kind, queue, job, count, sum)
        SELECT 'wait', queue, job, 1, MAX(0, NEW.started_at - run_at)
        FROM jobs WHERE id = NEW.job_id
        ON CONFLICT (kind, queue, job) DO UPDATE SET count = count + 1, sum = sum + excluded.sum;
END;

CREATE TRIGGER stats_attempt_ended AFTER UPDATE OF outcome ON attempts
    WHEN OLD.outcome IS NULL AND NEW.outcome IS NOT NULL BEGIN
    INSERT INTO stat_counts (hour, queue, job, event, n)
        SELECT CAST(NEW.finished_at / 3600 AS INTEGER) * 3600, queue, job,
               'attempt:' || NEW.outcome, 1
        FROM jobs WHERE id = NEW.job_id
        ON CONFLICT (hour, queue, job, event) DO UPDATE SET n = n + 1;
    INSERT INTO stat_hist (kind, queue, job, le, n)
        SELECT 'run', queue, job,
               (SELECT MIN(le) FROM hist_bounds
                WHERE le >= MAX(0, NEW.finished_at - NEW.started_at)), 1
        FROM jobs WHERE id = NEW.job_id
        ON CONFLICT (kind, queue, job, le) DO UPDATE SET n = n + 1;
    INSERT INTO stat_sums (kind, queue, job, count, sum)
        SELECT 'run', queue, job, 1, MAX(0, NEW.finished_at - NEW.started_at)
        FROM jobs WHERE id = NEW.job_id
        ON CONFLICT (kind, queue, job) DO UPDATE SET count = count + 1, sum = sum + excluded.sum;
END;

CREATE TRIGGER stats_job_ended AFTER UPDATE OF state ON jobs
    WHEN NEW.state IN ('succeeded', 'dead', 'cancelled') AND OLD.state IS NOT NEW.state BEGIN
    INSERT INTO stat_counts (hour, queue, job, event, n)
        VALUES (CAST(COALESCE(NEW.finished_at, NEW.run_at) / 3600 AS INTEGER) * 3600,
                NEW.queue, NEW.job, NEW.state, 1)
        ON CONFLICT (hour, queue, job, event) DO UPDATE SET n = n + 1;
END;
