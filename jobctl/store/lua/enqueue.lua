-- Enqueue a batch, all or nothing: every job is checked and stored by this one script.
-- ARGV: now, then a JSON array with one array of strings per job: job, queue, state,
-- priority, max_attempts, payload, run_at, key, command, cwd, schedule, fire_time (null for
-- none). Returns {id, created} per job. The indexes and counters are written once per batch
-- (sorted-set members in chunks), which is what makes a large batch cheap.
local now = ARGV[1]
local specs = cjson.decode(ARGV[2])
local seq = tonumber(redis.call('GET', P .. 'seq') or '0')
local taken = {}
local out = {}
local zsets, counters, queues, prios, schedules = {}, {}, {}, {}, {}
local created = 0

local function member_of(zset, score, member)
    local list = zsets[zset]
    if not list then
        list = {}
        zsets[zset] = list
    end
    list[#list + 1] = score
    list[#list + 1] = member
end

local function bump(hash, field)
    local fields = counters[hash]
    if not fields then
        fields = {}
        counters[hash] = fields
    end
    fields[field] = (fields[field] or 0) + 1
end

local OPTIONAL = {'command', 'cwd', 'schedule', 'fire_time'}  -- positions 9 to 12

local function value(v)
    if v == cjson.null then
        return nil
    end
    return v
end

for i, s in ipairs(specs) do
    local key = value(s[8])
    local existing = key and (taken[key] or key_holder(key))
    if existing then
        out[i] = {existing, 0}
    else
        seq = seq + 1
        created = created + 1
        local id = string.format('%d', seq)
        local job, queue, state, priority, run_at = s[1], s[2], s[3], s[4], s[7]
        local fields = {'id', id, 'job', job, 'queue', queue, 'state', state, 'priority',
            priority, 'attempts', '0', 'runs', '0', 'max_attempts', s[5], 'payload', s[6],
            'run_at', run_at, 'created_at', now}
        if key then
            fields[#fields + 1] = 'key'
            fields[#fields + 1] = key
        end
        for j, name in ipairs(OPTIONAL) do
            local v = s[8 + j]
            if v ~= cjson.null then
                fields[#fields + 1] = name
                fields[#fields + 1] = v
            end
        end
        redis.call('HSET', job_key(id), unpack(fields))
        local member = pad(id)
        member_of(P .. 'all', id, member)
        member_of(P .. 'byjob:' .. job, id, member)
        member_of(P .. 'state:' .. state, id, member)
        if state == 'queued' then
            member_of(ready_key(queue, priority), run_at, member)
            prios[queue .. SEP .. priority] = {queue, priority}
        else
            member_of(P .. 'due:' .. queue, run_at, member)
        end
        queues[queue] = true
        bump(P .. 'counts:' .. queue, state)
        bump(P .. 'pending', queue .. SEP .. job)
        bump('stats', queue .. SEP .. job .. SEP .. 'enqueued')
        if key then
            redis.call('HSET', P .. 'keys', key, id)
            taken[key] = id
        end
        local schedule = value(s[11])
        if schedule then
            redis.call('SADD', P .. 'sched_active:' .. schedule, id)
        end
        out[i] = {id, 1}
    end
end

if created > 0 then
    redis.call('SET', P .. 'seq', string.format('%d', seq))
    for zset, list in pairs(zsets) do
        for first = 1, #list, 1000 do
            redis.call('ZADD', zset, unpack(list, first, math.min(first + 999, #list)))
        end
    end
    for queue in pairs(queues) do
        redis.call('SADD', P .. 'queues', queue)
    end
    for _, pair in pairs(prios) do
        redis.call('ZADD', P .. 'prios:' .. pair[1], -tonumber(pair[2]), pair[2])
    end
    local hour = hour_of(now)
    for hash, fields in pairs(counters) do
        local target = hash
        if hash == 'stats' then
            target = P .. 'stats:' .. hour
            redis.call('ZADD', P .. 'stat_hours', hour, hour)
        end
        for field, n in pairs(fields) do
            redis.call('HINCRBY', target, field, n)
        end
    end
    wake('w')
end
return out
