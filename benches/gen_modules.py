#!/usr/bin/env python3
"""Writes N small C modules, as a JIT that adds one module at a time makes.

    gen_modules.py N DIR

Module i (DIR/m<i>.c) has a read-only table, three functions and a call to
the module before it and to libc:
    long q<i>_a(long x)  labs(x) + table[x & 3]
    long q<i>_b(long x)  2 * q<i>_a(x)
    long q<i>_c(long x)  q<i>_b(x) + q<i-1>_c(x)     (q0_c: q0_b(x))
so q<i>_c(0) = 2 * (i + 1). The last module also defines
`int bench_check(void)`, which returns 0 when q<N-1>_c(0) is right: linking
the N modules one by one and calling it checks the link.
"""
import os
import sys


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for i in range(n):
        prev = f"extern long q{i - 1}_c(long);\n" if i else ""
        rest = f" + q{i - 1}_c(x)" if i else ""
        src = (
            "#include <stdlib.h>\n"
            f"{prev}"
            "static const long table[4] = {1, 2, 3, 4};\n"
            f"long q{i}_a(long x) {{ return labs(x) + table[x & 3]; }}\n"
            f"long q{i}_b(long x) {{ return 2 * q{i}_a(x); }}\n"
            f"long q{i}_c(long x) {{ return q{i}_b(x){rest}; }}\n"
        )
        if i == n - 1:
            src += f"int bench_check(void) {{ return q{i}_c(0) == {2 * n} ? 0 : 1; }}\n"
        path = os.path.join(out, f"m{i}.c")
        # Unchanged files keep their times, so that make-like checks work.
        old = open(path).read() if os.path.exists(path) else None
        if old != src:
            with open(path, "w") as f:
                f.write(src)


if __name__ == "__main__":
    main()
