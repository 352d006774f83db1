-- Change jobs not yet started (jobctl edit). ARGV: now, then ten values a job: id, the
-- attempts it had made when the edit was built, payload, the payload it was made from,
-- queue, priority, max_attempts, run_at, command (JSON) and cwd, the last two an --exec
-- job's only; "" for a field that stays as it is. A job is
-- changed only while queued, scheduled or waiting with that many attempts made, and, for a
-- new payload, while it still has the one the keys set were set on (two edits at once do not
-- undo each other). It leaves the indexes of its old queue, priority and run_at for the new
-- ones, queued or scheduled as a new run_at is past or ahead (a waiting job stays waiting);
-- moved to another queue, what the stats counted for it goes there too. Returns the ids
-- changed.
local UNSTARTED = {queued = true, scheduled = true, waiting = true}
local now = tonumber(ARGV[1])
local edited = {}

local function given(value)
    if value == '' then
        return nil
    end
    return value
end

-- What the stats counted for job `id` in queue `from` moves to its new queue, each in its
-- hour: its enqueue, and its attempts' starts and outcomes, whose times stats reads through
-- the job's queue; an hour summed into the lifetime total (compact_counts) gives from that
-- total. The histograms stay where the attempts ran: a metric's counter never goes down.
local function move_counts(id, h, from)
    local counted = {{h.created_at, 'enqueued'}}
    for run = 1, tonumber(h.runs or '0') do
        local started, finished, outcome = unpack(redis.call('HMGET', attempt_key(id, run),
            'started_at', 'finished_at', 'outcome'))
        if started then
            counted[#counted + 1] = {started, 'started'}
            if outcome and finished then
                counted[#counted + 1] = {finished, 'attempt:' .. outcome}
            end
        end
    end
    for _, each in ipairs(counted) do
        local field = SEP .. h.job .. SEP .. each[2]
        for _, hour in ipairs({hour_of(each[1]), 0}) do
            local hours = P .. 'stats:' .. hour
            if tonumber(redis.call('HGET', hours, from .. field) or '0') > 0 then
                redis.call('HINCRBY', hours, from .. field, -1)
                redis.call('HINCRBY', hours, h.queue .. field, 1)
                break
            end
        end
    end
end

for i = 2, #ARGV, 10 do
    local id = ARGV[i]
    local h = load(id)
    local payload, was = given(ARGV[i + 2]), given(ARGV[i + 3])
    if h and UNSTARTED[h.state] and h.attempts == ARGV[i + 1] and (not was or h.payload == was) then
        local old = copy(h)
        h.payload = payload or h.payload
        h.queue = given(ARGV[i + 4]) or h.queue
        h.priority = given(ARGV[i + 5]) or h.priority
        h.max_attempts = given(ARGV[i + 6]) or h.max_attempts
        h.command = given(ARGV[i + 8]) or h.command
        h.cwd = given(ARGV[i + 9]) or h.cwd
        local run_at = given(ARGV[i + 7])
        if run_at then
            h.run_at = run_at
            if h.state ~= 'waiting' then
                h.state = 'queued'
                if tonumber(run_at) > now then
                    h.state = 'scheduled'
                end
            end
        end
        unindex(id, old, old.state)
        index(id, h, h.state)
        if PENDING[old.state] then
            redis.call('HINCRBY', P .. 'pending', old.queue .. SEP .. old.job, -1)
            redis.call('HINCRBY', P .. 'pending', h.queue .. SEP .. h.job, 1)
        end
        if h.queue ~= old.queue then
            redis.call('SADD', P .. 'queues', h.queue)
            move_counts(id, h, old.queue)
        end
        save(id, h, {'payload', 'queue', 'priority', 'max_attempts', 'run_at', 'state', 'command',
            'cwd'})
        edited[#edited + 1] = id
    end
end
if #edited > 0 then
    wake('w')  -- due now, or sooner than a sleeping worker planned for
end
return edited
