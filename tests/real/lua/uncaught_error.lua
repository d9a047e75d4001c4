-- uncaught_error.lua: an error escaping the script; the driver reports it on
-- stderr and exits with status 1.
print("before the error")
local t = setmetatable({}, { __index = function(_, k) error("no field '" .. k .. "'", 2) end })
local function use() return t.missing end
print(use())
print("never printed")
