-- Cancel active jobs. A running job keeps its lease (and with it its key and its place among
-- its schedule's active runs) until its worker confirms the kill, so that rescue can close
-- the attempt if that worker is gone. A cancelled job has no exit code: a failed attempt's
-- (one waiting for its retry) stays in its history, as in the SQLite store.
-- ARGV: now, then ids. Returns each id's state before ("" for an unknown id).
-- Newest first: a job is cancelled before the jobs it runs after (older ones), whose cancel
-- would have made it dead; the states before are returned in the order given.
local now = ARGV[1]
local ids = {}
for i = 2, #ARGV do
    ids[#ids + 1] = ARGV[i]
end
table.sort(ids, function(a, b) return tonumber(a) > tonumber(b) end)
local before = {}
local any = false
for _, id in ipairs(ids) do
    local h = load(id)
    if not h then
        before[id] = before[id] or ''
    elseif not before[id] then
        before[id] = h.state
        if ACTIVE[h.state] then
            h.finished_at, h.error, h.exit_code = now, 'cancelled', nil
            save(id, h, {'finished_at', 'error', 'exit_code'})
            transition(id, h, 'cancelled')
            any = true
        end
    end
end
local out = {}
for i = 2, #ARGV do
    out[#out + 1] = before[ARGV[i]]
end
if any then
    -- Workers stop a running one; a --burst worker waiting for a retry of one ends.
    wake('c')
end
return out
