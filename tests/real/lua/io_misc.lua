-- io_misc.lua: io library, files, load/string.dump, package.loadlib, arguments.

print("args", select("#", ...), ...)
print("arg table", arg[0]:match("[^/]*$"), arg[1], arg[2], #arg)

io.write("io.write ", 1, " ", 2.5, " ", "three", "\n")
io.stdout:write("stdout:write chained "):write("ok\n")
print(io.type(io.stdout), io.type(42), io.type(io.stdin))

-- write and read a temporary file
local name = os.tmpname()
local fh = assert(io.open(name, "w"))
for i = 1, 5 do fh:write(string.format("line %d %g\n", i, i / 4)) end
fh:write("no newline at end")
fh:close()
print(io.type(fh))
local lines = {}
for l in io.lines(name) do lines[#lines + 1] = l end
print(#lines, lines[1], lines[6])
fh = assert(io.open(name, "r"))
print(fh:read("l"), fh:read("n"), fh:read("n"), fh:read("L"))
print(fh:seek("set", 0), fh:read(4), fh:seek("cur"), fh:seek("end"))
fh:close()
fh = assert(io.open(name, "a+"))
fh:write("\nappended")
fh:seek("set")
local all = fh:read("a")
fh:close()
print(#all, select(2, all:gsub("\n", "")))
print(os.remove(name), io.open(name) == nil, select(2, io.open("/nonexistent/dir/file")) ~= nil)

-- load, string.dump and binary chunks
local chunk = load("local a, b = ... return a * b + 1")
print(chunk(6, 7))
local dumped = string.dump(function(x) return x * 3 + 0.5 end)
local back = load(dumped, "dumped", "b")
print(#dumped > 10, back(14))
print(pcall(load, dumped, "dumped", "t"))
local env = { print = print, tostring = tostring }
local sandboxed = load("y = 5; return tostring(y)", "sandbox", "t", env)
print(sandboxed(), env.y, rawget(_G, "y"))
local pieces = { "return ", "1 ", "+ ", "41" }
local i = 0
print(load(function() i = i + 1; return pieces[i] end)())

-- generated code
local src = {}
for k = 1, 200 do src[#src + 1] = string.format("local v%d = %d", k, k) end
src[#src + 1] = "return v1 + v100 + v200"
print("generated", load(table.concat(src, "\n"))())

-- package library and dlopen
print(type(package.path), type(package.cpath), package.config:sub(1, 1))
print(package.loaded.string == string, require("table") == table)
package.preload.mymod = function(name) return { name = name, answer = 42 } end
local mm = require("mymod")
print(mm.name, mm.answer, require("mymod") == mm)
local f = package.loadlib("libm.so.6", "*")
print("loadlib libm", f)
print(pcall(require, "surely_not_a_module_xyz") == false)

-- os functions that are deterministic
print(os.getenv("RTDYLD_SURELY_UNSET_VARIABLE"), type(os.clock()), type(os.time()))
print(os.date("!%Y-%m-%d %H:%M:%S", 86400 * 365), os.time({ year = 2000, month = 1, day = 1, hour = 12 }) ~= nil)

-- debug library
local info = debug.getinfo(1, "Sl")
print(info.short_src:match("[^/]*$"), info.currentline, info.what)
local function upv() return i end
print(debug.getupvalue(upv, 1))
print(collectgarbage("isrunning"), collectgarbage("step") ~= nil, type(collectgarbage("count")))
collectgarbage("generational")
local junk = {}
for k = 1, 20000 do junk[k % 100 + 1] = { k, tostring(k) } end
collectgarbage("incremental")
print("gc ok", #junk)
io.write("end of io_misc\n")
