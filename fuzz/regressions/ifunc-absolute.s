# An IFUNC symbol that is absolute, with value 0: rtdyld calls address 0 at finalize.
# as ifunc-absolute.s -o ifunc-absolute.o && target/release/rtdyld link ifunc-absolute.o   # SIGSEGV
        .globl  abs_ifunc
        .type   abs_ifunc, @gnu_indirect_function
        .set    abs_ifunc, 0
        .text
        .globl  entry
entry:  ret
