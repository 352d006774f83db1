-- A busy worker's one call a turn: finish.lua, then claim.lua, each on its own part of ARGV,
-- run as functions of it (see codec.script_source): one round trip where two were, for a
-- worker whose every job ends in a finish and a claim.
-- ARGV: how many of the arguments are finish.lua's, those, then claim.lua's.
-- Returns {finish.lua's result, claim.lua's}.
local finish_count = tonumber(ARGV[1])
local finish_argv, claim_argv = {}, {}
for i = 2, #ARGV do
    if i <= finish_count + 1 then
        finish_argv[#finish_argv + 1] = ARGV[i]
    else
        claim_argv[#claim_argv + 1] = ARGV[i]
    end
end
return {finish_script(finish_argv), claim_script(claim_argv)}
