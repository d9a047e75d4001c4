-- closures.lua: closures, upvalues, varargs, recursion, coroutines.

local function counter(start, step)
  local n = start
  return function() n = n + step; return n end,
         function() return n end
end
local inc, get = counter(10, 5)
inc(); inc()
print("counter", get(), inc(), get())

-- shared upvalues between closures created in a loop
local fns = {}
for i = 1, 5 do fns[i] = function() return i * i end end
local out = {}
for i = 1, 5 do out[i] = fns[i]() end
print("loop closures", table.concat(out, " "))

-- varargs
local function va(...)
  local n = select("#", ...)
  local t = { ... }
  return n, #t, (...)
end
print("varargs", va(1, 2, 3), va(), va(nil, nil))
local function sum(...)
  local s = 0
  for _, v in ipairs({ ... }) do s = s + v end
  return s
end
print("sum", sum(1, 2, 3, 4, 5, 6, 7, 8, 9, 10))

-- recursion and tail calls
local function fact(n) if n <= 1 then return 1 end return n * fact(n - 1) end
local function loop(n, acc) if n == 0 then return acc end return loop(n - 1, acc + 1) end
print("fact", fact(20), fact(25.0), "tail", loop(200000, 0))

-- memoize with closures
local function memoize(f)
  local cache = {}
  return function(n)
    local v = cache[n]
    if v == nil then v = f(n); cache[n] = v end
    return v
  end
end
local fib
fib = memoize(function(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end)
print("fib(90)", fib(90))

-- coroutines: generator
local function range(n)
  return coroutine.wrap(function()
    for i = 1, n do coroutine.yield(i) end
  end)
end
local r = {}
for v in range(6) do r[#r + 1] = v end
print("generator", table.concat(r, ","))

-- coroutine status, passing values both ways
local co = coroutine.create(function(a, b)
  print("co start", a, b)
  local c = coroutine.yield(a + b)
  print("co got", c)
  local d, e = coroutine.yield(c * 2)
  print("co got", d, e)
  return "done", a + b + c + d + e
end)
print(coroutine.status(co))
print(coroutine.resume(co, 1, 2))
print(coroutine.status(co))
print(coroutine.resume(co, 10))
print(coroutine.resume(co, 100, 1000))
print(coroutine.status(co), coroutine.resume(co))

-- error inside a coroutine, yield across pcall
local co2 = coroutine.create(function()
  local ok, err = pcall(function()
    coroutine.yield("inside pcall")
    error("oops in coroutine")
  end)
  coroutine.yield(ok, err)
  error({ code = 7 })
end)
print(coroutine.resume(co2))
print(coroutine.resume(co2))
local okc, e = coroutine.resume(co2)
print(okc, type(e), e.code, coroutine.status(co2))
print(coroutine.isyieldable(), coroutine.running() ~= nil)

-- producer/consumer pipeline
local function producer()
  return coroutine.create(function()
    for _, w in ipairs({ "alpha", "beta", "gamma", "delta" }) do coroutine.yield(w) end
  end)
end
local function filter(src)
  return coroutine.create(function()
    while true do
      local _, w = coroutine.resume(src)
      if not w then return end
      coroutine.yield(w:upper() .. "#" .. #w)
    end
  end)
end
local f = filter(producer())
while true do
  local _, w = coroutine.resume(f)
  if not w then break end
  io.write(w, " ")
end
print()

-- coroutine.close with to-be-closed variable
local log = {}
local co3 = coroutine.create(function()
  local x <close> = setmetatable({}, { __close = function() log[#log + 1] = "closed" end })
  coroutine.yield(1)
end)
coroutine.resume(co3)
print("close", coroutine.close(co3), log[1])
