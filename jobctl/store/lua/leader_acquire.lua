-- Take the cron leader lease if nobody holds it. The value is a fencing token: an epoch that
-- only grows, then the holder's random part. ARGV: random part, lease in ms.
-- Returns the token, or the milliseconds the current leader's lease has left.
if redis.call('EXISTS', P .. 'leader') == 1 then
    return redis.call('PTTL', P .. 'leader')
end
local token = redis.call('INCR', P .. 'leader_epoch') .. ':' .. ARGV[1]
redis.call('SET', P .. 'leader', token, 'PX', ARGV[2])
return token
