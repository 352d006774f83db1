-- Record every pending fire of a schedule (overlap = "queue") as skipped, so that none is
-- ever enqueued: its time table changed, or it was taken out of the config.
-- ARGV: a JSON object {schedule, now, reason, fence}. Returns how many there were.
local fire = cjson.decode(ARGV[1])
if fire.fence and redis.call('GET', P .. 'leader') ~= fire.fence then
    return redis.error_reply('jobctl: not the cron leader any more (its lease was lost)')
end
local pending = P .. 'fires_pending:' .. fire.schedule
local fires = P .. 'fires:' .. fire.schedule
local held = redis.call('ZRANGE', pending, 0, -1)
for _, member in ipairs(held) do
    local text = redis.call('HGET', fires, member)
    if text then
        local record = cjson.decode(text)
        record.status, record.reason, record.at = 'skipped', fire.reason, fire.now
        redis.call('HSET', fires, member, cjson.encode(record))
    end
end
redis.call('DEL', pending)
return #held
