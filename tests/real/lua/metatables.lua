-- metatables.lua: operators, inheritance, __index/__newindex, weak tables.

local V = {}
V.__index = V
local function vec(x, y) return setmetatable({ x = x, y = y }, V) end
V.__add = function(a, b) return vec(a.x + b.x, a.y + b.y) end
V.__sub = function(a, b) return vec(a.x - b.x, a.y - b.y) end
V.__mul = function(a, b)
  if type(a) == "number" then return vec(a * b.x, a * b.y) end
  if type(b) == "number" then return vec(a.x * b, a.y * b) end
  return a.x * b.x + a.y * b.y
end
V.__unm = function(a) return vec(-a.x, -a.y) end
V.__eq = function(a, b) return a.x == b.x and a.y == b.y end
V.__lt = function(a, b) return a:len2() < b:len2() end
V.__le = function(a, b) return a:len2() <= b:len2() end
V.__len = function(a) return math.sqrt(a:len2()) end
V.__tostring = function(a) return string.format("(%g, %g)", a.x, a.y) end
V.__concat = function(a, b) return tostring(a) .. tostring(b) end
V.__call = function(a, k) return a[k] end
V.__idiv = function(a, n) return vec(a.x // n, a.y // n) end
V.__band = function(a, b) return vec(a.x & b.x, a.y & b.y) end
function V:len2() return self.x * self.x + self.y * self.y end

local a, b = vec(3, 4), vec(1, -2)
print(tostring(a + b), tostring(a - b), a * b, tostring(2 * a), tostring(a * 0.5), tostring(-a))
print(#a, a == vec(3, 4), a ~= b, b < a, a <= a, a .. b, a("x"), tostring(vec(7, 9) // 2))
print(tostring(vec(6, 5) & vec(3, 3)), rawequal(a, vec(3, 4)), rawlen({ 1, 2 }))

-- class hierarchy
local Animal = {}
Animal.__index = Animal
function Animal.new(name, sound) return setmetatable({ name = name, sound = sound }, Animal) end
function Animal:speak() return self.name .. " says " .. self.sound end
function Animal:kind() return "animal" end
local Dog = setmetatable({}, { __index = Animal })
Dog.__index = Dog
function Dog.new(name) local d = Animal.new(name, "woof"); return setmetatable(d, Dog) end
function Dog:kind() return "dog" end
function Dog:fetch() return self.name .. " fetches" end
local d, c = Dog.new("rex"), Animal.new("tom", "meow")
print(d:speak(), d:kind(), d:fetch(), c:speak(), c:kind(), getmetatable(d) == Dog)

-- __index function, __newindex proxy, read-only table
local log = {}
local proxy = setmetatable({}, {
  __index = function(_, k) log[#log + 1] = "get " .. tostring(k); return k * 2 end,
  __newindex = function(t, k, v) log[#log + 1] = "set " .. tostring(k); rawset(t, k, v * 10) end,
})
print(proxy[21], proxy[5])
proxy[1] = 4
print(proxy[1], rawget(proxy, 2), table.concat(log, ", "))
local ro = setmetatable({}, { __index = { pi = 3.14 }, __newindex = function() error("read-only table", 2) end })
print(ro.pi, pcall(function() ro.x = 1 end))

-- default values, __pairs is gone in 5.4? (__pairs still honoured by pairs)
local defaults = setmetatable({}, { __index = function() return 0 end })
defaults.a = defaults.a + 1; defaults.a = defaults.a + 1
print("defaults", defaults.a, defaults.zzz)
local pt = setmetatable({}, { __pairs = function(t)
  local i = 0
  return function() i = i + 1; if i <= 3 then return i, i * i end end, t, nil
end })
for k, v in pairs(pt) do io.write(k, ":", v, " ") end
print()

-- __close and __gc
do
  local order = {}
  do
    local x <close> = setmetatable({}, { __close = function() order[#order + 1] = "x" end })
    local y <close> = setmetatable({}, { __close = function(_, err) order[#order + 1] = "y" .. tostring(err) end })
  end
  print("close order", table.concat(order, ","))
end
local gced = 0
for i = 1, 50 do setmetatable({}, { __gc = function() gced = gced + 1 end }) end
collectgarbage()
collectgarbage()
print("gc finalizers", gced)

-- weak tables
local weak = setmetatable({}, { __mode = "k" })
local keep = {}
for i = 1, 10 do
  local k = {}
  weak[k] = i
  if i % 2 == 0 then keep[#keep + 1] = k end
end
collectgarbage()
local n = 0
for _ in pairs(weak) do n = n + 1 end
print("weak keys left", n, #keep)

-- string metatable
print(("abc"):upper(), #getmetatable("").__index == 0, ("x"):rep(3))
