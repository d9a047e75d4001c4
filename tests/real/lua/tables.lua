-- tables.lua: table library, sorting, array/hash parts, deterministic PRNG.

local function lcg(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n + 1
  end
end

local rnd = lcg(20240611)
local t = {}
for i = 1, 2000 do t[i] = rnd(100000) end
table.sort(t)
local ok = true
for i = 2, #t do if t[i - 1] > t[i] then ok = false end end
print("sorted 2000", ok, t[1], t[1000], t[2000])

-- sort with comparator (descending), stable-ish by secondary key
local people = {
  { name = "ada", age = 36 }, { name = "bob", age = 25 }, { name = "cy", age = 36 },
  { name = "dee", age = 19 }, { name = "eve", age = 25 }, { name = "fay", age = 41 },
}
table.sort(people, function(a, b)
  if a.age ~= b.age then return a.age > b.age end
  return a.name < b.name
end)
for _, p in ipairs(people) do io.write(p.name, "(", p.age, ") ") end
print()

-- sorting strings
local words = {}
for w in ("pear apple fig banana cherry date elderberry grape kiwi lemon"):gmatch("%a+") do
  words[#words + 1] = w
end
table.sort(words)
print(table.concat(words, ","))
table.sort(words, function(a, b) return #a < #b or (#a == #b and a < b) end)
print(table.concat(words, ","))

-- insert/remove/move/unpack/pack
local a = { 1, 2, 3 }
table.insert(a, 4)
table.insert(a, 1, 0)
print(table.concat(a, " "), #a)
print(table.remove(a), table.remove(a, 1), table.concat(a, " "))
print(table.unpack({ 10, 20, 30 }))
print(table.unpack({ 10, 20, 30 }, 2))
local p = table.pack(1, nil, 3)
print(p.n, p[1], p[2], p[3])
local m = table.move({ 1, 2, 3, 4, 5 }, 2, 4, 1)
print(table.concat(m, " "))
print(table.concat({}, "x"), table.concat({ 1, 2.5, "z" }, "|", 2, 3))

-- hash part with integer/float/string/boolean keys, counted not iterated in hash order
local h = {}
for i = 1, 1000 do h["k" .. i] = i end
h[1.0] = "one"; h[2^53] = "big"; h[true] = "yes"
local cnt, sum = 0, 0
for k, v in pairs(h) do
  cnt = cnt + 1
  if type(v) == "number" then sum = sum + v end
end
print("hash", cnt, sum, h[1], h["k500"], h[true], h[2^53])
for i = 1, 1000, 2 do h["k" .. i] = nil end
cnt = 0
for _ in pairs(h) do cnt = cnt + 1 end
print("after delete", cnt)

-- keys sorted for deterministic output
local inv = { red = 3, green = 1, blue = 2, alpha = 0 }
local keys = {}
for k in pairs(inv) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do io.write(k, "=", inv[k], " ") end
print()

-- nested tables: matrix multiply
local function matmul(x, y)
  local r = {}
  for i = 1, #x do
    r[i] = {}
    for j = 1, #y[1] do
      local s = 0
      for k = 1, #y do s = s + x[i][k] * y[k][j] end
      r[i][j] = s
    end
  end
  return r
end
local A = { { 1, 2, 3 }, { 4, 5, 6 } }
local B = { { 7, 8 }, { 9, 10 }, { 11, 12 } }
local C = matmul(A, B)
for _, row in ipairs(C) do print(table.concat(row, " ")) end

-- length of sequences, ipairs stops at nil
local seq = { 1, 2, 3, nil, 5 }
local c2 = 0
for _ in ipairs(seq) do c2 = c2 + 1 end
print("ipairs", c2)
