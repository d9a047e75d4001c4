# An IFUNC symbol in .data: rtdyld calls into non-executable data at finalize.
# as ifunc-in-data.s -o ifunc-in-data.o && target/release/rtdyld link ifunc-in-data.o   # SIGSEGV
        .data
        .globl  data_ifunc
        .type   data_ifunc, @gnu_indirect_function
data_ifunc:
        .quad   0
        .text
        .globl  entry
entry:  ret
