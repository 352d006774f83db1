-- Version 6: a claim reads the queues that hold ready jobs, not every queue ever used. It
-- ran one query per name of the queues table, which nothing emptied: a database that had
-- seen 5,000 queues, long pruned, drained its jobs seven times slower than a new one.
-- job_counts says which queues hold queued jobs; this index holds those alone.
CREATE INDEX job_counts_ready ON job_counts (queue) WHERE state = 'queued' AND n > 0;

-- Queues that hold no job and are not paused are forgotten (a prune forgets those it
-- empties from now on): status and metrics listed every one ever used.
DELETE FROM job_counts WHERE n = 0;
DELETE FROM queues WHERE paused = 0
    AND NOT EXISTS (SELECT 1 FROM job_counts WHERE queue = queues.name AND n > 0);
