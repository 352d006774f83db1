-- Bring a namespace written under an older schema (the `meta` hash's schema) up to ARGV[1],
-- once: the first jobctl to open it does, and this script finds the work done for the rest.
-- Schema 2 adds the namespace's due set (every scheduled job, by run_at) and ready_queues
-- (the queues holding queued jobs), which claims read instead of each queue's keys.
-- Schema 3 adds the listing's indexes by queue and by unique key (byqueue:Q, bykey:K: every
-- job, finished ones too) and meta's created_latest and created_back (see note_created),
-- found from the jobs in id order, ARGV[2] jobs a call.
-- Returns the schema found, or -1 while schema 3's jobs are not all indexed yet.
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
    redis.call('HSET', P .. 'meta', 'schema', '2')  -- done once, whatever schema 3's chunks take
end
if found < 3 then
    -- A chunk of ARGV[2] jobs a call, from meta's upgrade_from on: millions of jobs in one
    -- script would hold the server past its busy threshold. The walk's own bounds are kept
    -- aside (the jobs enqueued meanwhile note theirs, and the walk reaches them too).
    local meta = P .. 'meta'
    local from, latest, back = unpack(
        redis.call('HMGET', meta, 'upgrade_from', 'upgrade_latest', 'upgrade_back'))
    back = tonumber(back or '0')
    local chunk = tonumber(ARGV[2])
    local low = '-inf'
    if from then
        low = '(' .. from
    end
    local members = redis.call('ZRANGEBYSCORE', P .. 'all', low, '+inf', 'LIMIT', 0, chunk)
    for _, member in ipairs(members) do
        local id = tostring(tonumber(member))
        local queue, key, created = unpack(
            redis.call('HMGET', job_key(id), 'queue', 'key', 'created_at'))
        if queue then
            redis.call('ZADD', P .. 'byqueue:' .. queue, id, member)
            if key then
                redis.call('ZADD', P .. 'bykey:' .. key, id, member)
            end
            if not latest or tonumber(created) > tonumber(latest) then
                latest = created
            elseif tonumber(latest) - tonumber(created) > back then
                back = tonumber(latest) - tonumber(created)
            end
        end
    end
    if #members == chunk then
        local last = tostring(tonumber(members[#members]))
        redis.call('HSET', meta, 'upgrade_from', last, 'upgrade_back', num(back))
        if latest then
            redis.call('HSET', meta, 'upgrade_latest', latest)
        end
        return -1  -- more to come: the caller calls again
    end
    redis.call('HDEL', meta, 'upgrade_from', 'upgrade_latest', 'upgrade_back')
    if latest then
        redis.call('HSET', meta, 'created_latest', latest, 'created_back', num(back))
    end
end
redis.call('HSET', P .. 'meta', 'schema', ARGV[1])
return found
