-- Sum the hourly counters of the hours before ARGV[1] into hour 0, the total that only a
-- lifetime's read counts: every read of the totals (each metrics scrape) went through all
-- the hours ever counted. At most 500 hours a call, so no call holds the server long.
-- Returns how many hours went.
local hours = redis.call('ZRANGEBYSCORE', P .. 'stat_hours', '(0', '(' .. ARGV[1], 'LIMIT', 0, 500)
local total = P .. 'stats:0'
for _, hour in ipairs(hours) do
    local key = P .. 'stats:' .. hour
    local flat = redis.call('HGETALL', key)
    for i = 1, #flat, 2 do
        redis.call('HINCRBY', total, flat[i], flat[i + 1])
    end
    redis.call('DEL', key)
    redis.call('ZREM', P .. 'stat_hours', hour)
end
if #hours > 0 then
    redis.call('ZADD', P .. 'stat_hours', 0, 0)
end
return #hours
