-- The fire time of each named schedule's latest enqueued run ("" for none).
-- ARGV: the schedules.
local found = {}
for i = 1, #ARGV do
    found[i] = last_run(ARGV[i], true) or ''
end
return found
