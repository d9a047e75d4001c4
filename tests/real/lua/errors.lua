-- errors.lua: error/pcall/xpcall/assert, messages with positions, error objects.

print(pcall(error, "plain"))
print(pcall(error, "level0", 0))
print(pcall(function() error("with position") end))
print(pcall(function() error("level 2", 2) end))
print(select(2, pcall(function() error({ code = 42 }) end)).code)
print(select(2, pcall(function() error(setmetatable({}, { __tostring = function() return "custom" end })) end)) ~= nil)
print(pcall(function() local x = nil; return x.field end))
print(pcall(function() return 1 + {} end))
print(pcall(function() return #5 end))
print(pcall(function() return ("x") < 1 end))
print(pcall(function() undefinedfunction() end))
print(pcall(function() local t = {} ; t.a.b = 1 end))
print(pcall(function() return 1 // 0 end))
print(pcall(function() return 1 % 0 end))
print(pcall(function() return math.tointeger(2^63) or error("no integer") end))
print(pcall(string.rep))
print(pcall(string.sub))
print(pcall(setmetatable, 1, {}))
print(pcall(function() return "10" + "x" end))
print(pcall(function() return 2^63 | 0 end))
print(pcall(assert, false))
print(pcall(assert, nil, "assert message"))
print(pcall(assert, 1, 2, 3))
print(pcall(tostring))
print(pcall(ipairs))
print(pcall(load, "return +"))
print(load("return +"))
print(load("x = = 1", "=chunk"))
print(pcall(string.format, "%d", "x"))

-- xpcall with a message handler and a traceback
local function handler(msg) return "handled: " .. tostring(msg) end
print(xpcall(function() error("deep") end, handler))
print(xpcall(function(a, b) return a + b end, handler, 3, 4))
local tb = select(2, xpcall(function() local function inner() error("tb test") end inner() end, debug.traceback))
print((tb:gsub("\n.*", "")))
print(select(2, tb:gsub("\n", "\n")) > 2)

-- nested pcall and rethrow
local function risky(n)
  if n == 0 then error("bottom reached", 0) end
  local ok, err = pcall(risky, n - 1)
  error(err .. "<" .. n, 0)
end
print(pcall(risky, 5))

-- error in __index, in sort comparator, in string.gsub callback
print(pcall(function() return setmetatable({}, { __index = function() error("idx fail") end }).x end))
print(pcall(table.sort, { 3, 2, 1 }, function() error("cmp fail") end))
print(pcall(string.gsub, "abc", "%w", function() error("gsub fail") end))
print(pcall(table.sort, { 1, "x", 2 }))

-- stack overflow is caught
local function rec() return 1 + rec() end
local ok, msg = pcall(rec)
print("stack overflow caught", ok, (msg:match("stack overflow")))

-- error with non-string values
print(pcall(error))
print(pcall(error, nil))
print(pcall(error, 12))
print(pcall(error, true))

-- tostring(-nan) portability: only print whether it is nan
local nan = 0 / 0
print("nan", nan ~= nan, math.huge > 0, -math.huge < 0)
