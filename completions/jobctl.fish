# fish completion for jobctl. Generated from the command tree by
# `make completions` (python -m jobctl.cli.completions); do not edit.
# Install: copy to ~/.config/fish/completions/jobctl.fish.

function __jobctl_commands
    switch $argv[1]
        case ''
            printf '%s\n' 'backup	Copy the database to a new file, consistent while workers and daemons run (a...' 'cancel	Cancel jobs.' 'cron	Check cron expressions.' 'dead	The dead-letter queue: jobs that used up their attempts.' 'edit	Change jobs that have not started.' 'enqueue	Queue a job and print its id.' 'health	Exit 0 when healthy; 1 with one line per failed check on stderr.' 'import-crontab	Turn a crontab into jobs and schedules (TOML on stdout, notes on stderr).' 'list	List jobs, newest first.' 'logs	Print what an attempt of a job wrote (stdout and stderr, as captured), or...' 'metrics	Print the Prometheus text exposition (the same as /metrics of --metrics-addr).' 'pause	Stop workers taking jobs from queues; running jobs finish.' 'prune	Delete finished jobs, their history and their logs (asks first on a terminal,...' 'reload	Ask the cron daemon leading on this host (`schedule-daemon` or `up`) to...' 'resume	Let workers take jobs from paused queues again.' 'retry	Run a finished job again, as a new job with the same payload; print the new id.' 'run-worker	Run jobs until stopped.' 'schedule	Inspect and steer cron schedules.' 'schedule-daemon	Enqueue cron runs when they are due.' 'show	Show one job with every attempt, and the logs of the hooks they set off.' 'stats	Per queue and job type: enqueued, processed, succeeded, failed attempts,...' 'status	Per queue: counts by state, the oldest ready job\'s age, paused or not; then...' 'up	Run the cron daemon and a worker pool in one foreground process.' 'validate	Check the config file; exit 0 when valid, 2 with the first problem otherwise.' 'wait	Wait until jobs finish: exit 0 if all succeeded, 1 if any ended dead or...'
        case 'cron'
            printf '%s\n' 'next	The next fire times of an expression or a schedule, computed by the daemon\'s...'
        case 'dead'
            printf '%s\n' 'list	List dead jobs, the latest death first, with their last error.' 'purge	Delete dead jobs and their logs (asks first on a terminal).' 'retry	Queue dead jobs again, their attempts reset and their history kept; print how...' 'show	Show a dead job whole: its payload, and the error and log tail of every attempt.'
        case 'schedule'
            printf '%s\n' 'list	Every schedule: its plan, next and last fire, and policies.' 'pause	Stop a schedule\'s fires until resumed (kept in the database).' 'resume	Let a paused schedule fire again.' 'run	Enqueue one run now, outside the plan (recorded as manual); prints the job id.'
    end
end

function __jobctl_options
    switch $argv[1]
        case ''
            printf '%s\n' '--config	Config file (default: $JOBCTL_CONFIG, ./jobs.toml, $XDG_CONFIG_HOME/jobctl/jobs.toml).' '-c	Config file (default: $JOBCTL_CONFIG, ./jobs.toml, $XDG_CONFIG_HOME/jobctl/jobs.toml).' '--db	The queue: a SQLite file, or redis[s]://[[user]:password@]host[:port][/db] (default: $JOBCTL_DB, [settings] db, $XDG_STATE_HOME/jobctl/jobctl.db).' '--log-format	Event lines on stderr: text or json (default: [settings] log_format, text).' '--log-level	debug, info, warning or error (default: [settings] log_level, info).' '--version	Print the version and exit.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'backup'
            printf '%s\n' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'cancel'
            printf '%s\n' '--queue	Every job active in this queue (repeat for more queues).' '-q	Every job active in this queue (repeat for more queues).' '--job	Every job of this job type active now (with --queue, in those queues).' '-j	Every job of this job type active now (with --queue, in those queues).' '--all	Every job active now, in every queue.' '-a	Every job active now, in every queue.' '--yes	With --all: do not ask (needed where no terminal can be asked).' '-y	With --all: do not ask (needed where no terminal can be asked).' '--json	Print each job, and whether it was cancelled, as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'cron'
            printf '%s\n' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'cron next'
            printf '%s\n' '--count	How many.' '-n	How many.' '--tz	IANA time zone (default: the schedule\'s, else [settings] timezone, else the one the cron daemon recorded planning in, else this shell\'s).' '--from	Start after this time, as enqueue --at takes it (2030-05-01T09:30, 21:30, tomorrow 9:00, +10m), in --tz unless it has an offset.' '--json	Print a JSON array.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'dead'
            printf '%s\n' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'dead list'
            printf '%s\n' '--job	Only this job type.' '-j	Only this job type.' '--since	Only jobs that died within this duration (1h, 7d), or since this time (as --at takes it: 2026-05-01T09:30, today 0:00).' '--limit	At most this many jobs (0: all).' '-n	At most this many jobs (0: all).' '--json	Print a JSON array.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'dead purge'
            printf '%s\n' '--all	Every dead job.' '-a	Every dead job.' '--older-than	Only jobs dead for longer than this.' '--job	Only this job type.' '-j	Only this job type.' '--yes	Do not ask for confirmation.' '-y	Do not ask for confirmation.' '--json	Print the ids deleted, and those not, as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'dead retry'
            printf '%s\n' '--all	Every dead job.' '-a	Every dead job.' '--job	Only this job type.' '-j	Only this job type.' '--json	Print each job, and whether it was retried, as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'dead show'
            printf '%s\n' '--lines	Log lines to show per attempt.' '-l	Log lines to show per attempt.' '--json	Print a JSON object.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'edit'
            printf '%s\n' '--arg	Payload value key=value (key:=json for JSON).' '-a	Payload value key=value (key:=json for JSON).' '--delay	Run after this long, e.g. 30s, 5m.' '-d	Run after this long, e.g. 30s, 5m.' '--at	Run at this time: 2030-05-01T09:30 (ISO-8601; local time unless it has an offset), 2030-05-01 9:30, 21:30 (the next one), today 9:00, tomorrow 9:00, +10m (from now), or now.' '--priority	Higher runs first (default: the job\'s).' '--queue	Queue name.' '-q	Queue name.' '--max-attempts	Attempts before the job is dead.' '--exec	The words that follow (or those after --) are an --exec job\'s new command, read as `enqueue --exec` reads its command.' '-x	The words that follow (or those after --) are an --exec job\'s new command, read as `enqueue --exec` reads its command.' '--cwd	Run an --exec job\'s command in DIR.' '--json	Print each job, and whether it was edited, as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'enqueue'
            printf '%s\n' '--arg	Payload value key=value (key:=json for JSON).' '-a	Payload value key=value (key:=json for JSON).' '--payload	The payload as a JSON object.' '-p	The payload as a JSON object.' '--payload-file	Read the JSON payload from FILE, or - for stdin.' '--delay	Run after this long, e.g. 30s, 5m.' '-d	Run after this long, e.g. 30s, 5m.' '--at	Run at this time: 2030-05-01T09:30 (ISO-8601; local time unless it has an offset), 2030-05-01 9:30, 21:30 (the next one), today 9:00, tomorrow 9:00, +10m (from now), or now.' '--priority	Higher runs first (default: the job\'s).' '--queue	Queue name.' '-q	Queue name.' '--key	Unique key: no second active job with this key.' '-k	Unique key: no second active job with this key.' '--max-attempts	Attempts before the job is dead.' '--after	Run once job ID has succeeded (repeat, or ID,ID...: once all have); if one ends dead or cancelled, this job is dead too.' '--batch	JSON lines from FILE or - : all are stored or none.' '--exec	Queue the given command (no job type needed); it runs once (one attempt) unless --max-attempts or [settings] exec_max_attempts says more.' '-x	Queue the given command (no job type needed); it runs once (one attempt) unless --max-attempts or [settings] exec_max_attempts says more.' '--cwd	With --exec: run the command in DIR, not the current directory (with --batch: the command lines\' that give no \'cwd\').' '--json	Print the job(s) as JSON.' '--wait	Wait for the job to end; exit with its exit code.' '-w	Wait for the job to end; exit with its exit code.' '--follow	Like --wait, streaming the job\'s output.' '-f	Like --wait, streaming the job\'s output.' '--timeout	With --wait: give up after this long (exit 124).' '-t	With --wait: give up after this long (exit 124).' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'health'
            printf '%s\n' '--max-ready	Unhealthy above this many ready jobs (paused queues\' jobs left out).' '--max-age	Unhealthy when a ready job has waited longer (paused queues\' jobs left out).' '--max-dead	Unhealthy above this many dead jobs.' '--queue	Apply --max-ready, --max-age, --max-dead and --require-worker\'s per-queue check to this queue only (repeat for more queues).' '-q	Apply --max-ready, --max-age, --max-dead and --require-worker\'s per-queue check to this queue only (repeat for more queues).' '--require-worker	Unhealthy without a live worker, or with a queue (not paused) holding ready jobs that no live worker serves.' '--require-scheduler	Unhealthy without a live cron daemon.' '--json	Print a JSON object.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'import-crontab'
            printf '%s\n' '--system	/etc/crontab format, with a user column (/etc/crontab and /etc/cron.d/* always are).' '--user	The crontab\'s owner: jobs run as USER, in USER\'s home, named USER-...' '-u	The crontab\'s owner: jobs run as USER, in USER\'s home, named USER-...' '--prefix	Name the jobs PREFIX-..., so that imports appended to one config keep apart.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'list'
            printf '%s\n' '--state	queued, scheduled, waiting, running, succeeded, dead, cancelled.' '-s	queued, scheduled, waiting, running, succeeded, dead, cancelled.' '--job	Only this job type.' '-j	Only this job type.' '--queue	Only this queue.' '-q	Only this queue.' '--key	Only this unique key.' '-k	Only this unique key.' '--since	Only jobs created within this duration (1h, 7d), or since this time (as --at takes it: 2026-05-01T09:30, today 0:00).' '--limit	At most this many jobs.' '-n	At most this many jobs.' '--oldest-first	Oldest jobs first.' '--json	Print a JSON array.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'logs'
            printf '%s\n' '--attempt	Which run (RUN in `jobctl show`; default: the latest).' '--run	Which run (RUN in `jobctl show`; default: the latest).' '-a	Which run (RUN in `jobctl show`; default: the latest).' '--follow	Stream the output until the job ends; exit 0 if it succeeded, 1 if not.' '-f	Stream the output until the job ends; exit 0 if it succeeded, 1 if not.' '--timeout	With --follow: give up after this long (exit 124).' '-t	With --follow: give up after this long (exit 124).' '--lines	Only the last N lines (counted at newlines, as `tail -n` counts them).' '-l	Only the last N lines (counted at newlines, as `tail -n` counts them).' '--hook	The output of the attempt\'s on_failure or on_dead hook instead: failure or dead.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'metrics'
            printf '%s\n' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'pause'
            printf '%s\n' '--all	Every queue the config names or the database holds.' '-a	Every queue the config names or the database holds.' '--json	Print each queue, paused or not, as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'prune'
            printf '%s\n' '--older-than	Delete jobs that ended longer ago than this, e.g. 30d (0 for all).' '--state	succeeded, dead or cancelled (repeat; default: all three).' '-s	succeeded, dead or cancelled (repeat; default: all three).' '--yes	Do not ask for confirmation.' '-y	Do not ask for confirmation.' '--json	Print the ids deleted, and the jobs not, as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'reload'
            printf '%s\n' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'resume'
            printf '%s\n' '--all	Every queue the config names or the database holds.' '-a	Every queue the config names or the database holds.' '--json	Print each queue, paused or not, as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'retry'
            printf '%s\n' '--arg	Payload value key=value (key:=json for JSON).' '-a	Payload value key=value (key:=json for JSON).' '--delay	Run after this long, e.g. 30s, 5m.' '-d	Run after this long, e.g. 30s, 5m.' '--at	Run at this time: 2030-05-01T09:30 (ISO-8601; local time unless it has an offset), 2030-05-01 9:30, 21:30 (the next one), today 9:00, tomorrow 9:00, +10m (from now), or now.' '--priority	Higher runs first (default: the job\'s).' '--queue	Queue name.' '-q	Queue name.' '--max-attempts	Attempts before the job is dead.' '--after	Run once job ID has succeeded (repeat, or ID,ID...: once all have); if one ends dead or cancelled, this job is dead too.' '--cwd	Run an --exec job\'s command in DIR (its own directory is gone, say).' '--json	Print the new job (or the one holding its key).' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'run-worker'
            printf '%s\n' '--queue	Take jobs from this queue (repeat; default or \'*\': all).' '-q	Take jobs from this queue (repeat; default or \'*\': all).' '--concurrency	Jobs at once.' '-n	Jobs at once.' '--burst	Exit once nothing is ready or running.' '--shutdown-timeout	On SIGTERM/SIGINT, let running jobs finish.' '--worker-name	Worker id (default: host:pid:random).' '--metrics-addr	Serve /metrics, /healthz and /livez at HOST:PORT (loopback when HOST is omitted).' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'schedule'
            printf '%s\n' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'schedule list'
            printf '%s\n' '--json	Print a JSON array.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'schedule pause'
            printf '%s\n' '--json	Print the schedule, whether it is paused, and whether this changed it, as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'schedule resume'
            printf '%s\n' '--json	Print the schedule, whether it is paused, and whether this changed it, as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'schedule run'
            printf '%s\n' '--json	Print the job as enqueue --json does, with the run\'s status (enqueued, skipped, pending), its reason, the active run that held it up, and the held fire this command enqueued first (released).' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'schedule-daemon'
            printf '%s\n' '--metrics-addr	Serve /metrics, /healthz and /livez at HOST:PORT (loopback when HOST is omitted).' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'show'
            printf '%s\n' '--json	Print a JSON object.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'stats'
            printf '%s\n' '--since	The window to report on: a duration (1h, 7d), or the time it starts (as --at takes it: 2026-05-01T09:30, today 0:00).' '--json	Print a JSON array.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'status'
            printf '%s\n' '--json	Print a JSON object.' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'up'
            printf '%s\n' '--queue	Take jobs from this queue (repeat; default or \'*\': all).' '-q	Take jobs from this queue (repeat; default or \'*\': all).' '--concurrency	Jobs at once.' '-n	Jobs at once.' '--shutdown-timeout	On SIGTERM/SIGINT, let running jobs finish.' '--metrics-addr	Serve /metrics, /healthz and /livez at HOST:PORT (loopback when HOST is omitted).' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'validate'
            printf '%s\n' '--quiet	Print nothing when valid (warnings still go to stderr).' '--help	Show this message and exit.' '-h	Show this message and exit.'
        case 'wait'
            printf '%s\n' '--queue	Also every job queued, scheduled, waiting or running in this queue now.' '-q	Also every job queued, scheduled, waiting or running in this queue now.' '--job	Also every job of this type active now (queued, scheduled, waiting or running; with --queue: in that queue).' '-j	Also every job of this type active now (queued, scheduled, waiting or running; with --queue: in that queue).' '--all	Also every job active now, in every queue.' '-a	Also every job active now, in every queue.' '--timeout	Give up after this long (exit 124).' '-t	Give up after this long (exit 124).' '--json	Print the jobs as JSON.' '--help	Show this message and exit.' '-h	Show this message and exit.'
    end
end

function __jobctl_value
    switch $argv[1]
        case ' --config'
            printf '%s\n' 'file'
        case ' -c'
            printf '%s\n' 'file'
        case ' --db'
            printf '%s\n' 'file'
        case ' --log-format'
            printf '%s\n' 'choice text json'
        case ' --log-level'
            printf '%s\n' 'choice debug info warning error'
        case 'cancel --queue'
            printf '%s\n' 'dynamic'
        case 'cancel -q'
            printf '%s\n' 'dynamic'
        case 'cancel --job'
            printf '%s\n' 'dynamic'
        case 'cancel -j'
            printf '%s\n' 'dynamic'
        case 'cron next --count'
            printf '%s\n' 'plain'
        case 'cron next -n'
            printf '%s\n' 'plain'
        case 'cron next --tz'
            printf '%s\n' 'plain'
        case 'cron next --from'
            printf '%s\n' 'plain'
        case 'dead list --job'
            printf '%s\n' 'dynamic'
        case 'dead list -j'
            printf '%s\n' 'dynamic'
        case 'dead list --since'
            printf '%s\n' 'plain'
        case 'dead list --limit'
            printf '%s\n' 'plain'
        case 'dead list -n'
            printf '%s\n' 'plain'
        case 'dead purge --older-than'
            printf '%s\n' 'plain'
        case 'dead purge --job'
            printf '%s\n' 'dynamic'
        case 'dead purge -j'
            printf '%s\n' 'dynamic'
        case 'dead retry --job'
            printf '%s\n' 'dynamic'
        case 'dead retry -j'
            printf '%s\n' 'dynamic'
        case 'dead show --lines'
            printf '%s\n' 'plain'
        case 'dead show -l'
            printf '%s\n' 'plain'
        case 'edit --arg'
            printf '%s\n' 'plain'
        case 'edit -a'
            printf '%s\n' 'plain'
        case 'edit --delay'
            printf '%s\n' 'plain'
        case 'edit -d'
            printf '%s\n' 'plain'
        case 'edit --at'
            printf '%s\n' 'plain'
        case 'edit --priority'
            printf '%s\n' 'plain'
        case 'edit --queue'
            printf '%s\n' 'dynamic'
        case 'edit -q'
            printf '%s\n' 'dynamic'
        case 'edit --max-attempts'
            printf '%s\n' 'plain'
        case 'edit --cwd'
            printf '%s\n' 'dir'
        case 'enqueue --arg'
            printf '%s\n' 'plain'
        case 'enqueue -a'
            printf '%s\n' 'plain'
        case 'enqueue --payload'
            printf '%s\n' 'plain'
        case 'enqueue -p'
            printf '%s\n' 'plain'
        case 'enqueue --payload-file'
            printf '%s\n' 'file'
        case 'enqueue --delay'
            printf '%s\n' 'plain'
        case 'enqueue -d'
            printf '%s\n' 'plain'
        case 'enqueue --at'
            printf '%s\n' 'plain'
        case 'enqueue --priority'
            printf '%s\n' 'plain'
        case 'enqueue --queue'
            printf '%s\n' 'dynamic'
        case 'enqueue -q'
            printf '%s\n' 'dynamic'
        case 'enqueue --key'
            printf '%s\n' 'plain'
        case 'enqueue -k'
            printf '%s\n' 'plain'
        case 'enqueue --max-attempts'
            printf '%s\n' 'plain'
        case 'enqueue --after'
            printf '%s\n' 'plain'
        case 'enqueue --batch'
            printf '%s\n' 'file'
        case 'enqueue --cwd'
            printf '%s\n' 'dir'
        case 'enqueue --timeout'
            printf '%s\n' 'plain'
        case 'enqueue -t'
            printf '%s\n' 'plain'
        case 'health --max-ready'
            printf '%s\n' 'plain'
        case 'health --max-age'
            printf '%s\n' 'plain'
        case 'health --max-dead'
            printf '%s\n' 'plain'
        case 'health --queue'
            printf '%s\n' 'dynamic'
        case 'health -q'
            printf '%s\n' 'dynamic'
        case 'import-crontab --user'
            printf '%s\n' 'plain'
        case 'import-crontab -u'
            printf '%s\n' 'plain'
        case 'import-crontab --prefix'
            printf '%s\n' 'plain'
        case 'list --state'
            printf '%s\n' 'dynamic'
        case 'list -s'
            printf '%s\n' 'dynamic'
        case 'list --job'
            printf '%s\n' 'dynamic'
        case 'list -j'
            printf '%s\n' 'dynamic'
        case 'list --queue'
            printf '%s\n' 'dynamic'
        case 'list -q'
            printf '%s\n' 'dynamic'
        case 'list --key'
            printf '%s\n' 'plain'
        case 'list -k'
            printf '%s\n' 'plain'
        case 'list --since'
            printf '%s\n' 'plain'
        case 'list --limit'
            printf '%s\n' 'plain'
        case 'list -n'
            printf '%s\n' 'plain'
        case 'logs --attempt'
            printf '%s\n' 'plain'
        case 'logs --run'
            printf '%s\n' 'plain'
        case 'logs -a'
            printf '%s\n' 'plain'
        case 'logs --timeout'
            printf '%s\n' 'plain'
        case 'logs -t'
            printf '%s\n' 'plain'
        case 'logs --lines'
            printf '%s\n' 'plain'
        case 'logs -l'
            printf '%s\n' 'plain'
        case 'logs --hook'
            printf '%s\n' 'choice failure dead'
        case 'prune --older-than'
            printf '%s\n' 'plain'
        case 'prune --state'
            printf '%s\n' 'dynamic'
        case 'prune -s'
            printf '%s\n' 'dynamic'
        case 'retry --arg'
            printf '%s\n' 'plain'
        case 'retry -a'
            printf '%s\n' 'plain'
        case 'retry --delay'
            printf '%s\n' 'plain'
        case 'retry -d'
            printf '%s\n' 'plain'
        case 'retry --at'
            printf '%s\n' 'plain'
        case 'retry --priority'
            printf '%s\n' 'plain'
        case 'retry --queue'
            printf '%s\n' 'dynamic'
        case 'retry -q'
            printf '%s\n' 'dynamic'
        case 'retry --max-attempts'
            printf '%s\n' 'plain'
        case 'retry --after'
            printf '%s\n' 'plain'
        case 'retry --cwd'
            printf '%s\n' 'dir'
        case 'run-worker --queue'
            printf '%s\n' 'dynamic'
        case 'run-worker -q'
            printf '%s\n' 'dynamic'
        case 'run-worker --concurrency'
            printf '%s\n' 'plain'
        case 'run-worker -n'
            printf '%s\n' 'plain'
        case 'run-worker --shutdown-timeout'
            printf '%s\n' 'plain'
        case 'run-worker --worker-name'
            printf '%s\n' 'plain'
        case 'run-worker --metrics-addr'
            printf '%s\n' 'plain'
        case 'schedule-daemon --metrics-addr'
            printf '%s\n' 'plain'
        case 'stats --since'
            printf '%s\n' 'plain'
        case 'up --queue'
            printf '%s\n' 'dynamic'
        case 'up -q'
            printf '%s\n' 'dynamic'
        case 'up --concurrency'
            printf '%s\n' 'plain'
        case 'up -n'
            printf '%s\n' 'plain'
        case 'up --shutdown-timeout'
            printf '%s\n' 'plain'
        case 'up --metrics-addr'
            printf '%s\n' 'plain'
        case 'wait --queue'
            printf '%s\n' 'dynamic'
        case 'wait -q'
            printf '%s\n' 'dynamic'
        case 'wait --job'
            printf '%s\n' 'dynamic'
        case 'wait -j'
            printf '%s\n' 'dynamic'
        case 'wait --timeout'
            printf '%s\n' 'plain'
        case 'wait -t'
            printf '%s\n' 'plain'
        case '*'
            printf '%s\n' 'flag'
    end
end

function __jobctl_argument
    switch $argv[1]
        case 'backup 0'
            printf '%s\n' 'file'
        case 'cancel *'
            printf '%s\n' 'plain'
        case 'cron next 0'
            printf '%s\n' 'dynamic'
        case 'dead purge *'
            printf '%s\n' 'plain'
        case 'dead retry *'
            printf '%s\n' 'plain'
        case 'dead show 0'
            printf '%s\n' 'plain'
        case 'edit *'
            printf '%s\n' 'plain'
        case 'enqueue *'
            printf '%s\n' 'dynamic'
        case 'import-crontab 0'
            printf '%s\n' 'file'
        case 'logs 0'
            printf '%s\n' 'plain'
        case 'pause *'
            printf '%s\n' 'dynamic'
        case 'prune *'
            printf '%s\n' 'plain'
        case 'resume *'
            printf '%s\n' 'dynamic'
        case 'retry 0'
            printf '%s\n' 'plain'
        case 'schedule pause 0'
            printf '%s\n' 'dynamic'
        case 'schedule resume 0'
            printf '%s\n' 'dynamic'
        case 'schedule run 0'
            printf '%s\n' 'dynamic'
        case 'show 0'
            printf '%s\n' 'plain'
        case 'wait *'
            printf '%s\n' 'plain'
    end
end

function __jobctl_complete
    set -l words (commandline -opc)
    set -l prog $words[1]
    set -e words[1]
    set -l cur (commandline -ct)
    set -l node ''
    set -l pending ''
    set -l dashdash 0
    set -l argi 0
    set -l exec 0
    set -l cmdw 0
    for w in $words
        if test $exec = 1; and test $cmdw -gt 0
            set cmdw (math $cmdw + 1)  # the words of an --exec command are the command's
        else if test -n "$pending"
            set pending ''
        else if test $dashdash = 0; and test "x$w" = x--
            set dashdash 1
            if test "$node" = edit  # edit ID -- CMD ARGS...
                set exec 1
            end
        else if test $dashdash = 0; and string match -q -- '--?*' $w
            if contains -- "$node" enqueue edit; and test "x$w" = x--exec
                set exec 1
            end
            if not string match -q -- '*=*' $w
                test (__jobctl_value "$node $w") = flag; or set pending $w
            end
        else if test $dashdash = 0; and string match -q -- '-?*' $w
            # Short options, alone or bundled (-xq): flags up to one that takes a value,
            # which is the rest of the word, or else the next word.
            set -l letters (string split '' -- (string sub -s 2 -- $w))
            for j in (seq (count $letters))
                if contains -- "$node" enqueue edit; and test $letters[$j] = x
                    set exec 1
                end
                if test (__jobctl_value "$node -$letters[$j]") != flag
                    test $j -lt (count $letters); or set pending -$letters[$j]
                    break
                end
            end
        else if test $exec = 1
            set cmdw (math $cmdw + 1)  # the command's name
        else if test $argi = 0; and contains -- $w \
                (__jobctl_commands $node | string replace -r '\t.*' '')
            set node (string trim -- "$node $w")
        else
            set argi (math $argi + 1)
        end
    end
    set -l kind
    set -l prefix ''
    if test $exec = 1; and test -z "$pending"; and test $cmdw -gt 0
        __fish_complete_path $cur  # an argument of the command
        return
    else if test $exec = 1; and test -z "$pending"; and begin
            test $dashdash = 1; or not string match -q -- '-*' $cur
        end
        __fish_complete_command $cur  # the command's name
        return
    else if test -n "$pending"
        set kind (__jobctl_value "$node $pending")
    else if test $dashdash = 0; and string match -q -- '--*=*' $cur
        set prefix (string replace -r '=.*' '=' -- $cur)
        set kind (__jobctl_value "$node "(string replace -r '=.*' '' -- $cur))
        set cur (string replace -r '^[^=]*=' '' -- $cur)
    else if test $dashdash = 0; and string match -q -- '-*' $cur
        __jobctl_options $node
        return
    else
        set -l commands (__jobctl_commands $node)
        if test (count $commands) -gt 0
            printf '%s\n' $commands
            return
        end
        set kind (__jobctl_argument "$node $argi")
        test -n "$kind"; or set kind (__jobctl_argument "$node *")
    end
    switch "$kind"
        case file dir
            __fish_complete_path $cur
        case dynamic
            set -l line (commandline -cp)
            for item in (env _JOBCTL_COMPLETE=complete_line _JOBCTL_COMPLETE_LINE="$line" \
                    $prog 2>/dev/null)
                test -n "$item"; and printf '%s%s\n' $prefix $item
            end
        case 'choice *'
            for value in (string split ' ' -- (string replace 'choice ' '' -- $kind))
                printf '%s%s\n' $prefix $value
            end
    end
end

complete -c jobctl -f -a '(__jobctl_complete)'
