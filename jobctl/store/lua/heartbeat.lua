-- A worker's or daemon's heartbeat, kept only while it is registered. ARGV: id, now.
if redis.call('HEXISTS', P .. 'workers', ARGV[1]) == 1 then
    redis.call('HSET', P .. 'heartbeats', ARGV[1], ARGV[2])
end
return true
