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
local job_id, record = promote(schedule, oldest, cjson.decode(ARGV[2]), now)
return {oldest, job_id, record.manual}
