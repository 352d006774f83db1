-- Forget a schedule's planned fire records dated after a time: recorded under a clock since
-- set back, they would keep those fires from being recorded, and run, when their time comes.
-- A manual run, or a held one (pending), is work promised and stays.
-- ARGV: a JSON object {schedule, after, fence}. Returns how many records went.
local fire = cjson.decode(ARGV[1])
if fire.fence and redis.call('GET', P .. 'leader') ~= fire.fence then
    return redis.error_reply('jobctl: not the cron leader any more (its lease was lost)')
end
local schedule = fire.schedule
local times = P .. 'fire_times:' .. schedule
local fires = P .. 'fires:' .. schedule
local pending = P .. 'fires_pending:' .. schedule
local gone = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', times, '(' .. fire.after, '+inf')) do
    local text = redis.call('HGET', fires, member)
    local record = text and cjson.decode(text)
    if not record or (record.manual == '0' and record.status ~= 'pending') then
        redis.call('HDEL', fires, member)
        redis.call('ZREM', times, member)
        redis.call('ZREM', pending, member)
        gone[#gone + 1] = member
    end
end
if #gone > 0 then
    -- Where the plan stands and the latest run, as the records that stay say.
    redis.call('DEL', P .. 'last_run:' .. schedule, P .. 'last_planned:' .. schedule)
    last_run(schedule)
    for _, member in ipairs(redis.call('ZREVRANGE', times, 0, -1)) do
        if cjson.decode(redis.call('HGET', fires, member)).manual == '0' then
            redis.call('SET', P .. 'last_planned:' .. schedule, member)
            break
        end
    end
end
return #gone
