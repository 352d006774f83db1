-- Version 10: a job's change of state fires two triggers, where it fired four (and a claim's
-- attempt one more). Each trigger that fires costs SQLite a program call of its own, a frame
-- made and zeroed, even when its WHEN is false, and jobs_after_succeeded ran its three
-- statements for every job that succeeded, waited on by another or not: a worker's
-- finish-and-claim transaction takes some 9% less CPU without them. What each does is
-- unchanged:
--   jobs_state_counted: job_counts (was jobs_count_update), the 'started' count and the
--     wait statistics of an attempt as its job turns running (was stats_attempt_started:
--     a claim is the one change to running, and it adds the attempt), and the count of a
--     job ended (was stats_job_ended);
--   jobs_after_moved: the jobs that run after one that succeeded, or that ended dead or
--     cancelled (were jobs_after_succeeded and jobs_after_ended, see 005 and 007), now
--     only when some job runs after it.
-- The jobs these last move fire jobs_state_counted, as they fired the triggers it replaces
-- (SQLite keeps a trigger from firing itself only), so that they are counted and a death
-- is in the statistics.

DROP TRIGGER jobs_count_update;
DROP TRIGGER stats_job_ended;
DROP TRIGGER stats_attempt_started;
DROP TRIGGER jobs_after_succeeded;
DROP TRIGGER jobs_after_ended;

CREATE TRIGGER jobs_state_counted AFTER UPDATE OF state, queue ON jobs
    WHEN OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue BEGIN
    UPDATE job_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    INSERT INTO job_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1)
        ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
    INSERT INTO stat_counts (hour, queue, job, event, n)
        SELECT CAST(NEW.started_at / 3600 AS INTEGER) * 3600, NEW.queue, NEW.job, 'started', 1
        WHERE NEW.state = 'running' AND OLD.state IS NOT 'running'
        ON CONFLICT (hour, queue, job, event) DO UPDATE SET n = n + 1;
    INSERT INTO stat_hist (kind, queue, job, le, n)
        SELECT 'wait', NEW.queue, NEW.job,
               (SELECT MIN(le) FROM hist_bounds
                WHERE le >= MAX(0, NEW.started_at - NEW.run_at)), 1
        WHERE NEW.state = 'running' AND OLD.state IS NOT 'running'
        ON CONFLICT (kind, queue, job, le) DO UPDATE SET n = n + 1;
    INSERT INTO stat_sums (kind, queue, job, count, sum)
        SELECT 'wait', NEW.queue, NEW.job, 1, MAX(0, NEW.started_at - NEW.run_at)
        WHERE NEW.state = 'running' AND OLD.state IS NOT 'running'
        ON CONFLICT (kind, queue, job) DO UPDATE SET count = count + 1, sum = sum + excluded.sum;
    INSERT INTO stat_counts (hour, queue, job, event, n)
        SELECT CAST(COALESCE(NEW.finished_at, NEW.run_at) / 3600 AS INTEGER) * 3600,
               NEW.queue, NEW.job, NEW.state, 1
        WHERE NEW.state IN ('succeeded', 'dead', 'cancelled') AND OLD.state IS NOT NEW.state
        ON CONFLICT (hour, queue, job, event) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_after_moved AFTER UPDATE OF state ON jobs
    WHEN NEW.state IN ('succeeded', 'dead', 'cancelled') AND OLD.state IS NOT NEW.state
        AND EXISTS (SELECT 1 FROM job_after WHERE after_id = NEW.id) BEGIN
    -- Succeeded: each job waiting on it has one fewer to wait for; those with none left
    -- are due from now (or from the end of their own delay).
    UPDATE jobs SET after_left = after_left - 1
    WHERE NEW.state = 'succeeded'
        AND id IN (SELECT job_id FROM job_after WHERE after_id = NEW.id AND done = 0);
    UPDATE job_after SET done = 1
    WHERE NEW.state = 'succeeded' AND after_id = NEW.id AND done = 0;
    UPDATE jobs SET
        state = CASE WHEN run_at > NEW.finished_at THEN 'scheduled' ELSE 'queued' END,
        run_at = MAX(run_at, NEW.finished_at)
    WHERE NEW.state = 'succeeded' AND state = 'waiting' AND after_left <= 0
        AND id IN (SELECT job_id FROM job_after WHERE after_id = NEW.id);
    -- Dead or cancelled: whatever waits on it, directly or through others, is dead.
    UPDATE jobs SET
        state = 'dead',
        finished_at = COALESCE(NEW.finished_at, NEW.run_at),
        error = printf('job %d, which it waited for, %s', NEW.id,
                       CASE NEW.state WHEN 'dead' THEN 'ended dead' ELSE 'was cancelled' END)
    WHERE NEW.state IN ('dead', 'cancelled') AND state = 'waiting' AND id IN (
        WITH RECURSIVE down(id) AS (
            SELECT job_id FROM job_after WHERE after_id = NEW.id
            UNION
            SELECT a.job_id FROM job_after AS a JOIN down ON a.after_id = down.id
                JOIN jobs AS w ON w.id = a.job_id AND w.state = 'waiting')
        SELECT id FROM down);
END;
