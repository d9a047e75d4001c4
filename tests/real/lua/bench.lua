-- bench.lua: a small CPU-bound workload with deterministic output.

local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
print("fib(25) =", fib(25))

-- sieve of Eratosthenes
local function sieve(n)
  local composite = {}
  local count, last, sum = 0, 0, 0
  for i = 2, n do
    if not composite[i] then
      count = count + 1; last = i; sum = sum + i
      for j = i * i, n, i do composite[j] = true end
    end
  end
  return count, last, sum
end
print("primes below 200000:", sieve(200000))

-- n-queens
local function queens(n)
  local cols, d1, d2, count = {}, {}, {}, 0
  local function place(r)
    if r > n then count = count + 1 return end
    for c = 1, n do
      if not cols[c] and not d1[r + c] and not d2[r - c + n] then
        cols[c], d1[r + c], d2[r - c + n] = true, true, true
        place(r + 1)
        cols[c], d1[r + c], d2[r - c + n] = nil, nil, nil
      end
    end
  end
  place(1)
  return count
end
print("8 queens solutions:", queens(8))

-- mandelbrot in ASCII
local rows = {}
for y = -1.2, 1.2, 0.2 do
  local row = {}
  for x = -2.0, 0.6, 0.065 do
    local zr, zi, i = 0.0, 0.0, 0
    while i < 50 and zr * zr + zi * zi < 4 do
      zr, zi = zr * zr - zi * zi + x, 2 * zr * zi + y
      i = i + 1
    end
    row[#row + 1] = i == 50 and "#" or (i > 10 and "+" or (i > 4 and "." or " "))
  end
  rows[#rows + 1] = table.concat(row)
end
print(table.concat(rows, "\n"))

-- string building and hashing (FNV-1a, 64-bit wrapping integer arithmetic)
local parts = {}
for i = 1, 20000 do parts[i] = string.format("%05d:%x;", i, i * 7919) end
local s = table.concat(parts)
local h = 0xcbf29ce484222325
for i = 1, #s do
  h = h ~ s:byte(i)
  h = h * 0x100000001b3
end
print("built", #s, "bytes, fnv1a =", string.format("%016x", h))

-- n-body-ish float loop
local bodies = { { x = 0, y = 0, vx = 0, vy = 0, m = 1000 }, { x = 100, y = 0, vx = 0, vy = 3, m = 1 },
                 { x = -150, y = 20, vx = 0.5, vy = -2.5, m = 2 } }
for _ = 1, 2000 do
  for i, a in ipairs(bodies) do
    for j, b in ipairs(bodies) do
      if i ~= j then
        local dx, dy = b.x - a.x, b.y - a.y
        local d = math.sqrt(dx * dx + dy * dy + 0.01)
        local f = b.m / (d * d * d)
        a.vx, a.vy = a.vx + dx * f * 0.01, a.vy + dy * f * 0.01
      end
    end
  end
  for _, a in ipairs(bodies) do a.x, a.y = a.x + a.vx * 0.01, a.y + a.vy * 0.01 end
end
for i, b in ipairs(bodies) do print(string.format("body %d: %.9f %.9f", i, b.x, b.y)) end
