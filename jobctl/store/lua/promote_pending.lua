-- Enqueue the oldest pending fire of a schedule (overlap = "queue") once no run of it is
-- active. ARGV: a JSON object {schedule, now, fence}, then the job's JSON (its fire_time is
-- set here). Returns false, or {fire_time, job id, manual}.
local fire = cjson.decode(ARGV[1])
local schedule, now = fire.schedule, fire.now
if fire.fence and redis.call('GET', P .. 'leader') ~= fire.fence then
    return redis.error_reply('jobctl: not the cron leader any more (its lease was lost)')
end
local pending = P .. 'fires_pending:' .. schedule
local oldest = redis.call('ZRANGE', pending, 0, 0)[1]
if not oldest then
    return false
end
if active_run(schedule) then
    return false
end
local spec = cjson.decode(ARGV[2])
spec.fire_time = oldest
local job_id = insert(spec, now)
local fires = P .. 'fires:' .. schedule
local record = cjson.decode(redis.call('HGET', fires, oldest))
record.status, record.job_id, record.reason, record.at = 'enqueued', job_id, nil, now
redis.call('HSET', fires, oldest, cjson.encode(record))
redis.call('ZREM', pending, oldest)
local last = redis.call('GET', P .. 'last_run:' .. schedule)
if not last or tonumber(oldest) > tonumber(last) then
    redis.call('SET', P .. 'last_run:' .. schedule, oldest)
end
wake('w')
return {oldest, job_id, record.manual}
