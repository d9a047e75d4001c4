#!/usr/bin/env python3
"""Writes an x86-64 assembly file whose object has about N relocations.

    gen_synth.py N OUT.s

The object has one .text, one .data and one .data.rel section (so the
section count does not grow with N) and K = N // 4 units; unit j is
    f_j:  movl  d_j(%rip), %eax            R_X86_64_PC32  -> .data
          call  leaf                        R_X86_64_PLT32 -> global in .text
          addl  %eax, %r8d ...
          movq  abs@GOTPCREL(%rip), %rcx    R_X86_64_REX_GOTPCRELX -> libc
          call  *%rcx
    .data.rel: .quad f_j                    R_X86_64_64
so there are 4 relocations per unit, K global function symbols and one
external (libc's abs). `main` calls every f_j through the table and returns
0 when the sum is the expected K*(K-1)/2 + 2*K, 1 otherwise: running it
checks that the link is right. `bench_table` and `bench_sum` are looked up
by the drivers.
"""
import sys


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    k = max(1, n // 4)
    expected = k * (k - 1) // 2 + 2 * k
    parts = []
    w = parts.append
    w("\t.text\n")
    w("\t.globl leaf\n\t.type leaf,@function\nleaf:\n\tmovl $1, %eax\n\tret\n")
    # Each unit: returns d_j + leaf() + abs(-1) = j + 2.
    unit = (
        "\t.globl f_{j}\n\t.type f_{j},@function\nf_{j}:\n"
        "\tpushq %rbx\n"
        "\tmovl d_{j}(%rip), %ebx\n"
        "\tcall leaf\n"
        "\taddl %eax, %ebx\n"
        "\tmovl $-1, %edi\n"
        "\tmovq abs@GOTPCREL(%rip), %rcx\n"
        "\tcall *%rcx\n"
        "\taddl %ebx, %eax\n"
        "\tpopq %rbx\n"
        "\tret\n"
    )
    w("".join(unit.format(j=j) for j in range(k)))
    # main: sum over the table.
    w(
        "\t.globl main\n\t.type main,@function\nmain:\n"
        "\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n"
        "\tleaq bench_table(%rip), %r12\n"
        "\txorl %r13d, %r13d\n"
        "\txorl %r14d, %r14d\n"
        "1:\n"
        "\tcall *(%r12,%r13,8)\n"
        "\tmovslq %eax, %rax\n"
        "\taddq %rax, %r14\n"
        "\tincq %r13\n"
        f"\tcmpq ${k}, %r13\n"
        "\tjb 1b\n"
        "\tmovq %r14, bench_sum(%rip)\n"
        f"\tmovabsq ${expected}, %rax\n"
        "\tcmpq %rax, %r14\n"
        "\tsetne %al\n"
        "\tmovzbl %al, %eax\n"
        "\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n"
        "\tret\n"
    )
    w("\t.data\n\t.p2align 3\n\t.globl bench_sum\nbench_sum:\n\t.quad 0\n")
    w("".join(f"d_{j}:\n\t.long {j}\n" for j in range(k)))
    w("\t.section .data.rel,\"aw\",@progbits\n\t.p2align 3\n\t.globl bench_table\nbench_table:\n")
    w("".join(f"\t.quad f_{j}\n" for j in range(k)))
    w("\t.section .note.GNU-stack,\"\",@progbits\n")
    with open(out, "w") as f:
        f.write("".join(parts))
    print(f"{out}: {k} units, {4 * k + 2} relocations expected, sum {expected}")


if __name__ == "__main__":
    main()
