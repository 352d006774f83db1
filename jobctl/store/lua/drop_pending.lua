-- Record the pending fires of a schedule (overlap = "queue") as skipped, so that none is
-- ever enqueued: its time table changed, or it was taken out of the config; with `keep`, only
-- the planned ones beyond the newest `keep` (a pause, a lowered catch_up_limit).
-- ARGV: a JSON object {schedule, now, reason, fence, keep}. Returns how many there were.
local fire = cjson.decode(ARGV[1])
if fire.fence and redis.call('GET', P .. 'leader') ~= fire.fence then
    return redis.error_reply('jobctl: not the cron leader any more (its lease was lost)')
end
return #drop_held(fire.schedule, fire.reason, fire.now, tonumber(fire.keep))
