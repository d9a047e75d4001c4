//! Host data for `-fno-pic` code.
//!
//! `-fno-pic` (and default `-fPIE`) objects reach the C library's data
//! (`stdout`, `stderr`, `environ`, ...) with 32-bit PC-relative references,
//! which a static linker satisfies with copy relocations: the executable, at
//! a low address, holds the variable and the library uses that copy. This
//! binary is linked without PIE (see build.rs) and refers to those
//! variables in the non-PIC way below, so the dynamic loader makes such
//! copies here, in low memory, and `dlsym` returns them: JIT'd code placed
//! in the low 2 GiB reaches them exactly as a statically linked program does.
//! The same goes for the C++ standard streams, which is why the command
//! links libstdc++. (Read-only host data, such as vtables and typeinfo, the
//! library copies next to each object instead.)

std::arch::global_asm!(
    ".pushsection .text.rtdyld_host_data,\"ax\",@progbits",
    ".globl rtdyld_cli_host_data_anchor",
    ".type rtdyld_cli_host_data_anchor,@function",
    "rtdyld_cli_host_data_anchor:",
    "movq stdin(%rip), %rax",
    "movq stdout(%rip), %rax",
    "movq stderr(%rip), %rax",
    "movq environ(%rip), %rax",
    "movq __environ(%rip), %rax",
    "movq optarg(%rip), %rax",
    "movl optind(%rip), %eax",
    "movl opterr(%rip), %eax",
    "movl optopt(%rip), %eax",
    "movq program_invocation_name(%rip), %rax",
    "movq program_invocation_short_name(%rip), %rax",
    "movl daylight(%rip), %eax",
    "movq timezone(%rip), %rax",
    "movq tzname(%rip), %rax",
    "movl signgam(%rip), %eax",
    "movb __libc_single_threaded(%rip), %al",
    // The C++ standard streams, for -fno-pic C++ (libstdc++ constructs
    // them in place, in these copies).
    "leaq _ZSt4cout(%rip), %rax",
    "leaq _ZSt4cerr(%rip), %rax",
    "leaq _ZSt4clog(%rip), %rax",
    "leaq _ZSt3cin(%rip), %rax",
    "leaq _ZSt5wcout(%rip), %rax",
    "leaq _ZSt5wcerr(%rip), %rax",
    "leaq _ZSt5wclog(%rip), %rax",
    "leaq _ZSt4wcin(%rip), %rax",
    "ret",
    ".size rtdyld_cli_host_data_anchor, .-rtdyld_cli_host_data_anchor",
    ".popsection",
    options(att_syntax)
);

extern "C" {
    fn rtdyld_cli_host_data_anchor();
}

/// Keeps the references above in the link (never called).
pub fn anchor() -> usize {
    rtdyld_cli_host_data_anchor as *const () as usize
}
