-- (read only) Per queue: its name, paused or not, counts by state (flat), the run_at of the
-- oldest job waiting, and how many scheduled jobs are due but not yet promoted (ready too).
-- ARGV: now.
local now = tonumber(ARGV[1])
local out = {}
for _, queue in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
    local oldest = nil
    for _, priority in ipairs(redis.call('ZRANGE', P .. 'prios:' .. queue, 0, -1)) do
        local first = redis.call('ZRANGE', ready_key(queue, priority), 0, 0, 'WITHSCORES')
        if first[2] and (not oldest or tonumber(first[2]) < tonumber(oldest)) then
            oldest = first[2]
        end
    end
    local due = redis.call('ZRANGE', P .. 'due:' .. queue, 0, 0, 'WITHSCORES')
    if due[2] and tonumber(due[2]) <= now and (not oldest or tonumber(due[2]) < tonumber(oldest)) then
        oldest = due[2]
    end
    out[#out + 1] = {queue, redis.call('SISMEMBER', P .. 'paused', queue),
        redis.call('HGETALL', P .. 'counts:' .. queue), oldest or '',
        redis.call('ZCOUNT', P .. 'due:' .. queue, '-inf', ARGV[1])}
end
return out
