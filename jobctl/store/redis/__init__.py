"""The Redis store: the same queue as the SQLite store, shared by workers on many hosts.

Every state change is one Lua script (jobctl/store/lua/*.lua, each prefixed with lib.lua), so
it is atomic under any number of clients: a script runs alone on the server. Scripts are
guarded like the SQLite transactions: a running job changes only under its lease token.
Reads that need no atomicity (listing, statistics) are pipelined plain commands.

Key layout: every key of a namespace starts with `jobctl:{NAMESPACE}:` — one hash tag, so a
script never spans cluster slots. Members of the id indexes are zero-padded ids, so that equal
scores order by id.

    seq                         INCR: job ids, never reused
    job:ID                      hash: the job's fields (as the SQLite jobs row)
    att:ID:RUN                  hash: one attempt (+ host, and the tail of its output)
    all, byjob:NAME, state:S    zsets by id: listing
    ready:QUEUE:PRIORITY        zset by run_at: the queued jobs of one queue and priority
    prios:QUEUE                 zset by -priority: the priorities with queued jobs
    ready_queues                set: the queues with queued jobs (the only ones a claim reads)
    due:QUEUE                   zset by run_at: scheduled jobs (delayed, retries)
    due                         zset by run_at: every queue's scheduled jobs (what a claim
                                promotes, reading only those due)
    leases                      zset by lease expiry: running jobs, cancelled ones until closed
    done:S                      zset by finished_at: succeeded, dead, cancelled
    keys                        hash: unique key -> id of the job holding it (active, or
                                cancelled while its process stops)
    queues, paused              sets: known and paused queues
    counts:QUEUE, pending       hashes: jobs per state; queued or scheduled jobs per (queue, job)
    after:ID                    set: the waiting jobs that run after job ID (enqueue --after)
    stats:HOUR, stat_hours      hashes of event counters per hour, and the hours seen
    hist, hist_count, hist_sum  run and wait time histograms
    att_start                   zset by started_at: attempts, for exact percentiles
    fires:SCHEDULE              hash: fire time -> what happened (the fire's own entry)
    fire_times:S, fires_pending:S, last_planned:S, schedules, sched_active:S, sched_paused,
    sched_planned (when each schedule was first planned)
    sched_succeeded             hash: schedule -> when its latest succeeded run finished
    sched_succeeded_id          hash: schedule -> that run's job id (which delete keeps)
    workers, heartbeats         hashes: registered workers and daemons
    leader, leader_epoch        the cron leader lease (SET PX, a fencing token) and its epoch
    meta                        hash: schema version (an older one is upgraded on open:
                                lua/upgrade.lua)
    wake                        pub/sub channel: "w" new work, "c" a running job cancelled
    health                      string: health's write probe (expires after 10 s)

Times are passed to the scripts as Python's repr of the float and stored as given, so a
value read back is the value written.
"""

from __future__ import annotations

from jobctl.store.base import Store
from jobctl.store.redis.control import ControlOps
from jobctl.store.redis.cron import CronOps
from jobctl.store.redis.location import RedisLocation, parse_location
from jobctl.store.redis.monitor import MonitorOps
from jobctl.store.redis.queue import QueueOps
from jobctl.store.redis.records import RecordOps

__all__ = ["RedisLocation", "RedisStore", "parse_location"]


class RedisStore(QueueOps, RecordOps, ControlOps, CronOps, MonitorOps, Store):
    """A namespace of a Redis server, shared by the workers and daemons of many hosts. One
    instance holds one connection pool; it is safe to use from several threads."""

    shared = True
