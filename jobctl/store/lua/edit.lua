-- Change jobs not yet started (jobctl edit). ARGV: now, then ten values a job: id, the
-- attempts it had made when the edit was built, payload, the payload it was made from,
-- queue, priority, max_attempts, run_at, command (JSON) and cwd, the last two an --exec
-- job's only; "" for a field that stays as it is. A job is
-- changed only while queued, scheduled or waiting with that many attempts made, and, for a
-- new payload, while it still has the one the keys set were set on (two edits at once do not
-- undo each other). It leaves the indexes of its old queue, priority and run_at for the new
-- ones, queued or scheduled as a new run_at is past or ahead (a waiting job stays waiting);
-- moved to another queue, its pending count goes there, while its enqueue and attempts stay
-- counted where they happened. Returns the ids changed.
local UNSTARTED = {queued = true, scheduled = true, waiting = true}
local now = tonumber(ARGV[1])
local edited = {}

local function given(value)
    if value == '' then
        return nil
    end
    return value
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
            -- What the stats counted for it (its enqueue, its attempts) stays in the queue
            -- it happened in: jobctl_jobs_enqueued_total by queue must never go down.
            redis.call('SADD', P .. 'queues', h.queue)
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
