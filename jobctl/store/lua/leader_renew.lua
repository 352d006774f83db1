-- Extend the cron leader lease if it is still ours. ARGV: token, lease in ms. Returns 1 or 0.
if redis.call('GET', P .. 'leader') == ARGV[1] then
    redis.call('PEXPIRE', P .. 'leader', ARGV[2])
    return 1
end
return 0
