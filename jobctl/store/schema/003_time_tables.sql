-- Version 3: the time table (cron and zone) each schedule was last planned with, so that a
-- daemon that starts after the config changed (a deploy) tells a new time table from the
-- old one, and counts it from the start, as a reload does.
ALTER TABLE schedule_state ADD COLUMN time_table TEXT;
