-- Cancel active jobs. A running job keeps its lease (and with it its key and its place among
-- its schedule's active runs) until its worker confirms the kill, so that rescue can close
-- the attempt if that worker is gone. A cancelled job has no exit code: a failed attempt's
-- (one waiting for its retry) stays in its history, as in the SQLite store.
-- ARGV: now, then ids. Returns each id's state before ("" for an unknown id).
local now = ARGV[1]
local out = {}
local any = false
for i = 2, #ARGV do
    local id = ARGV[i]
    local h = load(id)
    if not h then
        out[#out + 1] = ''
    else
        local before = h.state
        out[#out + 1] = before
        if ACTIVE[before] then
            h.finished_at, h.error, h.exit_code = now, 'cancelled', nil
            save(id, h, {'finished_at', 'error', 'exit_code'})
            transition(id, h, 'cancelled')
            any = true
        end
    end
end
if any then
    -- Workers stop a running one; a --burst worker waiting for a retry of one ends.
    wake('c')
end
return out
