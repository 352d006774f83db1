-- Requeue running jobs whose lease expired (their worker died): the attempt counts, so a job
-- with none left goes dead. Cancelled jobs whose worker died before confirming the kill get
-- their attempt closed. ARGV: now. Returns the running jobs changed, flattened.
local now = ARGV[1]
-- An attempt ends when its lease ran out, not when a worker noticed (an hour later, on a
-- host whose only worker died): its run time goes to stats.
local function lease_end(h, at)
    local ended = h.lease_expires_at or at
    if tonumber(ended) > tonumber(at) then
        return at
    end
    return ended
end
local expired = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', '(' .. now)
local out = {}
local cancelled = {}
for _, member in ipairs(expired) do
    local id = tostring(tonumber(member))
    local h = load(id)
    if h and h.lease_token and h.state == 'running' then
        local to = 'queued'
        if tonumber(h.attempts) >= tonumber(h.max_attempts) then
            to = 'dead'
        end
        local err = 'worker ' .. (h.worker or 'None') .. ' lost: its lease expired'
        local ended = lease_end(h, now)
        local before = copy(h)
        before.state, before.error, before.worker, before.lease_expires_at = to, err, nil, nil
        clear_lease(id, h)
        h.error = err
        if to == 'dead' then
            h.finished_at = now
        else
            h.finished_at, h.started_at = nil, nil  -- queued again, as a released job is
        end
        save(id, h, {'error', 'finished_at', 'started_at'})
        transition(id, h, to)
        close_attempt(id, h.runs, h, ended, 'lost', {error = err})
        out[#out + 1] = flatten(before)
    elseif h and h.lease_token and h.state == 'cancelled' then
        cancelled[#cancelled + 1] = {id, h}
    else
        redis.call('ZREM', P .. 'leases', member)
    end
end
for _, pair in ipairs(cancelled) do
    local id, h = pair[1], pair[2]
    local ended = lease_end(h, now)  -- read before clear_lease drops it
    clear_lease(id, h)
    close_attempt(id, h.runs, h, ended, 'cancelled', {error = 'cancelled; its worker was lost'})
end
if #out > 0 then
    wake('w')
end
return out
