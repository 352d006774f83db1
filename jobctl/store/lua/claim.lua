-- Claim up to `limit` ready jobs: promote the scheduled jobs that are due, pick the best
-- ready jobs of the unpaused queues asked for (priority, then run_at, then id), take a lease
-- on each and record the attempt.
-- ARGV: now, lease_until, limit, worker, host, queues (JSON array, or "" for all), caps
-- (JSON object: queue -> most leased jobs at once, or ""), then `limit` lease tokens, then the
-- capped queues whose jobs the caller just ended (JSON array, or "": see the end), then the
-- rates (JSON object: queue -> [most starts, window in seconds], or "").
-- Returns one flattened job per claim.
local now, lease_until, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local worker, host = ARGV[4], ARGV[5]
local now_n = tonumber(now)
-- How far past `now` an attempt may start at its run_at (the SQLite store's _START_SLACK).
local START_SLACK = 1.0
-- How many due jobs a claim promotes at most, the longest due first (the SQLite store's
-- PROMOTE_SLICE): 400,000 at once ran this script 11 s, the server BUSY for every client.
local PROMOTE_SLICE = 1000

-- Only what is due is read: the namespace's due set holds every scheduled job by run_at. An
-- entry whose job is no longer scheduled (a jobctl of schema 1 still running beside this one
-- does not keep that set) is dropped. A claim of none (a worker with no slot free, which
-- runs this for the capped queues' wake-up below) moves nothing, as the SQLite store's.
local promoted = 0
for _, member in ipairs(limit > 0 and redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', now,
        'LIMIT', 0, PROMOTE_SLICE) or {}) do
    local id = tostring(tonumber(member))
    local h = load(id)
    if h and h.state == 'scheduled' then
        transition(id, h, 'queued')
        promoted = promoted + 1
    else
        redis.call('ZREM', P .. 'due', member)
    end
end

-- The queues looked at are those holding queued jobs (ready_queues), of those asked for and
-- not paused: a claim's cost does not grow with the queues that hold none.
local asked = nil
if ARGV[6] ~= '' then
    asked = cjson.decode(ARGV[6])
end
local eligible = {}
for _, queue in ipairs(asked or redis.call('SMEMBERS', P .. 'ready_queues')) do
    if (not asked or redis.call('SISMEMBER', P .. 'ready_queues', queue) == 1)
        and redis.call('SISMEMBER', P .. 'paused', queue) == 0 then
        eligible[#eligible + 1] = queue
    end
end

-- A capped queue takes no more than its room: its cap less its jobs holding a lease (those
-- running or stopping: as few as the workers' slots).
local room = {}
local caps, held = {}, {}
if ARGV[7] ~= '' then
    caps = cjson.decode(ARGV[7])
    for _, member in ipairs(redis.call('ZRANGE', P .. 'leases', 0, -1)) do
        local queue = redis.call('HGET', job_key(tostring(tonumber(member))), 'queue')
        if queue then
            held[queue] = (held[queue] or 0) + 1
        end
    end
    for queue, cap in pairs(caps) do
        room[queue] = math.min(limit, cap - (held[queue] or 0))
    end
end

-- A rate-limited queue takes no more than its window lets start: its log of starts (a sorted
-- set by start time, one per such queue, gone a day after its last start) less the starts
-- out of the window. One recorded over RATE_CLOCK_STEP ahead of `now`, under a clock since
-- stepped back, counts as made now: it holds the queue one window at most. One less far
-- ahead is another worker's, whose clock was read a moment after this claim's: it stays.
-- A queue's starts are recorded in order: at `now`, or at its latest start if later.
local RATE_CLOCK_STEP = 60.0  -- (jobctl.models.RATE_CLOCK_STEP)
-- The log expires the longest window allowed (jobctl.config.MAX_RATE_WINDOW, 1d) after its
-- last start, not its own window: a reload that lengthens the window still counts the starts
-- it covers, as on SQLite. Each claim trims it to its window anyway.
local RATE_LOG_KEPT_MS = 86400000
local function rate_key(queue)
    return P .. 'rate:' .. queue
end
local rates = {}
local rate_at = {}  -- queue -> when this claim records its starts
if ARGV[9 + limit] and ARGV[9 + limit] ~= '' then
    rates = cjson.decode(ARGV[9 + limit])
    for _, queue in ipairs(eligible) do
        local rate = rates[queue]
        if rate and (room[queue] or limit) > 0 then
            local key = rate_key(queue)
            for _, member in ipairs(redis.call('ZRANGEBYSCORE', key,
                    '(' .. num(now_n + RATE_CLOCK_STEP), '+inf')) do
                redis.call('ZADD', key, now, member)
            end
            redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now_n - rate[2]))
            room[queue] = math.min(room[queue] or limit, rate[1] - redis.call('ZCARD', key))
            local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
            rate_at[queue] = now
            if latest[2] and tonumber(latest[2]) > now_n then
                rate_at[queue] = latest[2]
            end
        end
    end
end

local candidates = {}
for _, queue in ipairs(eligible) do
    local got = 0
    local wanted = room[queue] or limit
    local priorities = redis.call('ZRANGE', P .. 'prios:' .. queue, 0, -1)
    if #priorities == 0 then
        redis.call('SREM', P .. 'ready_queues', queue)  -- left by a jobctl of schema 1
    end
    for _, priority in ipairs(priorities) do
        if got >= wanted then
            break
        end
        local entries = redis.call('ZRANGE', ready_key(queue, priority), 0, wanted - got - 1,
            'WITHSCORES')
        for i = 1, #entries, 2 do
            candidates[#candidates + 1] = {-tonumber(priority), tonumber(entries[i + 1]),
                tonumber(entries[i])}
            got = got + 1
        end
    end
end
table.sort(candidates, function(a, b)
    if a[1] ~= b[1] then
        return a[1] < b[1]
    end
    if a[2] ~= b[2] then
        return a[2] < b[2]
    end
    return a[3] < b[3]
end)

local out = {}
local taken = {}  -- queue -> jobs this claim leased
local hour = hour_of(now)
for i = 1, math.min(limit, #candidates) do
    local id = string.format('%d', candidates[i][3])
    local h = load(id)
    if h and h.state == 'queued' then
        h.attempts = tostring(tonumber(h.attempts) + 1)
        h.runs = tostring(tonumber(h.runs) + 1)
        h.worker, h.lease_token, h.lease_expires_at = worker, ARGV[7 + #out + 1], lease_until
        -- Its attempt starts no earlier than it was due: a job made due by another's end
        -- (run_at: that end) after this claim's `now` was read was not running before it.
        -- A run_at over START_SLACK ahead was set before the clock stepped back: it is now.
        local started = now
        local run_at = tonumber(h.run_at)
        if run_at > now_n and run_at <= now_n + START_SLACK then
            started = h.run_at
        end
        h.started_at, h.finished_at = started, nil
        transition(id, h, 'running')
        save(id, h, {'attempts', 'runs', 'worker', 'lease_token', 'lease_expires_at',
            'started_at', 'finished_at'})
        redis.call('ZADD', P .. 'leases', lease_until, pad(id))
        redis.call('HSET', attempt_key(id, h.runs), 'attempt', h.attempts, 'worker', worker,
            'host', host, 'due_at', h.run_at, 'started_at', started)
        redis.call('ZADD', P .. 'att_start', started, pad(id) .. ':' .. h.runs)
        count_event(hour, h.queue, h.job, 'started')
        observe('wait', h.queue, h.job, tonumber(started) - tonumber(h.run_at))
        if rates[h.queue] then
            local key = rate_key(h.queue)
            redis.call('ZADD', key, rate_at[h.queue] or now, pad(id) .. ':' .. h.runs)
            redis.call('PEXPIRE', key, RATE_LOG_KEPT_MS)
        end
        out[#out + 1] = flatten(h)
        taken[h.queue] = (taken[h.queue] or 0) + 1
    end
end
if promoted > #out then
    wake('w')  -- more became due than this worker took: let the idle ones help
elseif ARGV[8 + limit] and ARGV[8 + limit] ~= '' then
    -- A capped queue whose job ended has a ready job and a slot this claim left: an idle
    -- worker of that queue takes it now rather than at its next look (lease/3).
    for _, queue in ipairs(cjson.decode(ARGV[8 + limit])) do
        if caps[queue] and (held[queue] or 0) + (taken[queue] or 0) < caps[queue]
            and redis.call('SISMEMBER', P .. 'ready_queues', queue) == 1
            and redis.call('SISMEMBER', P .. 'paused', queue) == 0 then
            wake('w')
            break
        end
    end
end
return out
