-- Move dead jobs back to queued, their attempts reset and their history kept. A job that
-- runs after others waits for them again while one has not yet succeeded, and stays dead
-- while one of them is dead or cancelled (it could never run), or is gone while it never ran
-- (the one gone may be the one it died for; one that ran had them all succeed first).
-- ARGV: now, job type ("" for any), then the ids (none: every dead job). Either way oldest
-- first, so that a job is retried after the ones it runs after, whatever the order given.
-- A job whose unique key another active job holds (or one retried before it in this call)
-- stays dead; of dead jobs sharing a key, only the lowest id is retried, as in the SQLite
-- store.
local now, job = ARGV[1], ARGV[2]
local targets = {}
local every = #ARGV <= 2
if not every then
    for i = 3, #ARGV do
        targets[#targets + 1] = ARGV[i]
    end
else
    for _, member in ipairs(redis.call('ZRANGE', P .. 'done:dead', 0, -1)) do
        targets[#targets + 1] = tostring(tonumber(member))
    end
end
table.sort(targets, function(a, b) return tonumber(a) < tonumber(b) end)
local seen = {}  -- with every dead job: the keys whose lowest dead id was looked at
local moved = {}
for _, id in ipairs(targets) do
    local h = load(id)
    if h and h.state == 'dead' and (job == '' or h.job == job) then
        local free = true
        if h.key then
            free = not (seen[h.key] or key_holder(h.key))
            if every then
                seen[h.key] = true
            end
        end
        local to = 'queued'
        if free and h.after then
            local never_ran = tonumber(h.runs or '0') == 0
            to = still_waits(h, never_ran) or 'queued'
        end
        if free and to ~= 'dead' then
            -- it starts over: what its last attempt left is in its history (as in the SQLite
            -- store)
            h.attempts, h.run_at, h.finished_at = '0', now, nil
            h.started_at, h.exit_code, h.error = nil, nil, nil
            clear_lease(id, h)
            save(id, h, {'attempts', 'run_at', 'finished_at', 'started_at', 'exit_code', 'error'})
            transition(id, h, to)
            moved[#moved + 1] = id
        end
    end
end
if #moved > 0 then
    wake('w')
end
return moved
