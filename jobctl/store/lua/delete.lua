-- Delete finished jobs with their attempts (never active ones, nor a schedule's latest
-- succeeded job: see last_success).
-- ARGV: a JSON object {states, before, job}, then ids (none: every job matching).
-- Returns the log paths of the deleted attempts.
local where = cjson.decode(ARGV[1])
local states = {}
for _, s in ipairs(where.states) do
    if FINAL[s] then
        states[s] = true
    end
end
local before = where.before and tonumber(where.before)
local targets = {}
if #ARGV > 1 then
    for i = 2, #ARGV do
        targets[#targets + 1] = ARGV[i]
    end
else
    for s in pairs(states) do
        local members
        if before then
            members = redis.call('ZRANGEBYSCORE', P .. 'done:' .. s, '-inf', '(' .. where.before)
        else
            members = redis.call('ZRANGE', P .. 'done:' .. s, 0, -1)
        end
        for _, member in ipairs(members) do
            targets[#targets + 1] = tostring(tonumber(member))
        end
    end
end
-- Whether a job is its schedule's latest succeeded run, which stays (looked up once a
-- schedule).
local latest = {}
local function kept(id, h)
    if h.state ~= 'succeeded' or not h.schedule then
        return false
    end
    if latest[h.schedule] == nil then
        local _, job_id = last_success(h.schedule)
        latest[h.schedule] = job_id and tonumber(job_id) or false
    end
    return latest[h.schedule] == tonumber(id)
end
local paths = {}
local emptied = {}  -- the queues of the deleted jobs
for _, id in ipairs(targets) do
    local h = load(id)
    if h and states[h.state] and not h.lease_token  -- not a cancelled job still stopping
        and (not before or (h.finished_at and tonumber(h.finished_at) < before))
        and (not where.job or h.job == where.job) and not kept(id, h) then
        local member = pad(id)
        for run = 1, tonumber(h.runs) do
            local key = attempt_key(id, run)
            local path = redis.call('HGET', key, 'log_path')
            if path then
                paths[#paths + 1] = path
            end
            redis.call('DEL', key)
            redis.call('ZREM', P .. 'att_start', member .. ':' .. run)
        end
        redis.call('ZREM', P .. 'done:' .. h.state, member)
        redis.call('ZREM', P .. 'state:' .. h.state, member)
        redis.call('HINCRBY', P .. 'counts:' .. h.queue, h.state, -1)
        redis.call('ZREM', P .. 'all', member)
        redis.call('ZREM', P .. 'byjob:' .. h.job, member)
        redis.call('DEL', job_key(id))
        -- the jobs still waiting for it (for others too, when it succeeded) no longer do: a
        -- job gone counts as succeeded for them, as in the SQLite store
        redis.call('DEL', after_key(id))
        emptied[h.queue] = true
    end
end
-- Those of them that hold no job now and are not paused are forgotten: status and metrics
-- listed every queue ever used, and each claim looked at each one.
for queue in pairs(emptied) do
    if redis.call('SISMEMBER', P .. 'paused', queue) == 0 then
        local empty = true
        for _, n in ipairs(redis.call('HVALS', P .. 'counts:' .. queue)) do
            if tonumber(n) > 0 then
                empty = false
            end
        end
        if empty then
            redis.call('SREM', P .. 'queues', queue)
            redis.call('DEL', P .. 'counts:' .. queue)
        end
    end
end
return paths
