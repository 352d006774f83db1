-- Change jobs not yet started (jobctl edit). ARGV: now, then seven values a job: id, the
-- attempts it had made when the edit was built, payload, queue, priority, max_attempts,
-- run_at. A job is changed only while queued, scheduled or waiting with that many attempts
-- made; it leaves the indexes of its old queue, priority and run_at for the new ones,
-- queued or scheduled as run_at is past or ahead (a waiting job stays waiting).
-- Returns the ids changed.
local UNSTARTED = {queued = true, scheduled = true, waiting = true}
local now = tonumber(ARGV[1])
local edited = {}
for i = 2, #ARGV, 7 do
    local id = ARGV[i]
    local h = load(id)
    if h and UNSTARTED[h.state] and h.attempts == ARGV[i + 1] then
        local old = copy(h)
        h.payload, h.queue, h.priority = ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
        h.max_attempts, h.run_at = ARGV[i + 5], ARGV[i + 6]
        if h.state ~= 'waiting' then
            h.state = 'queued'
            if tonumber(h.run_at) > now then
                h.state = 'scheduled'
            end
        end
        unindex(id, old, old.state)
        index(id, h, h.state)
        if PENDING[old.state] then
            redis.call('HINCRBY', P .. 'pending', old.queue .. SEP .. old.job, -1)
            redis.call('HINCRBY', P .. 'pending', h.queue .. SEP .. h.job, 1)
        end
        redis.call('SADD', P .. 'queues', h.queue)
        save(id, h, {'payload', 'queue', 'priority', 'max_attempts', 'run_at', 'state'})
        edited[#edited + 1] = id
    end
end
if #edited > 0 then
    wake('w')  -- due now, or sooner than a sleeping worker planned for
end
return edited
