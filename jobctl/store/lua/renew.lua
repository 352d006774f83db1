-- Extend leases that are still ours. ARGV: until, then pairs of id and lease token.
-- Returns the ids still held. A job cancelled during its attempt keeps its lease (and key)
-- alive while its process stops, but is no longer held: the worker stops it.
local until_at = ARGV[1]
local held = {}
for i = 2, #ARGV, 2 do
    local id, token = ARGV[i], ARGV[i + 1]
    local state, current = unpack(redis.call('HMGET', job_key(id), 'state', 'lease_token'))
    if (state == 'running' or state == 'cancelled') and current == token then
        redis.call('HSET', job_key(id), 'lease_expires_at', until_at)
        redis.call('ZADD', P .. 'leases', until_at, pad(id))
        if state == 'running' then
            held[#held + 1] = id
        end
    end
end
return held
