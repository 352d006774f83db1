"""jobctl: a durable job queue, a worker pool and a cron daemon in one command."""

__version__ = "0.1.0"
