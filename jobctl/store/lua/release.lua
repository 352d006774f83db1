-- Give claimed jobs back without counting the attempt (graceful shutdown).
-- ARGV: now, reason, then triples of id, lease token, run. Returns how many were released.
local now, reason = ARGV[1], ARGV[2]
local released = 0
for i = 3, #ARGV, 3 do
    local id, token, run = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local h = load(id)
    if h and h.state == 'running' and h.lease_token == token then
        h.attempts = tostring(tonumber(h.attempts) - 1)
        h.started_at = nil
        clear_lease(id, h)
        save(id, h, {'attempts', 'started_at'})
        transition(id, h, 'queued')
        released = released + 1
    elseif h and h.state == 'cancelled' and h.lease_token == token then
        clear_lease(id, h)  -- cancelled meanwhile; its process is stopped now
    end
    close_attempt(id, run, h, now, 'interrupted', {error = reason})
end
if released > 0 then
    wake('w')
end
return released
