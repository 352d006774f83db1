-- Enqueue a batch, all or nothing: every job is checked and stored by this one script.
-- ARGV: now, then a JSON array with one array of strings per job: job, queue, state,
-- priority, max_attempts, payload, run_at, key, command, cwd, schedule, fire_time, after (a
-- JSON array of the ids it runs after) (null for none), after_lines (a JSON array of the
-- earlier lines, from 1, it runs after too: their ids are the ones given below) (null for
-- none), then "1" when a job of the batch runs after others, then "1" to refuse a key held
-- by a job unlike the line (see below). Returns {id, created} per job. The indexes and counters are written once per
-- batch (sorted-set members in chunks), which is what makes a large batch cheap.
local now = ARGV[1]
local specs = cjson.decode(ARGV[2])
local seq = tonumber(redis.call('GET', P .. 'seq') or '0')
local taken = {}
local waiting = {}  -- the lines (by index) that wait for the jobs they run after
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

local OPTIONAL = {'command', 'cwd', 'schedule', 'fire_time', 'after'}  -- positions 9 to 13

local function value(v)
    if v == cjson.null then
        return nil
    end
    return v
end

-- A job after others is refused when one of them does not exist, and with it the whole
-- batch: every line is checked before anything is written. One after a job that ended dead
-- or cancelled (or after a line stored dead) is stored dead, as the cascade makes it. The
-- ids are the ones the writing below gives (a line whose key an active job holds takes
-- none; a line stored dead holds no key). The first line refused is kept, not yet said: a
-- key refused below on an earlier line goes first, as the batch reads in its order.
local ended = {}  -- the lines (by index) stored dead: why
local refused_line, refused_why = nil, nil
if ARGV[3] == '1' then
    local next_id, holders, dead_ids = seq, {}, {}
    local line_ids = {}  -- each line's id: its own, or that of the job holding its key
    for i, s in ipairs(specs) do
        local key = value(s[8])
        local holder = key and (holders[key] or key_holder(key))
        if holder then
            line_ids[i] = tonumber(holder)
        else
            next_id = next_id + 1
            line_ids[i] = next_id
            local after, why = value(s[13]), nil
            if value(s[14]) then  -- the ids of the earlier lines named join its own
                local ids, seen = {}, {}
                for _, id in ipairs(after and cjson.decode(after) or {}) do
                    ids[#ids + 1], seen[id] = string.format('%d', id), true
                end
                for _, line in ipairs(cjson.decode(s[14])) do
                    local id = line_ids[line]
                    if not seen[id] then
                        ids[#ids + 1], seen[id] = string.format('%d', id), true
                    end
                end
                -- Written as Python writes the field: cjson would give 1e+14 for a long id.
                after = '[' .. table.concat(ids, ',') .. ']'
                s[13] = after
            end
            if after then
                local waits, refused
                waits, refused, why = must_wait(cjson.decode(after), next_id, seq + 1, dead_ids)
                if refused then
                    refused_line, refused_why = i, refused
                    break
                end
                waiting[i] = waits
                if why then
                    ended[i], dead_ids[next_id] = why, why
                end
            end
            if key and not why then
                holders[key] = next_id
            end
        end
    end
end

-- Each key's holder before this batch, looked up once. With ARGV[4] "1" (enqueue's), a key
-- held by a job unlike the line (or by an earlier line unlike it) refuses the whole batch
-- before anything is written: its holder's id is not this line's. Alike is of one job type
-- and queue, and for --exec jobs (all of the type "exec") of one command and cwd, as the
-- hash stores them. Returns {'unlike', line, holder id or '', holder's line or '', key}.
-- Only a key found held reads its holder's fields.
local outside = {}  -- a key -> the job holding it before this batch, or false
local first = {}  -- a key -> the first line that takes it
local refuse_unlike = ARGV[4] == '1'

local function alike(a, b)  -- two lines, or a holder's fields and a line (false for none)
    for f = 1, 4 do
        local x, y = a[f], b[f]
        if x == cjson.null then x = false end
        if y == cjson.null then y = false end
        if x ~= y then
            return false
        end
    end
    return true
end

for i, s in ipairs(specs) do
    if refused_line and i >= refused_line then
        break  -- the lines before the one refused for its `after` alone
    end
    local key = value(s[8])
    if key then
        local holder = outside[key]
        if holder == nil then
            holder = key_holder(key) or false
            outside[key] = holder
        end
        if refuse_unlike then
            if holder then
                local kind = redis.call('HMGET', job_key(holder), 'job', 'queue', 'command', 'cwd')
                if kind[1] and not alike(kind, {s[1], s[2], s[9], s[10]}) then
                    return {'unlike', tostring(i), holder, '', key}
                end
            elseif first[key] then
                local earlier = specs[first[key]]
                if not alike({earlier[1], earlier[2], earlier[9], earlier[10]},
                        {s[1], s[2], s[9], s[10]}) then
                    return {'unlike', tostring(i), '', tostring(first[key]), key}
                end
            elseif not ended[i] then  -- a line stored dead holds no key
                first[key] = i
            end
        end
    end
end
if refused_line then
    return redis.error_reply('jobctl usage: ' .. refused_why)
end

for i, s in ipairs(specs) do
    local key = value(s[8])
    local existing = key and (taken[key] or outside[key])
    if existing then
        out[i] = {existing, 0}
    else
        seq = seq + 1
        created = created + 1
        local id = string.format('%d', seq)
        local job, queue, state, priority, run_at = s[1], s[2], s[3], s[4], s[7]
        local why = ended[i]
        if why then
            state = 'dead'
        elseif waiting[i] then
            state = 'waiting'
        end
        local fields = {'id', id, 'job', job, 'queue', queue, 'state', state, 'priority',
            priority, 'attempts', '0', 'runs', '0', 'max_attempts', s[5], 'payload', s[6],
            'run_at', run_at, 'created_at', now}
        if why then
            fields[#fields + 1] = 'finished_at'
            fields[#fields + 1] = now
            fields[#fields + 1] = 'error'
            fields[#fields + 1] = why
        end
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
        elseif state == 'waiting' then
            for _, after in ipairs(cjson.decode(s[13])) do
                redis.call('SADD', after_key(string.format('%d', after)), id)
            end
        elseif state == 'dead' then
            member_of(P .. 'done:dead', now, member)
        else
            member_of(P .. 'due:' .. queue, run_at, member)
            member_of(P .. 'due', run_at, member)
        end
        queues[queue] = true
        bump(P .. 'counts:' .. queue, state)
        if PENDING[state] then  -- not a job waiting for others, nor one stored dead
            bump(P .. 'pending', queue .. SEP .. job)
        end
        bump('stats', queue .. SEP .. job .. SEP .. 'enqueued')
        if why then  -- counted as the jobs a cascade makes dead; it holds no key
            bump('stats', queue .. SEP .. job .. SEP .. 'dead')
        elseif key then
            redis.call('HSET', P .. 'keys', key, id)
            taken[key] = id
        end
        local schedule = value(s[11])
        if schedule and not why then
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
        redis.call('SADD', P .. 'ready_queues', pair[1])
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
