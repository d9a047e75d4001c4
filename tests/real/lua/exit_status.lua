-- exit_status.lua: output flushed before os.exit, and a non-zero exit status.
io.write("buffered output without newline, then os.exit(3)")
print()
io.write("last line")
os.exit(3)
