-- Shared by every jobctl script (prepended to each one). KEYS[1] is the key prefix,
-- "jobctl:{NAMESPACE}:": every key of a namespace shares its hash tag, so one script only
-- ever touches one cluster slot. Times arrive as strings written by Python's repr(float) and
-- are stored as given: Lua's own number formatting would round them.

local P = KEYS[1]
local SEP = '\0'
local ACTIVE = {queued = true, scheduled = true, waiting = true, running = true}
local FINAL = {succeeded = true, dead = true, cancelled = true}
-- The jobs counted in the `pending` hash: due now or later (not those waiting for others).
local PENDING = {queued = true, scheduled = true}
-- Histogram bucket bounds in seconds (the last stands for +Inf); as in the SQLite schema.
local BOUNDS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
    600, 1800, 3600, 1e308}
local JOB_FIELDS = {'id', 'job', 'queue', 'state', 'priority', 'attempts', 'runs',
    'max_attempts', 'payload', 'key', 'run_at', 'created_at', 'started_at', 'finished_at',
    'exit_code', 'error', 'worker', 'lease_token', 'lease_expires_at', 'command', 'cwd',
    'schedule', 'fire_time', 'after'}

local function num(x)
    return string.format('%.17g', x)
end

-- Index members are zero-padded ids, so that equal scores order by id.
local function pad(id)
    return string.format('%015d', tonumber(id))
end

local function job_key(id)
    return P .. 'job:' .. id
end

local function attempt_key(id, run)
    return P .. 'att:' .. id .. ':' .. run
end

local function ready_key(queue, priority)
    return P .. 'ready:' .. queue .. ':' .. priority
end

local function hour_of(t)
    return string.format('%d', math.floor(tonumber(t) / 3600) * 3600)
end

local function to_table(flat)
    local h = {}
    for i = 1, #flat, 2 do
        h[flat[i]] = flat[i + 1]
    end
    return h
end

local function load(id)
    local flat = redis.call('HGETALL', job_key(id))
    if #flat == 0 then
        return nil
    end
    return to_table(flat)
end

-- The job as a flat array in JOB_FIELDS order, false standing for a missing field.
local function flatten(h)
    local out = {}
    for i, name in ipairs(JOB_FIELDS) do
        local value = h[name]
        if value == nil then
            out[i] = false
        else
            out[i] = value
        end
    end
    return out
end

local function copy(h)
    local out = {}
    for k, v in pairs(h) do
        out[k] = v
    end
    return out
end

-- Write h's value of each named field, deleting the fields that are nil.
local function save(id, h, names)
    local set, del = {}, {}
    for _, name in ipairs(names) do
        local value = h[name]
        if value == nil then
            del[#del + 1] = name
        else
            set[#set + 1] = name
            set[#set + 1] = value
        end
    end
    if #set > 0 then
        redis.call('HSET', job_key(id), unpack(set))
    end
    if #del > 0 then
        redis.call('HDEL', job_key(id), unpack(del))
    end
end

-- -- statistics (they outlive pruned jobs) ---------------------------------------------------

local function count_event(hour, queue, job, event)
    redis.call('HINCRBY', P .. 'stats:' .. hour, queue .. SEP .. job .. SEP .. event, 1)
    redis.call('ZADD', P .. 'stat_hours', hour, hour)
end

local function observe(kind, queue, job, value)
    if value < 0 then
        value = 0
    end
    local index = #BOUNDS
    for i, bound in ipairs(BOUNDS) do
        if bound >= value then
            index = i
            break
        end
    end
    local base = kind .. SEP .. queue .. SEP .. job
    redis.call('HINCRBY', P .. 'hist', base .. SEP .. index, 1)
    redis.call('HINCRBY', P .. 'hist_count', base, 1)
    redis.call('HINCRBYFLOAT', P .. 'hist_sum', base, num(value))
end

-- -- states ----------------------------------------------------------------------------------

-- Whether job `id` holds its unique key and counts as its schedule's active run: while
-- active, and when cancelled during its attempt, until its lease goes (see clear_lease).
local function holding(id)
    local state, token = unpack(redis.call('HMGET', job_key(id), 'state', 'lease_token'))
    return ACTIVE[state] or (state == 'cancelled' and token ~= false)
end

-- The job holding a unique key, or nil. An entry whose job no longer holds it (left by a
-- jobctl that let go at other moments, during a rolling upgrade) is dropped, not obeyed.
local function key_holder(key)
    local id = redis.call('HGET', P .. 'keys', key)
    if id and not holding(id) then
        redis.call('HDEL', P .. 'keys', key)
        return nil
    end
    return id
end

-- The lowest id among a schedule's runs that count for its overlap rule, or nil (entries
-- that no longer count are dropped, as in key_holder).
local function active_run(schedule)
    local set = P .. 'sched_active:' .. schedule
    local active = nil
    for _, member in ipairs(redis.call('SMEMBERS', set)) do
        if not holding(member) then
            redis.call('SREM', set, member)
        elseif not active or tonumber(member) < tonumber(active) then
            active = member
        end
    end
    return active
end

-- Let go of what an active job holds: its unique key and its place among its schedule's
-- active runs (both are what enqueue and the overlap rules look at).
local function let_go(id, h)
    if h.key and redis.call('HGET', P .. 'keys', h.key) == h.id then
        redis.call('HDEL', P .. 'keys', h.key)
    end
    if h.schedule then
        redis.call('SREM', P .. 'sched_active:' .. h.schedule, id)
    end
end

-- -- jobs that run after others (enqueue --after) -------------------------------------------
-- A job that runs after others keeps their ids in its `after` field (a JSON array). While it
-- waits, its id is in the set after:<id> of each of them: the jobs whose end may move it on.
-- A job none waits for has no such set (Redis drops an empty one), so its end costs one
-- SMEMBERS of a missing key.

local function after_key(id)
    return P .. 'after:' .. id
end

-- The ids a job runs after, as strings ({} for none).
local function after_ids(h)
    local out = {}
    if h.after then
        for i, after in ipairs(cjson.decode(h.after)) do
            out[i] = string.format('%d', after)
        end
    end
    return out
end

-- Whether a job to be `next_id` that runs after `after` (ids, as decoded from JSON) must
-- wait: not when they have all succeeded. Returns nil and the reason when it is refused: a
-- job after one that does not exist. Returns as third value, when one of them ended dead or
-- cancelled, the error it is stored dead with: the cascade's, as if it had ended a moment
-- later (the SQLite store's words). The jobs of the batch storing it (ids from `first_new`)
-- are all still to run, but for those in `ended` (id to why: stored dead).
local function must_wait(after, next_id, first_new, ended)
    local waits, why = false, nil
    for _, value in ipairs(after) do
        local after_id = tonumber(value)
        local shown = string.format('%d', after_id)
        if after_id >= next_id then
            if after_id == next_id then
                return nil, '--after ' .. shown .. ': a job cannot run after itself'
            end
            return nil, '--after ' .. shown .. ': there is no job ' .. shown
        end
        if after_id >= first_new then
            waits = true
            why = why or (ended and ended[after_id])
        else
            local state = redis.call('HGET', job_key(shown), 'state')
            if not state then
                return nil, '--after ' .. shown .. ': there is no job ' .. shown
            elseif (state == 'dead' or state == 'cancelled') and not why then
                local how = 'ended dead'
                if state == 'cancelled' then
                    how = 'was cancelled'
                end
                why = 'job ' .. shown .. ', which it waited for, ' .. how
            end
            if state ~= 'succeeded' then
                waits = true
            end
        end
    end
    return waits, nil, why
end

-- Where a job that runs after others stands (dead retry):
-- 'dead' when one of them ended dead or cancelled (it could never run), 'waiting' while one
-- is still to succeed, nil once they have all succeeded (or are gone: pruned after their
-- end, as the SQLite store's job_after rows go with them). With gone_is_dead (dead retry of
-- a job that never ran: the one gone may be the one it died for), a gone one counts as dead.
local function still_waits(h, gone_is_dead)
    local waits = nil
    for _, after in ipairs(after_ids(h)) do
        local state = redis.call('HGET', job_key(after), 'state')
        if state == 'dead' or state == 'cancelled' or (gone_is_dead and not state) then
            return 'dead'
        elseif state and state ~= 'succeeded' then
            waits = 'waiting'
        end
    end
    return waits
end

-- Set by a success that made jobs waiting for it due: the script wakes the workers.
local released_waiting = false

local transition

-- Whether waiting job `id` is still held back by a job it runs after that has not
-- succeeded (or ended dead or cancelled, for the one ending to see to). The job keeps in
-- after_next the place in its `after` of the last such job found, and its id: while that one
-- has not succeeded, a success costs one read whatever the number of jobs it runs after.
-- Once it has, the look goes on from there down, round to the end: the jobs passed have
-- succeeded for good, so a job's whole wait reads each of them about once, in whatever
-- order they end (a look from the first, at each success, made a job after 10,000 jobs
-- read 50 million states).
local function held_back(id)
    local hint = redis.call('HGET', job_key(id), 'after_next')
    local place = 0
    if hint then
        local at, after = string.match(hint, '^(%d+):(%d+)$')
        local state = redis.call('HGET', job_key(after), 'state')
        if state and state ~= 'succeeded' then
            return true
        end
        place = tonumber(at)
    end
    local afters = after_ids({after = redis.call('HGET', job_key(id), 'after')})
    local count = #afters
    if place < 1 or place > count then
        place = count  -- the newest, mostly the last to end
    end
    for _ = 1, count do
        local after = afters[place]
        local state = redis.call('HGET', job_key(after), 'state')
        if state and state ~= 'succeeded' then
            redis.call('HSET', job_key(id), 'after_next', place .. ':' .. after)
            return true
        end
        place = place - 1
        if place < 1 then
            place = count
        end
    end
    redis.call('HDEL', job_key(id), 'after_next')
    return false
end

-- Job `id` succeeded (h: its fields, finished_at set): each job waiting for it whose other
-- jobs have succeeded too is due from now, or from the end of its own delay.
local function after_succeeded(id, h)
    local finished = h.finished_at or h.run_at
    for _, dependent in ipairs(redis.call('SMEMBERS', after_key(id))) do
        local state = redis.call('HGET', job_key(dependent), 'state')
        local w = state == 'waiting' and not held_back(dependent) and load(dependent)
        if w then
            local to = 'queued'
            if tonumber(w.run_at) > tonumber(finished) then
                to = 'scheduled'
            else
                w.run_at = finished
                redis.call('HSET', job_key(dependent), 'run_at', finished)
            end
            transition(dependent, w, to)
            released_waiting = true
        end
    end
end

-- Job `id` ended dead or cancelled (h: its fields): every job waiting for it, directly or
-- through other waiting jobs, could never run: it is dead, the ending job named as why.
local function after_ended(id, h)
    local finished = h.finished_at or h.run_at
    local how = 'ended dead'
    if h.state == 'cancelled' then
        how = 'was cancelled'
    end
    local why = 'job ' .. id .. ', which it waited for, ' .. how
    local ended = {id}
    while #ended > 0 do
        local last = table.remove(ended)
        for _, dependent in ipairs(redis.call('SMEMBERS', after_key(last))) do
            local w = load(dependent)
            if w and w.state == 'waiting' then
                w.finished_at, w.error = finished, why
                save(dependent, w, {'finished_at', 'error'})
                transition(dependent, w, 'dead', true)
                ended[#ended + 1] = dependent
            end
        end
    end
end

-- Take job `id` out of the indexes that hold it in `state` (in its queue, at its priority,
-- by its run_at): the ready, due, waiting and finished sets, its state's set and the count.
local function unindex(id, h, state)
    local queue, member = h.queue, pad(id)
    if state == 'queued' then
        local ready = ready_key(queue, h.priority)
        redis.call('ZREM', ready, member)
        if redis.call('EXISTS', ready) == 0 then
            redis.call('ZREM', P .. 'prios:' .. queue, h.priority)
            if redis.call('EXISTS', P .. 'prios:' .. queue) == 0 then
                redis.call('SREM', P .. 'ready_queues', queue)
            end
        end
    elseif state == 'scheduled' then
        redis.call('ZREM', P .. 'due:' .. queue, member)
        redis.call('ZREM', P .. 'due', member)
    elseif state == 'waiting' then
        for _, after in ipairs(after_ids(h)) do
            redis.call('SREM', after_key(after), id)
        end
    elseif FINAL[state] then
        redis.call('ZREM', P .. 'done:' .. state, member)
    end
    redis.call('ZREM', P .. 'state:' .. state, member)
    redis.call('HINCRBY', P .. 'counts:' .. queue, state, -1)
end

-- Put job `id` into the indexes that hold it in `state` (unindex's counterpart).
local function index(id, h, state)
    local queue, member = h.queue, pad(id)
    if state == 'queued' then
        redis.call('ZADD', ready_key(queue, h.priority), h.run_at, member)
        redis.call('ZADD', P .. 'prios:' .. queue, -tonumber(h.priority), h.priority)
        redis.call('SADD', P .. 'ready_queues', queue)
    elseif state == 'scheduled' then
        redis.call('ZADD', P .. 'due:' .. queue, h.run_at, member)
        redis.call('ZADD', P .. 'due', h.run_at, member)
    elseif state == 'waiting' then
        for _, after in ipairs(after_ids(h)) do
            redis.call('SADD', after_key(after), id)
        end
    elseif FINAL[state] then
        redis.call('ZADD', P .. 'done:' .. state, h.finished_at, member)
    end
    redis.call('ZADD', P .. 'state:' .. state, id, member)
    redis.call('HINCRBY', P .. 'counts:' .. queue, state, 1)
end

-- Move a job to state `new`, keeping every index that depends on its state in step: the
-- ready sets (per queue and priority, by run_at) and the queues holding any, the due sets
-- (per queue and the namespace's own, by run_at), the finished sets (per final state, by
-- finished_at), the per-state sets, the counts, the active unique keys, the active runs of
-- each schedule and the sets of jobs waiting for others. The caller has already set run_at
-- or finished_at for the new state, and saves its other fields itself. The jobs waiting for
-- this one move on with it: due once it and the others they wait for have succeeded, dead
-- once it ended dead or cancelled (`cascaded`: it is such a job itself, and the one that
-- ended takes care of the rest).
transition = function(id, h, new, cascaded)
    local old = h.state
    if old == new then
        return
    end
    local queue = h.queue
    unindex(id, h, old)
    index(id, h, new)

    if ACTIVE[old] and not ACTIVE[new] then
        -- A job cancelled while running holds on until its lease goes (see clear_lease): its
        -- process may be given kill_grace to stop.
        if not (new == 'cancelled' and h.lease_token) then
            let_go(id, h)
        end
    elseif ACTIVE[new] and not ACTIVE[old] then
        if h.key then
            redis.call('HSET', P .. 'keys', h.key, h.id)
        end
        if h.schedule then
            redis.call('SADD', P .. 'sched_active:' .. h.schedule, id)
        end
    end
    if PENDING[old] and not PENDING[new] then
        redis.call('HINCRBY', P .. 'pending', queue .. SEP .. h.job, -1)
    elseif PENDING[new] and not PENDING[old] then
        redis.call('HINCRBY', P .. 'pending', queue .. SEP .. h.job, 1)
    end
    h.state = new
    redis.call('HSET', job_key(id), 'state', new)
    if FINAL[new] then
        count_event(hour_of(h.finished_at or h.run_at), queue, h.job, new)
    end
    if new == 'succeeded' then
        after_succeeded(id, h)
    elseif (new == 'dead' or new == 'cancelled') and not cascaded then
        after_ended(id, h)
    end
end

-- The error a script raises to refuse what it was asked (jobctl.errors.UsageError): the
-- Python side strips the prefix, and what Redis appends to an error raised (not returned).
local function refuse(reason)
    error({err = 'jobctl usage: ' .. reason})
end

-- Store a new job (spec: a decoded table of strings from Python; `after`, when given, a JSON
-- array of ids). A key held by an active job stores nothing and returns that job's id. A job
-- after others that have not all succeeded is stored waiting, and dead (as the cascade makes
-- it) when one of them ended dead or cancelled; one after a job that does not exist is
-- refused before anything is written. Returns id, created (1 or 0).
local function insert(spec, now)
    if spec.key then
        local existing = key_holder(spec.key)
        if existing then
            return existing, 0
        end
    end
    local state, why = spec.state, nil
    if spec.after then
        local next_id = tonumber(redis.call('GET', P .. 'seq') or '0') + 1
        local waits, refused
        waits, refused, why = must_wait(cjson.decode(spec.after), next_id, next_id)
        if refused then
            refuse(refused)
        elseif why then
            state = 'dead'
        elseif waits then
            state = 'waiting'
        end
    end
    local id = tostring(redis.call('INCR', P .. 'seq'))
    local h = {
        id = id, job = spec.job, queue = spec.queue, state = state,
        priority = spec.priority, attempts = '0', runs = '0',
        max_attempts = spec.max_attempts, payload = spec.payload, key = spec.key,
        run_at = spec.run_at, created_at = now, command = spec.command, cwd = spec.cwd,
        schedule = spec.schedule, fire_time = spec.fire_time, after = spec.after,
    }
    if why then
        h.finished_at, h.error = now, why
    end
    save(id, h, JOB_FIELDS)
    local queue, member = h.queue, pad(id)
    redis.call('SADD', P .. 'queues', queue)
    redis.call('ZADD', P .. 'all', id, member)
    redis.call('ZADD', P .. 'byjob:' .. h.job, id, member)
    index(id, h, h.state)
    if PENDING[h.state] then
        redis.call('HINCRBY', P .. 'pending', queue .. SEP .. h.job, 1)
    end
    if ACTIVE[h.state] then  -- a dead job holds neither its key nor its schedule's guard
        if h.key then
            redis.call('HSET', P .. 'keys', h.key, id)
        end
        if h.schedule then
            redis.call('SADD', P .. 'sched_active:' .. h.schedule, id)
        end
    end
    count_event(hour_of(now), queue, h.job, 'enqueued')
    if h.state == 'dead' then
        count_event(hour_of(now), queue, h.job, 'dead')
    end
    return id, 1
end

-- -- attempts --------------------------------------------------------------------------------

-- Close an open attempt (one without finished_at); returns true when it was open.
local function close_attempt(id, run, h, finished, outcome, fields)
    local key = attempt_key(id, run)
    local flat = redis.call('HGETALL', key)
    if #flat == 0 then
        return false
    end
    local a = to_table(flat)
    if a.finished_at then
        return false
    end
    local set = {'finished_at', finished, 'outcome', outcome}
    local del = {}
    for _, name in ipairs({'exit_code', 'signal', 'error'}) do
        local value = fields[name]
        if value == nil then
            del[#del + 1] = name
        else
            set[#set + 1] = name
            set[#set + 1] = value
        end
    end
    if fields.log_path then
        set[#set + 1] = 'log_path'
        set[#set + 1] = fields.log_path
    end
    if fields.tail and #fields.tail > 0 then
        set[#set + 1] = 'tail'
        set[#set + 1] = fields.tail
    end
    redis.call('HSET', key, unpack(set))
    if #del > 0 then
        redis.call('HDEL', key, unpack(del))
    end
    if h then
        count_event(hour_of(finished), h.queue, h.job, 'attempt:' .. outcome)
        observe('run', h.queue, h.job, tonumber(finished) - tonumber(a.started_at))
    end
    return true
end

-- The attempt's end is known: its worker reported it, or rescue found that worker gone. A
-- job cancelled while running lets go of its key and overlap guard only now.
local function clear_lease(id, h)
    if h.state == 'cancelled' and h.lease_token then
        let_go(id, h)
    end
    h.worker, h.lease_token, h.lease_expires_at = nil, nil, nil
    redis.call('HDEL', job_key(id), 'worker', 'lease_token', 'lease_expires_at')
    redis.call('ZREM', P .. 'leases', pad(id))
end

-- Wake the idle workers. Best effort, and after the script's writes: a PUBLISH refused (an
-- ACL user without the channel, Redis 7's default for new users) must not fail a script
-- whose changes stay written (Redis does not undo them), or an enqueue that stored its jobs
-- would report failure and be retried. Workers that cannot listen poll instead.
local function wake(message)
    redis.pcall('PUBLISH', P .. 'wake', message)
end


-- Enqueue a schedule's held fire (overlap = "queue") with the job `spec` (a decoded table,
-- its fire_time set here). Returns the new job's id and the fire's record.
local function promote(schedule, held, spec, now)
    spec.fire_time = held
    local job_id = insert(spec, now)
    local fires = P .. 'fires:' .. schedule
    local record = cjson.decode(redis.call('HGET', fires, held))
    record.status, record.job_id, record.reason, record.at = 'enqueued', job_id, nil, now
    redis.call('HSET', fires, held, cjson.encode(record))
    redis.call('ZREM', P .. 'fires_pending:' .. schedule, held)
    local last = redis.call('GET', P .. 'last_run:' .. schedule)
    if not last or tonumber(held) > tonumber(last) then
        redis.call('SET', P .. 'last_run:' .. schedule, held)
    end
    wake('w')
    return job_id, record
end

-- Record a schedule's held planned fires beyond the newest `keep` as skipped with `reason`
-- (all of them, manual ones too, when `keep` is nil); the fire times that went. A manual run
-- held (schedule run) is no missed fire: never counted, never dropped by a `keep`.
local function drop_held(schedule, reason, now, keep)
    local pending = P .. 'fires_pending:' .. schedule
    local fires = P .. 'fires:' .. schedule
    local planned = {}
    for _, member in ipairs(redis.call('ZRANGE', pending, 0, -1)) do
        local text = redis.call('HGET', fires, member)
        local entry = text and cjson.decode(text)
        if not entry or keep == nil or entry.manual == '0' then
            planned[#planned + 1] = {member, entry}
        end
    end
    local dropped = {}
    for i = 1, #planned - (keep or 0) do
        local member, entry = planned[i][1], planned[i][2]
        if entry then
            entry.status, entry.reason, entry.at = 'skipped', reason, now
            redis.call('HSET', fires, member, cjson.encode(entry))
        end
        redis.call('ZREM', pending, member)
        dropped[#dropped + 1] = member
    end
    return dropped
end

-- The fire time of a schedule's latest enqueued run. It is kept under last_run:<schedule>
-- by the scripts that enqueue fires; a namespace written before that key existed has it
-- filled here, from the newest fire records (at most ten thousand of them).
-- `reading`: found for a read-only script (metrics, also on a replica), so not remembered.
local function last_run(schedule, reading)
    local known = redis.call('GET', P .. 'last_run:' .. schedule)
    if known then
        return known
    end
    local fires = P .. 'fires:' .. schedule
    for _, member in ipairs(redis.call('ZREVRANGE', P .. 'fire_times:' .. schedule, 0, 9999)) do
        local text = redis.call('HGET', fires, member)
        if text and cjson.decode(text).status == 'enqueued' then
            if not reading then
                redis.call('SET', P .. 'last_run:' .. schedule, member)
            end
            return member
        end
    end
    return nil
end

-- A schedule's latest succeeded run (the latest by finish, then by id): its finish time
-- under sched_succeeded and its job id under sched_succeeded_id, both by schedule. Written
-- when a run succeeds, so it outlives the run's pruning; delete keeps that job, as SQLite's
-- retention keeps its own latest success.
local function note_success(id, h)
    local known = redis.call('HGET', P .. 'sched_succeeded', h.schedule)
    if known then
        local at, last = tonumber(h.finished_at), tonumber(known)
        local last_id = tonumber(redis.call('HGET', P .. 'sched_succeeded_id', h.schedule))
        if at < last or (at == last and last_id and tonumber(id) < last_id) then
            return
        end
    end
    redis.call('HSET', P .. 'sched_succeeded', h.schedule, h.finished_at)
    redis.call('HSET', P .. 'sched_succeeded_id', h.schedule, id)
end

-- A schedule's latest succeeded run: its finish time and job id, or nil. A namespace whose
-- runs succeeded before jobctl kept sched_succeeded has it found here, as the newest
-- succeeded run among the schedule's latest hundred fires, and remembered unless `reading`
-- (a read-only script: metrics, also on a replica), as last_run does. A fire whose key a
-- job already held names that job, which is no run of this schedule unless it made it.
local function last_success(schedule, reading)
    local at = redis.call('HGET', P .. 'sched_succeeded', schedule)
    if at then
        return at, redis.call('HGET', P .. 'sched_succeeded_id', schedule)
    end
    local fires = P .. 'fires:' .. schedule
    for _, member in ipairs(redis.call('ZREVRANGE', P .. 'fire_times:' .. schedule, 0, 99)) do
        local text = redis.call('HGET', fires, member)
        local job_id = text and cjson.decode(text).job_id
        if type(job_id) == 'string' or type(job_id) == 'number' then
            job_id = tostring(job_id)
            local state, finished, made_by = unpack(
                redis.call('HMGET', job_key(job_id), 'state', 'finished_at', 'schedule'))
            if state == 'succeeded' and finished and made_by == schedule then
                if not reading then
                    redis.call('HSET', P .. 'sched_succeeded', schedule, finished)
                    redis.call('HSET', P .. 'sched_succeeded_id', schedule, job_id)
                end
                return finished, job_id
            end
        end
    end
    return nil
end
