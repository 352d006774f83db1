-- Version 9: a worker draining after SIGTERM or SIGINT says so, with the end of its
-- shutdown timeout (epoch seconds; NULL while it takes jobs): `status` showed it as an
-- ordinary live worker, and a wait counted it as serving its queues.
ALTER TABLE workers ADD COLUMN stopping_until REAL;
