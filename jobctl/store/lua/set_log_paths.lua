-- Record where claimed attempts write their output (named by the worker once it knows the
-- job ids the claim gave it). ARGV: triples of id, run, path.
for i = 1, #ARGV, 3 do
    local key = attempt_key(ARGV[i], ARGV[i + 1])
    if redis.call('EXISTS', key) == 1 then
        redis.call('HSETNX', key, 'log_path', ARGV[i + 2])
    end
end
return true
