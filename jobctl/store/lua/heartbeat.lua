-- A worker's or daemon's heartbeat, kept only while it is registered. ARGV: id, now.
-- Returns 1, or 0 when it is not registered (the server lost its data): it registers again.
if redis.call('HEXISTS', P .. 'workers', ARGV[1]) == 1 then
    redis.call('HSET', P .. 'heartbeats', ARGV[1], ARGV[2])
    return 1
end
return 0
