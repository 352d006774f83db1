-- Version 7: a job that runs after many others (fan-in) is moved on in constant time. Each
-- success looked through every job_after row of each job waiting for it, so that a job
-- after 10,000 jobs made their drain quadratic. A job now keeps how many of the jobs it runs
-- after have not succeeded (after_left), and each job_after row whether its job has (done):
-- a success counts down its dependents, and the one it brings to 0 is due.

ALTER TABLE job_after ADD COLUMN done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN after_left INTEGER NOT NULL DEFAULT 0;

UPDATE job_after SET done = 1
    WHERE after_id IN (SELECT id FROM jobs WHERE state = 'succeeded');
UPDATE jobs SET after_left = (
        SELECT count(*) FROM job_after WHERE job_id = jobs.id AND done = 0)
    WHERE id IN (SELECT job_id FROM job_after);

-- A job is stored after another: counted unless that one has already succeeded.
CREATE TRIGGER job_after_added AFTER INSERT ON job_after BEGIN
    UPDATE job_after SET done = 1
    WHERE after_id = NEW.after_id AND job_id = NEW.job_id
        AND (SELECT state FROM jobs WHERE id = NEW.after_id) = 'succeeded';
    UPDATE jobs SET after_left = after_left + 1
    WHERE id = NEW.job_id
        AND (SELECT state FROM jobs WHERE id = NEW.after_id) IS NOT 'succeeded';
END;

-- A job deleted before it succeeded no longer holds back the jobs after it (as its rows,
-- gone with it, no longer did): the next success among the others may make them due.
CREATE TRIGGER job_after_removed AFTER DELETE ON job_after WHEN OLD.done = 0 BEGIN
    UPDATE jobs SET after_left = after_left - 1 WHERE id = OLD.job_id;
END;

-- The last job a waiting job runs after has succeeded: it is due from now (or from the end
-- of its own delay).
DROP TRIGGER jobs_after_succeeded;
CREATE TRIGGER jobs_after_succeeded AFTER UPDATE OF state ON jobs
    WHEN NEW.state = 'succeeded' AND OLD.state IS NOT 'succeeded' BEGIN
    UPDATE jobs SET after_left = after_left - 1
    WHERE id IN (SELECT job_id FROM job_after WHERE after_id = NEW.id AND done = 0);
    UPDATE job_after SET done = 1 WHERE after_id = NEW.id AND done = 0;
    UPDATE jobs SET
        state = CASE WHEN run_at > NEW.finished_at THEN 'scheduled' ELSE 'queued' END,
        run_at = MAX(run_at, NEW.finished_at)
    WHERE state = 'waiting' AND after_left <= 0
        AND id IN (SELECT job_id FROM job_after WHERE after_id = NEW.id);
END;
