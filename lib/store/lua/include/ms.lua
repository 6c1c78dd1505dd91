-- plumbing: a number as Redis should keep it, the whole decimal digits (tostring would write large numbers in exponent form).
local function ms(value) return string.format('%d', value) end
