-- Version 5: jobs that run after others (`enqueue --after`). Such a job is stored `waiting`
-- while any job it runs after has not succeeded. The store's triggers move it on, in the
-- transaction that ends the last of them: to queued (or scheduled, when its own delay is
-- not over) once they have all succeeded, and to dead, with every job waiting on it in
-- turn, as soon as one of them ends dead or cancelled: such a job could never run.

-- The ids a job runs after, as a JSON array, for reading it back (show, list --json).
ALTER TABLE jobs ADD COLUMN after_ids TEXT;

-- Which jobs wait on which: the dependents of an ending job, in one step of the key.
CREATE TABLE job_after (
    after_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    job_id   INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (after_id, job_id)
) WITHOUT ROWID;
CREATE INDEX job_after_job ON job_after (job_id);

-- A waiting job is active: it holds its unique key. (The conditions are the store's
-- ACTIVE_SQL and HOLDING_SQL word for word, see 002.)
DROP INDEX jobs_active_key;
CREATE UNIQUE INDEX jobs_active_key ON jobs (key)
    WHERE key IS NOT NULL AND state IN ('queued', 'scheduled', 'running', 'waiting');
DROP INDEX jobs_schedule_holding;
CREATE INDEX jobs_schedule_holding ON jobs (schedule)
    WHERE schedule IS NOT NULL
    AND (state IN ('queued', 'scheduled', 'running', 'waiting')
         OR (lease_token IS NOT NULL AND state = 'cancelled'));

-- The last job a waiting job runs after has succeeded: it is due from now (or from the end
-- of its own delay).
CREATE TRIGGER jobs_after_succeeded AFTER UPDATE OF state ON jobs
    WHEN NEW.state = 'succeeded' AND OLD.state IS NOT 'succeeded' BEGIN
    UPDATE jobs SET
        state = CASE WHEN run_at > NEW.finished_at THEN 'scheduled' ELSE 'queued' END,
        run_at = MAX(run_at, NEW.finished_at)
    WHERE state = 'waiting'
        AND id IN (SELECT job_id FROM job_after WHERE after_id = NEW.id)
        AND NOT EXISTS (
            SELECT 1 FROM job_after AS a JOIN jobs AS p ON p.id = a.after_id
            WHERE a.job_id = jobs.id AND p.state IS NOT 'succeeded');
END;

-- A job ended dead or cancelled: whatever waits on it, directly or through others, is dead.
CREATE TRIGGER jobs_after_ended AFTER UPDATE OF state ON jobs
    WHEN NEW.state IN ('dead', 'cancelled') AND OLD.state IS NOT NEW.state BEGIN
    UPDATE jobs SET
        state = 'dead',
        finished_at = COALESCE(NEW.finished_at, NEW.run_at),
        error = printf('job %d, which it waited for, %s', NEW.id,
                       CASE NEW.state WHEN 'dead' THEN 'ended dead' ELSE 'was cancelled' END)
    WHERE state = 'waiting' AND id IN (
        WITH RECURSIVE down(id) AS (
            SELECT job_id FROM job_after WHERE after_id = NEW.id
            UNION
            SELECT a.job_id FROM job_after AS a JOIN down ON a.after_id = down.id
                JOIN jobs AS w ON w.id = a.job_id AND w.state = 'waiting')
        SELECT id FROM down);
END;
