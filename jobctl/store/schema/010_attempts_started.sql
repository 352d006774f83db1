-- Version 10: `stats` reads the attempts of its window alone. The table's key is
-- (job_id, run), so `stats --since 1h` read every attempt ever stored: 200,000 of them for a
-- few hundred in the hour.
CREATE INDEX attempts_started ON attempts (started_at);
