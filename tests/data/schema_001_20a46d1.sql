-- Schema 1 as jobctl 20a46d1 made it (001_init.sql was edited since: see 008).
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
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT    NOT NULL,
    concurrency  INTEGER NOT NULL,
    started_at   REAL    NOT NULL,
    heartbeat_at REAL    NOT NULL
) WITHOUT ROWID;

-- Counts per queue and state, kept by triggers so `status` never scans the jobs table.
CREATE TABLE job_counts (
    queue TEXT    NOT NULL,
    state TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state, queue ON jobs
    WHEN OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue BEGIN
    UPDATE job_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    INSERT INTO job_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
END;
