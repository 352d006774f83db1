-- Record one cron fire and enqueue its job, atomically. The fire's own entry (schedule, fire
-- time) is written only if absent, so no fire is ever enqueued twice, whichever daemon asks.
-- ARGV: a JSON object {schedule, fire_time, now, overlap, manual, reason, fence, backlog (how
-- many fires a catch-up holds at most)}, then the job's JSON (absent: record the fire as
-- skipped). With a fence, the caller must still hold the cron leader lease under that token.
-- Returns false when the fire was recorded before, else {status, job id or "", reason or "",
-- how many held fires of an earlier catch-up this one made give way, the active run that
-- skipped or held it or "", the held fire enqueued first or "", its manual flag or "", its
-- job or ""}.
local fire = cjson.decode(ARGV[1])
local schedule, fire_time, now = fire.schedule, fire.fire_time, fire.now
if fire.fence and redis.call('GET', P .. 'leader') ~= fire.fence then
    return redis.error_reply('jobctl: not the cron leader any more (its lease was lost)')
end
local fires = P .. 'fires:' .. schedule
if redis.call('HEXISTS', fires, fire_time) == 1 then
    return false
end
local times = P .. 'fire_times:' .. schedule
if not ARGV[2] and fire.manual == '0' then
    -- A disabled or paused schedule's skips: its newest skip for the same reason moves on to
    -- this fire (one entry says where the plan stands; one a second said nothing more).
    local newest = redis.call('ZRANGE', times, -1, -1)[1]
    local kept = newest and tonumber(newest) < tonumber(fire_time)
        and redis.call('HGET', fires, newest)
    if kept then
        local record = cjson.decode(kept)
        if record.status == 'skipped' and record.manual == '0' and record.reason == fire.reason then
            redis.call('HDEL', fires, newest)
            redis.call('ZREM', times, newest)
        end
    end
end
local job_id, status, reason = nil, 'skipped', fire.reason
local displaced = 0
local held_by = nil  -- the active run that skipped or held this fire
-- A held fire enqueued first, for the daemon to log: its time, whether manual, its job.
local released, released_manual, released_job = nil, nil, nil
if ARGV[2] then
    local active = nil
    if fire.overlap == 'skip' or fire.overlap == 'queue' then
        active = active_run(schedule)
    end
    local pending = P .. 'fires_pending:' .. schedule
    local held = not active and fire.overlap == 'queue' and redis.call('ZRANGE', pending, 0, 0)[1]
    if held then
        -- The run a held fire waited for ended before the daemon's next look: that fire goes
        -- first, and this one waits behind it, as if it came a moment later.
        local record
        active, record = promote(schedule, held, cjson.decode(ARGV[2]), now)
        released, released_manual, released_job = held, record.manual, active
    end
    held_by = active
    if active and fire.overlap == 'skip' then
        reason = 'overlap: run ' .. active .. ' is still active'
    elseif active and not fire.backlog
        and redis.call('ZCARD', P .. 'fires_pending:' .. schedule) > 0 then
        -- one held fire is enough: a backlog would only grow
        reason = 'overlap: a fire already waits for run ' .. active
    elseif active then
        status, reason = 'pending', 'waiting for run ' .. active .. ' to finish'
    else
        job_id = insert(cjson.decode(ARGV[2]), now)
        status, held_by = 'enqueued', nil
        wake('w')
    end
end
local record = {status = status, job_id = job_id, reason = reason, manual = fire.manual,
    at = now}
redis.call('HSET', fires, fire_time, cjson.encode(record))
redis.call('ZADD', times, fire_time, fire_time)
redis.call('SADD', P .. 'schedules', schedule)
if status == 'enqueued' then
    local last = redis.call('GET', P .. 'last_run:' .. schedule)
    if not last or tonumber(fire_time) > tonumber(last) then
        redis.call('SET', P .. 'last_run:' .. schedule, fire_time)
    end
end
if status == 'pending' then
    local pending = P .. 'fires_pending:' .. schedule
    redis.call('ZADD', pending, fire_time, fire_time)
    local limit = tonumber(fire.backlog or '0')
    if limit > 0 then
        -- A catch-up's fires join those an earlier one left waiting (a restart while the run
        -- they wait for goes on): the newest `limit` wait, the older ones are skipped, so the
        -- held fires never outgrow the schedule's catch_up_limit. A manual run held
        -- (schedule run) is no missed fire: never counted, never dropped.
        local why = 'replaced by newer fires (catch_up_limit = ' .. limit .. ')'
        for _, member in ipairs(drop_held(schedule, why, now, limit)) do
            if member == fire_time then  -- older than the fires held already
                status, reason, held_by = 'skipped', why, nil
            else
                displaced = displaced + 1
            end
        end
    end
end
if fire.manual == '0' then
    local last = redis.call('GET', P .. 'last_planned:' .. schedule)
    if not last or tonumber(fire_time) > tonumber(last) then
        redis.call('SET', P .. 'last_planned:' .. schedule, fire_time)
    end
end
return {status, job_id or '', reason or '', displaced, held_by or '', released or '',
    released_manual or '', released_job or ''}
