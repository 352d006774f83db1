-- Bring a namespace written under an older schema (the `meta` hash's schema) up to ARGV[1],
-- once: the first jobctl to open it does, and this script finds the work done for the rest.
-- Schema 2 adds the namespace's due set (every scheduled job, by run_at) and ready_queues
-- (the queues holding queued jobs), which claims read instead of each queue's keys.
-- Returns the schema found.
local target = tonumber(ARGV[1])
local found = tonumber(redis.call('HGET', P .. 'meta', 'schema') or '0')
if found >= target or found == 0 then
    return found
end
if found < 2 then
    for _, queue in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
        local due = redis.call('ZRANGE', P .. 'due:' .. queue, 0, -1, 'WITHSCORES')
        for first = 1, #due, 2000 do
            local entries = {}
            for i = first, math.min(first + 1999, #due), 2 do
                entries[#entries + 1] = due[i + 1]
                entries[#entries + 1] = due[i]
            end
            redis.call('ZADD', P .. 'due', unpack(entries))
        end
        if redis.call('EXISTS', P .. 'prios:' .. queue) == 1 then
            redis.call('SADD', P .. 'ready_queues', queue)
        end
    end
end
redis.call('HSET', P .. 'meta', 'schema', ARGV[1])
return found
