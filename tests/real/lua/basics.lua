-- basics.lua: values, strings, string.format, integer/float arithmetic.
-- Output must be deterministic: no addresses, no hash-order iteration.

print("hello from Lua", _VERSION)
print(1, 2.0, -3, 1e100, 0.1, 1/3, 2^53, -0.0, 1/0, -1/0, 100 // 7, 100 % 7)
print(7 // 2, 7.0 // 2, -7 // 2, -7 % 3, 7 % -3, 5.5 % 2, 2^-1, 10 / 4)
print(math.maxinteger, math.mininteger, math.maxinteger + 1 == math.mininteger)
print(0x7fffffff * 3, 0xff, 0x10p2, 1e15, 1e16, 123456789012)
print(3 & 5, 3 | 5, 3 ~ 5, ~0, 1 << 62, 1 << 63, 1 << 64, -1 >> 60)
print(math.type(1), math.type(1.0), math.type("1"), math.tointeger(3.0), math.tointeger(3.5))
print("10" + 5, "3.5" * 2, 10 .. 20, "0x10" + 0, tonumber("  12  "), tonumber("z", 36))
print(tonumber("ff", 16), tonumber("777", 8), tonumber("1e3"), tonumber("abc"), tonumber("0x1p-2"))

-- string.format with integers and floats
local fmt = string.format
print(fmt("[%d] [%5d] [%-5d] [%05d] [%+d] [%x] [%X] [%o] [%c%c%c]", 42, 42, 42, 42, 42, 255, 255, 8, 76, 117, 97))
print(fmt("[%f] [%.3f] [%10.4f] [%-10.2f] [%e] [%.2E] [%g] [%g] [%g]", math.pi, math.pi, math.pi, math.pi, 12345.678, 0.000123, 1e20, 0.1, 100))
print(fmt("[%a]", 1.0), fmt("%.14g", 2^0.5), fmt("%.17g", 0.1), fmt("%5.1f%%", 99.44))
print(fmt("%s|%10s|%-10s|%.2s", "abc", "right", "left", "truncate"))
print(fmt("%q", 'a "quoted"\n\0string\t\\'), fmt("%q", 1/3), fmt("%q", math.mininteger))
print(fmt("%i items cost %.2f (%s)", 3, 3 * 1.1, tostring(true)))

-- string library basics
local s = "The quick brown fox jumps over the lazy dog"
print(#s, s:upper(), s:lower())
print(s:sub(5, 9), s:sub(-3), s:sub(-8, -5), s:sub(100), ("x"):rep(5), ("ab"):rep(3, ","))
print(s:len(), s:reverse(), s:byte(1), s:byte(-1), string.char(72, 105))
print(s:find("fox"), s:find("o", 20), s:find("cat"), s:find("l.z", 1, true), s:find("l.z"))
print(("%d"):rep(3, "-"), ("  trim me  "):match("^%s*(.-)%s*$") .. "|")
local bytes = { s:byte(1, 10) }
print(#bytes, table.concat(bytes, " "))

-- utf8
local u = "h\u{e9}llo w\u{f6}rld \u{20ac}"
print(#u, utf8.len(u), utf8.char(72, 0x20ac, 0x1F600) == "H\u{20ac}\u{1F600}")
local cps = {}
for _, c in utf8.codes(u) do cps[#cps + 1] = c end
print(table.concat(cps, ","))

-- integer <-> string conversions and comparisons
print(10 == 10.0, "10" == 10, 1 < 1.5, "a" < "b", "Z" < "a", "abc" < "abd", -0.0 == 0.0)
print(math.floor(-3.5), math.ceil(-3.5), math.floor(3), math.abs(math.mininteger), math.ult(1, -1))
print(string.format("%d", 3.0), pcall(string.format, "%d", 3.5))
print(tostring(nil), tostring(false), tostring(12), tostring(12.5), type(print), type(nil))
print(select("#", 1, nil, 3, nil), select(2, "a", "b", "c"), select(-1, "x", "y"))

-- goto, numeric for with float step, while, repeat
local acc = {}
for i = 1, 2, 0.25 do acc[#acc + 1] = i end
print(table.concat(acc, " "))
local n = 0
repeat n = n + 1 until n * n > 200
print("repeat", n)
do
  local i = 1
  ::top::
  if i <= 3 then io.write("goto", i, " ") i = i + 1 goto top end
  io.write("\n")
end
for i = 10, 1, -3 do io.write(i, ";") end
print()
