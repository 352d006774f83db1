-- Record how claimed attempts ended. Each job changes only while it is still running under
-- the claim's lease token; the attempt itself is closed whenever it is still open.
-- ARGV: pairs of a JSON object of strings (id, token, run, outcome, to, finished, retry_at,
-- exit_code, signal, error, log_path) and the tail of the attempt's output ("" for none).
-- Returns per item the job's new state, or "" when the claim was no longer held.
local out = {}
local retrying = false
for i = 1, #ARGV, 2 do
    local item = cjson.decode(ARGV[i])
    local id = item.id
    local h = load(id)
    local result = ''
    if item.outcome ~= 'cancelled' and h and h.state == 'running'
        and h.lease_token == item.token then
        h.exit_code, h.error = item.exit_code, item.error
        clear_lease(id, h)
        if item.to == 'scheduled' then
            h.run_at = item.retry_at
            save(id, h, {'run_at', 'exit_code', 'error'})
            retrying = true
        else
            h.finished_at = item.finished
            save(id, h, {'finished_at', 'exit_code', 'error'})
        end
        transition(id, h, item.to)
        if item.to == 'succeeded' and h.schedule then
            note_success(id, h)
        end
        result = item.to
    elseif h and h.state == 'cancelled' and h.lease_token == item.token then
        -- Cancelled meanwhile: whatever the attempt's outcome (a process may exit 0 on
        -- SIGTERM), its end lets the lease go, and with it the key.
        clear_lease(id, h)
        result = 'cancelled'
    end
    close_attempt(id, item.run, h, item.finished, item.outcome, {
        exit_code = item.exit_code, signal = item.signal, error = item.error,
        log_path = item.log_path, tail = ARGV[i + 1],
    })
    if item.outcome == 'cancelled' then
        result = h and h.state or ''
    end
    out[#out + 1] = result
end
if retrying or released_waiting then
    -- Idle workers sleep until the first run_at they know of: a retry is one more, due
    -- before it perhaps (the worker that scheduled it may stop before it is due). A job that
    -- waited for one that succeeded is due now (or at the end of its own delay).
    wake('w')
end
return out
