-- mathlib.lua: libm-backed functions and numeric formatting.

local f = string.format
local vals = { 0, 0.5, 1, 2, 3.14159, 10, 100.25, -1.5 }
for _, x in ipairs(vals) do
  print(f("x=%-8g sin=%.10f cos=%.10f exp=%.6e sqrt=%.12g floor=%d ceil=%d",
    x, math.sin(x), math.cos(x), math.exp(x), x >= 0 and math.sqrt(x) or -1,
    math.floor(x), math.ceil(x)))
end
print(f("%.15g %.15g %.15g", math.log(10), math.log(8, 2), math.log(1000, 10)))
print(f("%.15g %.15g %.15g", math.atan(1) * 4, math.atan(1, -1), math.asin(0.5)))
print(f("%.15g %.15g %.15g", math.tan(0.3), math.acos(0.3), math.fmod(7.5, 2)))
print(math.fmod(-7, 3), math.fmod(7, -3), math.fmod(-7.0, 3), pcall(math.fmod, 1, 0))
print(math.abs(-5), math.abs(-5.5), math.max(3, 9, 2), math.min(3, 9.5, -2), math.max(1.5, 1))
print(math.pi, -math.pi, math.huge, -math.huge, math.sqrt(2), 2^0.5 == math.sqrt(2))
print(3.0 == 3, 2^53 + 1 == 2^53, (2^53 + 1) | 0, math.modf(3.7), math.modf(-3.7), math.modf(5))
print(f("%.3f", 2 / 3), f("%.0f", 0.5), f("%.0f", 1.5), f("%.0f", 2.5), f("%g", 1e-5), f("%g", 123456789))
print(1e300 * 1e10, -1e300 * 1e10, 5 // 0.0, -5 // 0.0, 0x7fffffffffffffff + 0.0)
print(string.format("%.14g", 0.1 + 0.2), 0.1 + 0.2 == 0.3, math.floor(-0.0), 1e15 + 0.3)
print(7 // 0.5, 7.5 // 2, -7.5 // 2, 7 % 2.5, -7 % 2.5, 2^10, 2^-2, (-2)^2, -2^2)

-- integer arithmetic wraps around
local big = math.maxinteger
print(big + 1, big * 2, math.mininteger // -1, math.mininteger % -1, -math.mininteger)
print(math.ult(math.maxinteger, math.mininteger), 5 // -2, 5 % -2, -5 // 2, -5 % 2)

-- deterministic random numbers (xoshiro256**)
math.randomseed(42)
local r = {}
for i = 1, 8 do r[i] = math.random(1, 1000) end
print("random", table.concat(r, " "))
math.randomseed(42)
print("again", math.random(1, 1000) == r[1], math.random(0) ~= nil)
math.randomseed(7, 11)
local sumf = 0
for _ = 1, 1000 do sumf = sumf + math.random() end
print("float random mean", f("%.6f", sumf / 1000))

-- string.pack / unpack with numbers
local packed = string.pack("<i4 >i2 d f z s1 j", -2, 513, math.pi, 1.5, "zs", "len", math.mininteger)
print(#packed, (packed:gsub(".", function(c) return f("%02x", c:byte()) end)))
print(string.unpack("<i4 >i2 d f z s1 j", packed))
print(string.packsize("i4i8d"), pcall(string.packsize, "s"))

-- numeric integration and Newton's method
local function integrate(fn, a, b, n)
  local h, s = (b - a) / n, 0
  for i = 0, n - 1 do s = s + fn(a + (i + 0.5) * h) end
  return s * h
end
print(f("integral sin 0..pi = %.10f", integrate(math.sin, 0, math.pi, 10000)))
print(f("integral exp 0..1 = %.10f", integrate(math.exp, 0, 1, 10000)))
local function newton_sqrt(x)
  local g = x / 2
  for _ = 1, 30 do g = (g + x / g) / 2 end
  return g
end
print(f("newton sqrt(2)=%.15f sqrt(1e10)=%.6f", newton_sqrt(2), newton_sqrt(1e10)))
print(tostring(1e15), tostring(1e16), tostring(-1e-7), tostring(123.0), tostring(2^63), tostring(1/3))
