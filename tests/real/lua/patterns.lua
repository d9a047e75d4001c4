-- patterns.lua: string.find/match/gmatch/gsub with Lua patterns.

local text = [[
It was the best of times, it was the worst of times, it was the age of
wisdom, it was the age of foolishness, it was the epoch of belief, it was
the epoch of incredulity, it was the season of Light, it was the season of
Darkness, it was the spring of hope, it was the winter of despair.
]]

-- word frequency, sorted by count then word
local freq = {}
for w in text:lower():gmatch("%a+") do freq[w] = (freq[w] or 0) + 1 end
local list = {}
for w, n in pairs(freq) do list[#list + 1] = { w = w, n = n } end
table.sort(list, function(a, b) if a.n ~= b.n then return a.n > b.n end return a.w < b.w end)
for i = 1, 8 do io.write(list[i].w, "=", list[i].n, " ") end
print()
print("distinct words", #list)

-- gsub with string, function, table replacement and counts
print(("hello world"):gsub("o", "0"))
print(("hello world"):gsub("(%w+)", "<%1>"))
print(("hello world"):gsub("%w+", function(w) return w:sub(1, 1):upper() .. w:sub(2) end))
print(("$name is $age"):gsub("%$(%w+)", { name = "Lua", age = 31 }))
print(("abc"):gsub("", "-"))
print(("one two three"):gsub("(%w+) (%w+)", "%2 %1", 1))
print(("a,b,,c"):gsub(",", ";", 2))
print(("x = 1 + 2"):gsub("%s", ""))
print(("%d"):gsub("%%", "%%%%"))

-- captures, anchors, classes, position captures, balanced and frontier
print(("key = value"):match("^(%w+)%s*=%s*(%w+)$"))
print(("2024-06-11"):match("(%d+)-(%d+)-(%d+)"))
print(("  padded  "):match("^%s*(.-)%s*$"))
print(("f(a(b)c)d"):match("%b()"))
print(("THE (quick) fox"):find("%f[%a]%a+%f[%A]"))
print(("hello"):find("l+"))
print(("hello"):match("()ll()"))
print(("abc123def"):match("%a*"), ("abc123def"):match("%d+"), ("abc"):match("^(a?)(.*)$"))
print(("[test]"):match("^%[(.*)%]$"), ("a.b.c"):gsub("%.", "/"))
print(string.find("a+b", "+", 1, true), string.find("abc", "b", -1), string.find("", ""))
print(("  x"):find("^%s*"), ("aaa"):match("a-b"), ("aaab"):match("a-b"), ("xyz"):match(".-$"))

-- gmatch with captures and anchors
local pairs_out = {}
for k, v in ("a=1, b=22, ccc=333"):gmatch("(%w+)=(%w+)") do pairs_out[#pairs_out + 1] = k .. ":" .. v end
print(table.concat(pairs_out, " "))
local nums = {}
for n in ("1 -2 3.5 4e2 0x10"):gmatch("%S+") do nums[#nums + 1] = tonumber(n) end
print(table.concat(nums, " "))

-- CSV-ish splitting and joining
local function split(s, sep)
  local out = {}
  for field in (s .. sep):gmatch("(.-)" .. sep:gsub("%p", "%%%0")) do out[#out + 1] = field end
  return out
end
local fields = split("alpha|beta||delta|", "|")
print(#fields, table.concat(fields, ","))

-- string.rep heavy and long gsub
local big = ("abcdefghij"):rep(10000)
local replaced, n = big:gsub("e", "E")
print(#big, n, replaced:sub(1, 20), select(2, big:gsub("%a", "")))

-- escape HTML
local function esc(s) return (s:gsub("[<>&\"]", { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;" })) end
print(esc('<a href="x">Tom & Jerry</a>'))

-- pattern errors are reported
print(pcall(string.find, "abc", "[a"))
print(pcall(string.rep, "x", -1))
print(pcall(string.gsub, "abc", "(", "x"))
