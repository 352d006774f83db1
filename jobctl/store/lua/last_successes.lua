-- The finish time of each named schedule's latest succeeded run ("" for none).
-- ARGV: the schedules.
local found = {}
for i = 1, #ARGV do
    found[i] = last_success(ARGV[i], true) or ''
end
return found
