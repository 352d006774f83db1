-- Move dead jobs back to queued, their attempts reset and their history kept.
-- ARGV: now, job type ("" for any), then the ids (none: every dead job). A job whose unique
-- key another active job holds (or one retried before it in this call) stays dead.
local now, job = ARGV[1], ARGV[2]
local targets = {}
if #ARGV > 2 then
    for i = 3, #ARGV do
        targets[#targets + 1] = ARGV[i]
    end
else
    for _, member in ipairs(redis.call('ZRANGE', P .. 'done:dead', 0, -1)) do
        targets[#targets + 1] = tostring(tonumber(member))
    end
    -- by id, as the SQLite store: of dead jobs sharing a key, the lowest id is retried
    table.sort(targets, function(a, b) return tonumber(a) < tonumber(b) end)
end
local chosen, taken = {}, {}
for _, id in ipairs(targets) do
    local h = load(id)
    if h and h.state == 'dead' and (job == '' or h.job == job) then
        if not h.key then
            chosen[#chosen + 1] = {id, h}
        elseif not (taken[h.key] or key_holder(h.key)) then
            taken[h.key] = id
            chosen[#chosen + 1] = {id, h}
        end
    end
end
local moved = {}
for _, pair in ipairs(chosen) do
    local id, h = pair[1], pair[2]
    -- it starts over: what its last attempt left is in its history (as in the SQLite store)
    h.attempts, h.run_at, h.finished_at = '0', now, nil
    h.started_at, h.exit_code, h.error = nil, nil, nil
    clear_lease(id, h)
    save(id, h, {'attempts', 'run_at', 'finished_at', 'started_at', 'exit_code', 'error'})
    transition(id, h, 'queued')
    moved[#moved + 1] = id
end
if #moved > 0 then
    wake('w')
end
return moved
