-- Change jobs not yet started (jobctl edit). ARGV: now, then one JSON object of strings a
-- job: id, the attempts it had made when the edit was built, and the fields it changes, one
-- left out staying as it is ("" is a value, set as given): payload, payload_was (the payload
-- it was made from, a guard, no change), queue, priority, max_attempts, run_at, command
-- (JSON) and cwd, the last two an --exec job's only. An edit that changes no field changes
-- nothing. A job is changed only while queued, scheduled or waiting with that many attempts
-- made, and, with payload_was, while it still has that payload, compared as JSON (two edits
-- at once do not undo each other). It leaves the indexes of its old queue, priority and
-- run_at for the new ones, queued or scheduled as a new run_at is past or ahead (a waiting
-- job stays waiting); moved to another queue, its pending count goes there, while its
-- enqueue and attempts stay counted where they happened. Returns the ids changed.
local UNSTARTED = {queued = true, scheduled = true, waiting = true}
local CHANGES = {'payload', 'queue', 'priority', 'max_attempts', 'run_at', 'command', 'cwd'}
local BLANK = '[ \t\n\r]'
local now = tonumber(ARGV[1])
local edited = {}

-- JSON text without the whitespace between its tokens, as SQLite's json() gives it: a
-- payload read and written back by another client is the same payload, however spaced.
local function minified(text)
    if not string.find(text, BLANK) then
        return text
    end
    local parts, at = {}, 1
    while at <= #text do
        local open = string.find(text, '"', at, true) or #text + 1
        parts[#parts + 1] = (string.gsub(string.sub(text, at, open - 1), BLANK .. '+', ''))
        local close = open  -- the string's closing quote, past its escapes
        while close <= #text do
            close = string.find(text, '["\\]', close + 1) or #text + 1
            if string.sub(text, close, close) ~= '\\' then
                break
            end
            close = close + 1
        end
        parts[#parts + 1] = string.sub(text, open, close)
        at = close + 1
    end
    return table.concat(parts)
end

local function changes_any(e)
    for _, name in ipairs(CHANGES) do
        if e[name] then
            return true
        end
    end
    return false
end

for i = 2, #ARGV do
    local e = cjson.decode(ARGV[i])
    local id = e.id
    local h = changes_any(e) and load(id)
    if h and UNSTARTED[h.state] and h.attempts == e.attempts
        and (not e.payload_was or minified(h.payload) == minified(e.payload_was)) then
        local old = copy(h)
        h.payload = e.payload or h.payload
        h.queue = e.queue or h.queue
        h.priority = e.priority or h.priority
        h.max_attempts = e.max_attempts or h.max_attempts
        h.command = e.command or h.command
        h.cwd = e.cwd or h.cwd
        if e.run_at then
            h.run_at = e.run_at
            if h.state ~= 'waiting' then
                h.state = 'queued'
                if tonumber(e.run_at) > now then
                    h.state = 'scheduled'
                end
            end
        end
        unindex(id, old, old.state)
        index(id, h, h.state)
        if PENDING[old.state] then
            redis.call('HINCRBY', P .. 'pending', old.queue .. SEP .. old.job, -1)
            redis.call('HINCRBY', P .. 'pending', h.queue .. SEP .. h.job, 1)
        end
        if h.queue ~= old.queue then
            -- What the stats counted for it (its enqueue, its attempts) stays in the queue
            -- it happened in: jobctl_jobs_enqueued_total by queue must never go down.
            redis.call('SADD', P .. 'queues', h.queue)
        end
        save(id, h, {'payload', 'queue', 'priority', 'max_attempts', 'run_at', 'state', 'command',
            'cwd'})
        edited[#edited + 1] = id
    end
end
if #edited > 0 then
    wake('w')  -- due now, or sooner than a sleeping worker planned for
end
return edited
