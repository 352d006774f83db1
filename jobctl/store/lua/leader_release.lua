-- Give up the cron leader lease if it is still ours, so a standby takes over at once.
-- ARGV: token.
if redis.call('GET', P .. 'leader') == ARGV[1] then
    redis.call('DEL', P .. 'leader')
    return 1
end
return 0
