-- Forget fire records older than a time: skipped ones, and those of runs since pruned.
-- ARGV: before. Each schedule keeps its latest planned fire (where its plan resumes; one
-- only ever run by hand, its latest fire), its latest run and anything pending. Returns how
-- many records went.
local before = tonumber(ARGV[1])
local removed = 0
for _, schedule in ipairs(redis.call('SMEMBERS', P .. 'schedules')) do
    local times = P .. 'fire_times:' .. schedule
    local planned = redis.call('GET', P .. 'last_planned:' .. schedule)
        or redis.call('ZRANGE', times, -1, -1)[1]
    local run = last_run(schedule)
    local fires = P .. 'fires:' .. schedule
    local pending = P .. 'fires_pending:' .. schedule
    if planned then
        for _, member in ipairs(redis.call('ZRANGEBYSCORE', times, '-inf', '(' .. ARGV[1])) do
            local t = tonumber(member)
            if t < tonumber(planned) and (not run or t ~= tonumber(run))
                and not redis.call('ZSCORE', pending, member) then
                redis.call('HDEL', fires, member)
                redis.call('ZREM', times, member)
                removed = removed + 1
            end
        end
    end
end
return removed
