# Seed: one of most relocation types rtdyld supports, written out by hand.
        .text
        .globl  asm_entry
        .type   asm_entry, @function
asm_entry:
        call    ext_func@PLT                    # R_X86_64_PLT32
        call    local_func                      # R_X86_64_PC32 (or PLT32)
        movq    ext_data@GOTPCREL(%rip), %rax   # R_X86_64_REX_GOTPCRELX
        movl    ext_data@GOTPCREL(%rip), %eax   # R_X86_64_GOTPCRELX
        leaq    local_data(%rip), %rcx          # R_X86_64_PC32
        movabsq $ext_data, %rdx                 # R_X86_64_64
        movl    $local_data, %edx               # R_X86_64_32
        movq    local_data, %rdx                # R_X86_64_32S
        movabsq $ext_func@GOTOFF, %rsi          # R_X86_64_GOTOFF64
        movabsq $ext_func@PLTOFF, %rsi          # R_X86_64_PLTOFF64
        movabsq $_GLOBAL_OFFSET_TABLE_-., %rdi  # R_X86_64_GOTPC64
        movabsq $ext_data@GOT, %r8              # R_X86_64_GOT64
        movl    $ext_data@SIZE, %r9d            # R_X86_64_SIZE32
        movabsq $local_data@SIZE, %r10          # R_X86_64_SIZE64
        ret
        .size   asm_entry, .-asm_entry

        .type   local_func, @function
local_func:
        ret
        .size   local_func, .-local_func

        .data
        .type   local_data, @object
local_data:
        .quad   asm_entry                       # R_X86_64_64
        .quad   ext_func - .                    # R_X86_64_PC64
        .long   local_func - .                  # R_X86_64_PC32
        .word   local_data                      # R_X86_64_16
        .word   ext_data - .                    # R_X86_64_PC16
        .byte   local_data                      # R_X86_64_8
        .byte   ext_data - .                    # R_X86_64_PC8
        .size   local_data, .-local_data

        .section .rodata
        .quad   ext_data+0x123456789            # wide addend
        .long   _GLOBAL_OFFSET_TABLE_-.         # R_X86_64_GOTPC32
        .comm   common_sym, 64, 32
