-- Give claimed jobs back without counting the attempt (graceful shutdown), due from now.
-- ARGV: now, then for each job: id, lease token, run, the attempt's log path ("": it wrote
-- nothing; "?": not known, the path recorded at its start stays), its exit code and signal
-- ("": none) and its error. Returns how many were released.
local now = ARGV[1]
local released = 0
for i = 2, #ARGV, 7 do
    local id, token, run, path = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local code, signal, reason = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
    if path == '?' then
        path = nil
    end
    if code == '' then
        code = nil
    end
    if signal == '' then
        signal = nil
    end
    local h = load(id)
    if h and h.state == 'running' and h.lease_token == token then
        h.attempts = tostring(tonumber(h.attempts) - 1)
        h.started_at = nil
        h.run_at = now  -- behind the jobs already ready (its old run_at put it first again)
        clear_lease(id, h)
        save(id, h, {'attempts', 'started_at', 'run_at'})
        transition(id, h, 'queued')
        released = released + 1
    elseif h and h.state == 'cancelled' and h.lease_token == token then
        clear_lease(id, h)  -- cancelled meanwhile; its process is stopped now
    end
    close_attempt(id, run, h, now, 'interrupted',
        {exit_code = code, signal = signal, error = reason, log_path = path})
end
if released > 0 then
    wake('w')
end
return released
