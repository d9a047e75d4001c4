//! Every x86-64 relocation type rtdyld supports, checked against the psABI
//! formula; stubs for far calls; overflow as an error; the size of retained
//! relocations; and a matrix of compiled C programs (compilers × optimisation
//! levels × code models) run after linking.
//!
//! Objects are built at test time from the assembly and C text below. Each
//! assembly case is also checked, by reading the object's RELA entries, to
//! really carry the relocation type, symbol and addend it is meant to test.

mod common;

use common::{assemble, compile, compile_c, find_clang, TempDir};
use rtdyld::{ErrorKind, Linker, GOT_SECTION, STUB_SECTION};
use std::collections::BTreeSet;
use std::process::Command;

// ---------------------------------------------------------------------------
// Relocation type numbers (System V x86-64 psABI), written out here rather
// than taken from rtdyld so that the test does not trust the code it tests.
const R_64: u32 = 1;
const R_PC32: u32 = 2;
const R_GOT32: u32 = 3;
const R_PLT32: u32 = 4;
const R_GOTPCREL: u32 = 9;
const R_32: u32 = 10;
const R_32S: u32 = 11;
const R_16: u32 = 12;
const R_PC16: u32 = 13;
const R_8: u32 = 14;
const R_PC8: u32 = 15;
const R_PC64: u32 = 24;
const R_GOTOFF64: u32 = 25;
const R_GOTPC32: u32 = 26;
const R_GOT64: u32 = 27;
const R_GOTPCREL64: u32 = 28;
const R_GOTPC64: u32 = 29;
const R_GOTPLT64: u32 = 30;
const R_PLTOFF64: u32 = 31;
const R_SIZE32: u32 = 32;
const R_SIZE64: u32 = 33;
const R_GOTPCRELX: u32 = 41;
const R_REX_GOTPCRELX: u32 = 42;

const ALL_TYPES: &[u32] = &[
    R_64,
    R_PC32,
    R_PLT32,
    R_32,
    R_32S,
    R_16,
    R_PC16,
    R_8,
    R_PC8,
    R_PC64,
    R_GOTPCREL,
    R_GOTPCRELX,
    R_REX_GOTPCRELX,
    R_GOTPCREL64,
    R_GOT32,
    R_GOT64,
    R_GOTPLT64,
    R_GOTOFF64,
    R_GOTPC32,
    R_GOTPC64,
    R_PLTOFF64,
    R_SIZE32,
    R_SIZE64,
];

fn type_name(t: u32) -> &'static str {
    match t {
        R_64 => "R_X86_64_64",
        R_PC32 => "R_X86_64_PC32",
        R_GOT32 => "R_X86_64_GOT32",
        R_PLT32 => "R_X86_64_PLT32",
        R_GOTPCREL => "R_X86_64_GOTPCREL",
        R_32 => "R_X86_64_32",
        R_32S => "R_X86_64_32S",
        R_16 => "R_X86_64_16",
        R_PC16 => "R_X86_64_PC16",
        R_8 => "R_X86_64_8",
        R_PC8 => "R_X86_64_PC8",
        R_PC64 => "R_X86_64_PC64",
        R_GOTOFF64 => "R_X86_64_GOTOFF64",
        R_GOTPC32 => "R_X86_64_GOTPC32",
        R_GOT64 => "R_X86_64_GOT64",
        R_GOTPCREL64 => "R_X86_64_GOTPCREL64",
        R_GOTPC64 => "R_X86_64_GOTPC64",
        R_GOTPLT64 => "R_X86_64_GOTPLT64",
        R_PLTOFF64 => "R_X86_64_PLTOFF64",
        R_SIZE32 => "R_X86_64_SIZE32",
        R_SIZE64 => "R_X86_64_SIZE64",
        R_GOTPCRELX => "R_X86_64_GOTPCRELX",
        R_REX_GOTPCRELX => "R_X86_64_REX_GOTPCRELX",
        _ => "?",
    }
}

/// Bytes of the field a relocation type patches.
fn width(t: u32) -> usize {
    match t {
        R_64 | R_PC64 | R_GOTOFF64 | R_GOT64 | R_GOTPCREL64 | R_GOTPC64 | R_GOTPLT64 | R_PLTOFF64 | R_SIZE64 => 8,
        R_16 | R_PC16 => 2,
        R_8 | R_PC8 => 1,
        _ => 4,
    }
}

// ---------------------------------------------------------------------------
// A minimal ELF64 reader, to check what the assembler emitted.
mod elf {
    pub fn u16_at(d: &[u8], o: usize) -> u16 {
        u16::from_le_bytes(d[o..o + 2].try_into().unwrap())
    }
    pub fn u32_at(d: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(d[o..o + 4].try_into().unwrap())
    }
    pub fn u64_at(d: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(d[o..o + 8].try_into().unwrap())
    }

    #[derive(Debug, Clone)]
    pub struct Section {
        pub name: String,
        pub sh_type: u32,
        pub offset: u64,
        pub size: u64,
        pub link: u32,
        pub info: u32,
    }

    #[derive(Debug, Clone)]
    pub struct Rela {
        pub section: String,
        pub offset: u64,
        pub r_type: u32,
        pub symbol: String,
        pub addend: i64,
    }

    fn cstr(d: &[u8], o: usize) -> String {
        let end = d[o..].iter().position(|&b| b == 0).map_or(d.len(), |p| o + p);
        String::from_utf8_lossy(&d[o..end]).into_owned()
    }

    pub fn sections(d: &[u8]) -> Vec<Section> {
        let shoff = u64_at(d, 0x28) as usize;
        let shentsize = u16_at(d, 0x3a) as usize;
        let shnum = u16_at(d, 0x3c) as usize;
        let shstrndx = u16_at(d, 0x3e) as usize;
        let raw = |i: usize| {
            let h = shoff + i * shentsize;
            (u32_at(d, h), u32_at(d, h + 4), u64_at(d, h + 24), u64_at(d, h + 32), u32_at(d, h + 40), u32_at(d, h + 44))
        };
        let strtab = raw(shstrndx).2 as usize;
        (0..shnum)
            .map(|i| {
                let (name, sh_type, offset, size, link, info) = raw(i);
                Section { name: cstr(d, strtab + name as usize), sh_type, offset, size, link, info }
            })
            .collect()
    }

    /// (name, section index, value) of every symbol.
    pub fn symbols(d: &[u8]) -> Vec<(String, u16, u64)> {
        let secs = sections(d);
        let Some(symtab) = secs.iter().find(|s| s.sh_type == 2) else { return Vec::new() };
        let strtab = secs[symtab.link as usize].offset as usize;
        (0..symtab.size as usize / 24)
            .map(|i| {
                let e = symtab.offset as usize + i * 24;
                (cstr(d, strtab + u32_at(d, e) as usize), u16_at(d, e + 6), u64_at(d, e + 8))
            })
            .collect()
    }

    pub fn relocations(d: &[u8]) -> Vec<Rela> {
        let secs = sections(d);
        let syms = symbols(d);
        let mut out = Vec::new();
        for s in secs.iter().filter(|s| s.sh_type == 4) {
            for i in 0..s.size as usize / 24 {
                let e = s.offset as usize + i * 24;
                let info = u64_at(d, e + 8);
                let sym = &syms[(info >> 32) as usize];
                let symbol =
                    if sym.0.is_empty() && (sym.1 as usize) < secs.len() { secs[sym.1 as usize].name.clone() } else { sym.0.clone() };
                out.push(Rela {
                    section: secs[s.info as usize].name.clone(),
                    offset: u64_at(d, e),
                    r_type: info as u32,
                    symbol,
                    addend: u64_at(d, e + 16) as i64,
                });
            }
        }
        out
    }

    /// The section name and value of symbol `name`.
    pub fn symbol(d: &[u8], name: &str) -> Option<(String, u64)> {
        let secs = sections(d);
        symbols(d).into_iter().find(|s| s.0 == name).map(|s| (secs[s.1 as usize].name.clone(), s.2))
    }
}

/// Asserts that `obj` has a relocation of type `r_type` against `symbol`
/// with `addend` at `section`+`offset`.
fn expect_rela(obj: &[u8], section: &str, offset: u64, r_type: u32, symbol: &str, addend: i64) -> Result<(), String> {
    let all = elf::relocations(obj);
    match all.iter().find(|r| r.section == section && r.offset == offset) {
        Some(r) if r.r_type == r_type && r.symbol == symbol && r.addend == addend => Ok(()),
        Some(r) => Err(format!(
            "the assembler emitted {} (type {}) against `{}`{:+} at {section}+{offset:#x}, expected {} against `{symbol}`{addend:+}",
            type_name(r.r_type),
            r.r_type,
            r.symbol,
            r.addend,
            type_name(r_type)
        )),
        None => Err(format!("no relocation at {section}+{offset:#x}; the object has {all:?}")),
    }
}

// ---------------------------------------------------------------------------
// Things in the host that the resolver hands out.

static EXT_DATA: [u64; 4] = [0xdead_beef, 2, 3, 4];

extern "C" fn ext_fn(x: i32) -> i32 {
    x * 10 + 7
}

fn ext_fn_addr() -> u64 {
    ext_fn as extern "C" fn(i32) -> i32 as usize as u64
}

const EXT_SMALL: u64 = 0x1234;
const EXT_TINY: u64 = 0x42;

fn ext_value(name: &str) -> Option<u64> {
    match name {
        "ext_data" => Some(EXT_DATA.as_ptr() as u64),
        "ext_fn" => Some(ext_fn_addr()),
        "ext_small" => Some(EXT_SMALL),
        "ext_tiny" => Some(EXT_TINY),
        _ => None,
    }
}

fn test_resolver() -> Option<rtdyld::Resolver> {
    Some(Box::new(ext_value))
}

// ---------------------------------------------------------------------------
// Reading and calling linked memory.

/// Reads `n` (<= 8) little-endian bytes at `p`.
fn read_le(p: *const u8, n: usize) -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: every caller points into a section that rtdyld loaded and that
    // is still mapped readable (the linker is alive), with `n` bytes left.
    unsafe { std::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), n) };
    u64::from_le_bytes(b)
}

fn sign_extend(v: u64, bytes: usize) -> u64 {
    let shift = 64 - 8 * bytes as u32;
    (((v << shift) as i64) >> shift) as u64
}

/// Calls the JIT'd `int f(int)` at `addr`.
fn call_i32(addr: u64, arg: i32) -> i32 {
    // SAFETY: `addr` is a function of that signature that rtdyld linked and
    // finalized (read+execute), and the linker outlives the call.
    let f: extern "C" fn(i32) -> i32 = unsafe { std::mem::transmute(addr as usize) };
    f(arg)
}

/// Calls the JIT'd `int f(void)` at `addr`.
fn call_void_i32(addr: u64) -> i32 {
    // SAFETY: as in `call_i32`.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(addr as usize) };
    f()
}

/// The section of object `obj` named `name`: (id, target, local, size).
fn find_section(linker: &Linker, obj: u32, name: &str) -> Option<(u32, u64, *mut u8, u64)> {
    linker.object_sections(obj).unwrap().iter().find_map(|&id| {
        let s = linker.section(id).unwrap();
        (s.name.to_bytes() == name.as_bytes()).then_some((id, s.target, s.local, s.size))
    })
}

/// The local address of target address `addr` if it lies in section `sec`.
fn local_of(sec: Option<(u32, u64, *mut u8, u64)>, addr: u64, len: u64) -> Option<*const u8> {
    let (_, target, local, size) = sec?;
    (addr >= target && addr.checked_add(len)? <= target + size).then(|| local.wrapping_add((addr - target) as usize) as *const u8)
}

/// Whether `addr` is `s` itself or a stub of object `obj` that jumps to `s`.
fn reaches(linker: &Linker, obj: u32, addr: u64, s: u64) -> Result<(), String> {
    if addr == s {
        return Ok(());
    }
    let stubs = find_section(linker, obj, STUB_SECTION);
    let Some(code) = local_of(stubs, addr, 6) else {
        return Err(format!("branch goes to {addr:#x}, which is neither the symbol ({s:#x}) nor in the stub section {stubs:?}"));
    };
    let insn = read_le(code, 2);
    if insn != 0x25ff {
        return Err(format!("the stub at {addr:#x} does not start with `jmp *disp32(%rip)` (ff 25) but {insn:#06x}"));
    }
    let disp = sign_extend(read_le(code.wrapping_add(2), 4), 4);
    let pointer = addr.wrapping_add(6).wrapping_add(disp);
    let Some(p) = local_of(stubs, pointer, 8) else {
        return Err(format!("the stub at {addr:#x} reads its target from {pointer:#x}, outside the stub section"));
    };
    match read_le(p, 8) {
        t if t == s => Ok(()),
        t => Err(format!("the stub at {addr:#x} jumps to {t:#x}, not to the symbol at {s:#x}")),
    }
}

/// Whether `slot` is a GOT slot of object `obj` holding `s`.
fn got_slot_holds(linker: &Linker, obj: u32, slot: u64, s: u64) -> Result<(), String> {
    let got = find_section(linker, obj, GOT_SECTION);
    let Some(p) = local_of(got, slot, 8) else {
        return Err(format!("GOT slot address {slot:#x} is not inside the GOT {got:?}"));
    };
    if got.map(|g| (slot - g.1) % 8) != Some(0) {
        return Err(format!("GOT slot address {slot:#x} is not 8-byte aligned within the GOT"));
    }
    match read_le(p, 8) {
        v if v == s => Ok(()),
        v => Err(format!("GOT slot at {slot:#x} holds {v:#x}, expected the symbol's address {s:#x}")),
    }
}

// ---------------------------------------------------------------------------
// The per-type cases.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    SameSection,
    OtherSection,
    OtherObject,
    External,
    /// `_GLOBAL_OFFSET_TABLE_` itself (GOTPC forms).
    Got,
}

const ALL4: &[Target] = &[Target::SameSection, Target::OtherSection, Target::OtherObject, Target::External];

/// Which symbols a case refers to, by target.
#[derive(Debug, Clone, Copy)]
enum Syms {
    Data,
    Func,
    /// Addresses that fit in 32 bits when the object is in low memory.
    Small32,
    /// Values that fit in 16 bits: absolute symbols and resolver constants.
    Abs16,
    Abs8,
}

fn symbol_for(syms: Syms, t: Target) -> &'static str {
    use Syms::*;
    use Target::*;
    match (syms, t) {
        (_, Got) => "_GLOBAL_OFFSET_TABLE_",
        (Data | Small32, SameSection) => "same_data",
        (Data | Small32, OtherSection) => "other_sec",
        (Data | Small32, OtherObject) => "other_obj",
        (Data, External) => "ext_data",
        (Small32, External) => "ext_small",
        (Func, SameSection) => "same_text",
        (Func, OtherSection) => "other_text",
        (Func, OtherObject) => "other_obj_fn",
        (Func, External) => "ext_fn",
        (Abs16, OtherObject) => "abs_small",
        (Abs16, External) => "ext_small",
        (Abs8, OtherObject) => "abs_tiny",
        (Abs8, External) => "ext_tiny",
        (Abs16 | Abs8, _) => unreachable!("no small symbol in the same object"),
    }
}

/// `st_size` of each symbol, as the assembly below declares it.
fn symbol_size(name: &str) -> u64 {
    match name {
        "same_data" => 16,
        "other_sec" => 24,
        "other_obj" => 40,
        "same_text" | "other_text" | "other_obj_fn" => 1,
        // Externals have no size rtdyld could know: it uses 0.
        _ => 0,
    }
}

/// How the relocated field is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The psABI formula gives an exact value that must fit the field.
    Exact,
    /// The field locates a GOT slot that must hold S.
    GotSlot,
    /// The field locates S or a stub jumping to S.
    Branch,
}

fn default_check(t: u32) -> Check {
    match t {
        R_GOTPCREL | R_GOTPCRELX | R_REX_GOTPCRELX | R_GOTPCREL64 | R_GOT32 | R_GOT64 | R_GOTPLT64 => Check::GotSlot,
        R_PLT32 | R_PLTOFF64 => Check::Branch,
        _ => Check::Exact,
    }
}

#[derive(Debug, Clone, Copy)]
struct Case {
    what: &'static str,
    r_type: u32,
    section: &'static str,
    /// The site, with `{S}` for the symbol. The field is at `site + field`.
    asm: &'static str,
    /// Replaces `asm` for symbols in the same section, where the assembler
    /// would resolve the natural form itself.
    asm_same: Option<&'static str>,
    field: u64,
    addend: i64,
    syms: Syms,
    targets: &'static [Target],
    flags: &'static [&'static str],
    check: Option<Check>,
}

const fn case(
    what: &'static str,
    r_type: u32,
    section: &'static str,
    asm: &'static str,
    field: u64,
    addend: i64,
    syms: Syms,
    targets: &'static [Target],
) -> Case {
    Case { what, r_type, section, asm, asm_same: None, field, addend, syms, targets, flags: &[], check: None }
}

const RELAX_NO: &[&str] = &["-Wa,-mrelax-relocations=no"];
const RELAX_YES: &[&str] = &["-Wa,-mrelax-relocations=yes"];

fn cases() -> Vec<Case> {
    use Syms::*;
    use Target::*;
    vec![
        case("data .quad", R_64, ".data", "\t.quad {S}+24", 0, 24, Data, ALL4),
        // An addend that does not fit 32 bits (kept in rtdyld's side table).
        case("data .quad, 64-bit addend", R_64, ".data", "\t.quad {S}+0x123456789", 0, 0x1_2345_6789, Data, ALL4),
        case("movabsq $sym", R_64, ".text", "\tmovabsq ${S}-8, %rax", 2, -8, Func, ALL4),
        Case {
            asm_same: Some("\t.reloc ., R_X86_64_PC32, {S}+8\n\t.long 0"),
            ..case("data .long sym-.", R_PC32, ".data", "\t.long {S}+8-.", 0, 8, Data, ALL4)
        },
        case("leaq sym(%rip)", R_PC32, ".text", "\tleaq {S}+12(%rip), %rax", 3, 8, Data, ALL4),
        Case {
            check: Some(Check::Branch),
            ..case("call rel32 via PC32", R_PC32, ".text", "\t.byte 0xe8\n\t.reloc ., R_X86_64_PC32, {S}-4\n\t.long 0", 1, -4, Func, ALL4)
        },
        case("call sym@PLT", R_PLT32, ".text", "\tcall {S}@PLT", 1, -4, Func, ALL4),
        case("jmp sym@PLT", R_PLT32, ".text", "\tjmp {S}@PLT", 1, -4, Func, ALL4),
        case("data .long", R_32, ".data", "\t.long {S}+4", 0, 4, Small32, ALL4),
        case("movl $sym", R_32, ".text", "\tmovl ${S}+4, %eax", 1, 4, Small32, ALL4),
        case("movq $sym", R_32S, ".text", "\tmovq ${S}+8, %rax", 3, 8, Small32, ALL4),
        case("data .word", R_16, ".data", "\t.word {S}+2", 0, 2, Abs16, &[OtherObject, External]),
        Case {
            asm_same: Some("\t.reloc ., R_X86_64_PC16, {S}+2\n\t.word 0"),
            ..case("data .word sym-.", R_PC16, ".data", "\t.word {S}+2-.", 0, 2, Data, &[SameSection, OtherSection])
        },
        case("data .byte", R_8, ".data", "\t.byte {S}+1", 0, 1, Abs8, &[OtherObject, External]),
        case("data .reloc PC8", R_PC8, ".data", "\t.reloc ., R_X86_64_PC8, {S}+1\n\t.byte 0", 0, 1, Data, &[SameSection]),
        Case {
            asm_same: Some("\t.reloc ., R_X86_64_PC64, {S}-5\n\t.quad 0"),
            ..case("data .quad sym-.", R_PC64, ".data", "\t.quad {S}-5-.", 0, -5, Data, ALL4)
        },
        Case {
            asm_same: Some("\t.reloc ., R_X86_64_PC64, {S}-0x223456789\n\t.quad 0"),
            ..case("data .quad sym-., 64-bit addend", R_PC64, ".data", "\t.quad {S}-0x223456789-.", 0, -0x2_2345_6789, Data, ALL4)
        },
        Case {
            flags: RELAX_NO,
            ..case("movq sym@GOTPCREL(%rip) (no relax)", R_GOTPCREL, ".text", "\tmovq {S}@GOTPCREL(%rip), %rax", 3, -4, Data, ALL4)
        },
        case("data .long sym@GOTPCREL", R_GOTPCREL, ".data", "\t.long {S}@GOTPCREL+8", 0, 8, Data, ALL4),
        Case {
            flags: RELAX_YES,
            ..case("call *sym@GOTPCREL(%rip)", R_GOTPCRELX, ".text", "\tcall *{S}@GOTPCREL(%rip)", 2, -4, Func, ALL4)
        },
        Case {
            flags: RELAX_YES,
            ..case("movq sym@GOTPCREL(%rip)", R_REX_GOTPCRELX, ".text", "\tmovq {S}@GOTPCREL(%rip), %rax", 3, -4, Data, ALL4)
        },
        case("data .quad sym@GOTPCREL", R_GOTPCREL64, ".data", "\t.quad {S}@GOTPCREL+8", 0, 8, Data, ALL4),
        case("data .long sym@GOT", R_GOT32, ".data", "\t.long {S}@GOT+4", 0, 4, Data, ALL4),
        case("movabsq $sym@GOT", R_GOT64, ".text", "\tmovabsq ${S}@GOT, %rax", 2, 0, Data, ALL4),
        case("movabsq $sym@GOTPLT", R_GOTPLT64, ".text", "\tmovabsq ${S}@GOTPLT, %rax", 2, 0, Func, ALL4),
        case("data .quad sym@GOTOFF", R_GOTOFF64, ".data", "\t.quad {S}@GOTOFF+16", 0, 16, Data, ALL4),
        case("movabsq $sym@GOTOFF", R_GOTOFF64, ".text", "\tmovabsq ${S}@GOTOFF, %rax", 2, 0, Data, ALL4),
        case("leaq _GLOBAL_OFFSET_TABLE_(%rip)", R_GOTPC32, ".text", "\tleaq _GLOBAL_OFFSET_TABLE_(%rip), %rbx", 3, -4, Data, &[Got]),
        case("data .long _GLOBAL_OFFSET_TABLE_-.", R_GOTPC32, ".data", "\t.long _GLOBAL_OFFSET_TABLE_-.", 0, 0, Data, &[Got]),
        case(
            "large-model GOT pointer",
            R_GOTPC64,
            ".text",
            "1:\tleaq 1b(%rip), %rbx\n\tmovabsq $_GLOBAL_OFFSET_TABLE_-1b, %r11",
            9,
            9,
            Data,
            &[Got],
        ),
        case("data .quad _GLOBAL_OFFSET_TABLE_-.", R_GOTPC64, ".data", "\t.quad _GLOBAL_OFFSET_TABLE_-.", 0, 0, Data, &[Got]),
        case("movabsq $sym@PLTOFF", R_PLTOFF64, ".text", "\tmovabsq ${S}@PLTOFF, %rax", 2, 0, Func, ALL4),
        case("data .long sym@SIZE", R_SIZE32, ".data", "\t.long {S}@SIZE+3", 0, 3, Data, ALL4),
        case("data .quad sym@SIZE", R_SIZE64, ".data", "\t.quad {S}@SIZE-1", 0, -1, Data, ALL4),
    ]
}

/// Object A: the symbols of the same object, then the site.
const PREAMBLE_A: &str = r#"
	.data
	.quad 0x5555
	.globl same_data
	.type same_data, @object
	.size same_data, 16
same_data:
	.quad 0x1111, 0x2222
	.section .rodata
	.quad 0
	.globl other_sec
	.type other_sec, @object
	.size other_sec, 24
other_sec:
	.quad 7, 8, 9
	.section .text.other, "ax", @progbits
	.globl other_text
	.type other_text, @function
other_text:
	ret
	.size other_text, 1
	.text
	nop
	.globl same_text
	.type same_text, @function
same_text:
	ret
	.size same_text, 1
"#;

/// Object B: the other object's symbols. `low` adds a 32-bit absolute
/// reference so that B, too, asks for low memory.
fn object_b_source(low: bool) -> String {
    let mut s = String::from(
        r#"
	.data
	.quad 0
	.globl other_obj
	.type other_obj, @object
	.size other_obj, 40
other_obj:
	.quad 1, 2, 3, 4, 5
	.text
	.globl other_obj_fn
	.type other_obj_fn, @function
other_obj_fn:
	ret
	.size other_obj_fn, 1
	.globl abs_small
	.set abs_small, 0x1234
	.globl abs_tiny
	.set abs_tiny, 0x42
"#,
    );
    if low {
        s.push_str("\t.data\n\t.long other_obj\n");
    }
    s
}

fn object_a_source(c: &Case, t: Target, sym: &str) -> String {
    let site = match (t, c.asm_same) {
        (Target::SameSection, Some(a)) => a,
        _ => c.asm,
    };
    format!("{PREAMBLE_A}\n\t{}\n\t.globl site\nsite:\n{}\n\t.byte 0, 0, 0, 0\n", c.section, site.replace("{S}", sym))
}

struct Linked {
    linker: Linker,
    a: u32,
    b: Option<u32>,
}

/// Checks the relocated field of `site` in `l` against the psABI formula.
fn verify(l: &Linked, c: &Case, sym: &str) -> Result<(), String> {
    let linker = &l.linker;
    let n = width(c.r_type);
    let p = linker.lookup("site").map_err(|e| e.to_string())? + c.field;
    let local = linker.lookup_local("site").map_err(|e| e.to_string())?.wrapping_add(c.field as usize);
    let raw = read_le(local, n);
    let sext = sign_extend(raw, n);
    let s = match sym {
        "_GLOBAL_OFFSET_TABLE_" => 0,
        _ => match ext_value(sym) {
            Some(v) => v,
            None => linker.lookup(sym).map_err(|e| e.to_string())?,
        },
    };
    let a = c.addend as u64;
    let z = symbol_size(sym);
    let got = find_section(linker, l.a, GOT_SECTION).map(|g| g.1);
    let need_got = || got.ok_or_else(|| "the object has no __rtdyld_got section".to_string());
    let check = c.check.unwrap_or(default_check(c.r_type));
    let ctx = format!("P={p:#x} S={s:#x} A={} field={raw:#x}", c.addend);
    match check {
        Check::Exact => {
            let (value, signed) = match c.r_type {
                R_64 => (s.wrapping_add(a), true),
                R_32 => (s.wrapping_add(a), false),
                R_32S => (s.wrapping_add(a), true),
                R_16 | R_8 => (s.wrapping_add(a), false),
                R_PC32 | R_PC16 | R_PC8 | R_PC64 => (s.wrapping_add(a).wrapping_sub(p), true),
                R_GOTOFF64 => (s.wrapping_add(a).wrapping_sub(need_got()?), true),
                R_GOTPC32 | R_GOTPC64 => (need_got()?.wrapping_add(a).wrapping_sub(p), true),
                R_SIZE32 => (z.wrapping_add(a), false),
                R_SIZE64 => (z.wrapping_add(a), true),
                t => return Err(format!("no exact formula for type {t}")),
            };
            let got_value = if signed { sext } else { raw };
            if got_value != value && !(n == 8 && raw == value) {
                return Err(format!("field is {raw:#x}, the psABI value is {value:#x} ({ctx}, GOT={got:x?})"));
            }
            Ok(())
        }
        Check::GotSlot => {
            let slot = match c.r_type {
                R_GOTPCREL | R_GOTPCRELX | R_REX_GOTPCRELX => p.wrapping_add(sext).wrapping_sub(a),
                R_GOTPCREL64 => p.wrapping_add(raw).wrapping_sub(a),
                R_GOT32 => need_got()?.wrapping_add(sext).wrapping_sub(a),
                R_GOT64 | R_GOTPLT64 => need_got()?.wrapping_add(raw).wrapping_sub(a),
                t => return Err(format!("no GOT formula for type {t}")),
            };
            got_slot_holds(linker, l.a, slot, s).map_err(|e| format!("{e} ({ctx})"))
        }
        Check::Branch => {
            let dest = match c.r_type {
                R_PLT32 | R_PC32 => p.wrapping_add(sext).wrapping_sub(a),
                R_PLTOFF64 => need_got()?.wrapping_add(raw).wrapping_sub(a),
                t => return Err(format!("no branch formula for type {t}")),
            };
            reaches(linker, l.a, dest, s).map_err(|e| format!("{e} ({ctx})"))
        }
    }
}

/// Moves every section of `obj` by `delta` (target addresses only).
fn shift_object(linker: &mut Linker, obj: u32, delta: i64) {
    let ids = linker.object_sections(obj).unwrap().to_vec();
    for id in ids {
        let t = linker.section(id).unwrap().target;
        // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
        unsafe { linker.map_section(id, t.wrapping_add(delta as u64)) }.unwrap();
    }
}

fn run_case(c: &Case, t: Target, b_objects: &[Vec<u8>; 2]) -> Result<(), String> {
    let sym = symbol_for(c.syms, t);
    let src = object_a_source(c, t, sym);
    let obj = common::try_compile("gcc", "assembler", &src, c.flags)?;
    let (site_section, site_offset) = elf::symbol(&obj, "site").ok_or("no `site` symbol")?;
    expect_rela(&obj, &site_section, site_offset + c.field, c.r_type, sym, c.addend)?;

    let mut linker = Linker::new();
    linker.set_resolver(test_resolver());
    let a = linker.load_object(&obj, "a.o").map_err(|e| format!("load a.o: {e}"))?;
    let b = if t == Target::OtherObject {
        let low = matches!(c.r_type, R_32 | R_32S);
        Some(linker.load_object(&b_objects[low as usize], "b.o").map_err(|e| format!("load b.o: {e}"))?)
    } else {
        None
    };
    linker.finalize().map_err(|e| format!("finalize: {e}"))?;
    let mut l = Linked { linker, a, b };
    verify(&l, c, sym).map_err(|e| format!("after the first finalize: {e}"))?;

    // Move the objects (targets only) and relink: every value must follow.
    shift_object(&mut l.linker, l.a, -0x20_0000);
    if let Some(b) = l.b {
        shift_object(&mut l.linker, b, -0x30_0000);
    }
    l.linker.finalize().map_err(|e| format!("finalize after remapping: {e}"))?;
    verify(&l, c, sym).map_err(|e| format!("after remapping and a second finalize: {e}"))?;

    // Move only the GOT and the stubs that rtdyld made: GOT-relative and
    // branch values must follow them, and nothing else may change.
    for name in [GOT_SECTION, STUB_SECTION] {
        if let Some((id, target, _, _)) = find_section(&l.linker, l.a, name) {
            // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
            unsafe { l.linker.map_section(id, target + 0x100_0000) }.unwrap();
        }
    }
    l.linker.finalize().map_err(|e| format!("finalize after moving the GOT and stubs: {e}"))?;
    verify(&l, c, sym).map_err(|e| format!("after moving the GOT and stubs: {e}"))
}

fn b_objects() -> [Vec<u8>; 2] {
    [assemble(&object_b_source(false), &[]), assemble(&object_b_source(true), &[])]
}

#[test]
fn every_relocation_type_matches_the_psabi_formula() {
    let b = b_objects();
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    let mut runs = 0;
    for c in cases() {
        for &t in c.targets {
            runs += 1;
            match run_case(&c, t, &b) {
                Ok(()) => {
                    covered.insert(c.r_type);
                }
                Err(e) => failures.push(format!("{} ({}) to {t:?} `{}`: {e}", type_name(c.r_type), c.what, symbol_for(c.syms, t))),
            }
        }
    }
    println!("{runs} relocation sites checked, {} failed", failures.len());
    assert!(failures.is_empty(), "{} of {runs} relocation checks failed:\n{}", failures.len(), failures.join("\n"));
    let missing: Vec<_> = ALL_TYPES.iter().filter(|t| !covered.contains(t)).map(|&t| type_name(t)).collect();
    assert!(missing.is_empty(), "types never checked: {missing:?}");
}

/// Fields too small for the value must fail to link, never be truncated.
#[test]
fn small_fields_overflow_instead_of_truncating() {
    let overflowing: &[(u32, &str, &str, u64)] = &[
        (R_16, "\t.word {S}+2", "same_data", 0),
        (R_8, "\t.byte {S}", "other_sec", 0),
        (R_PC8, "\t.byte {S}-.", "other_sec", 0),
        (R_PC16, "\t.word {S}-.", "ext_data", 0),
        (R_32S, "\tmovq ${S}, %rax", "ext_data", 3),
        (R_32, "\t.long {S}", "ext_data", 0),
    ];
    let mut failures = Vec::new();
    for &(r_type, asm, sym, field) in overflowing {
        let section = if asm.contains("movq") { ".text" } else { ".data" };
        let src = format!("{PREAMBLE_A}\n\t{section}\n\t.globl site\nsite:\n{}\n\t.byte 0, 0, 0, 0\n", asm.replace("{S}", sym));
        let obj = assemble(&src, &[]);
        let (sec, off) = elf::symbol(&obj, "site").unwrap();
        if let Err(e) = expect_rela(
            &obj,
            &sec,
            off + field,
            r_type,
            sym,
            elf::relocations(&obj).iter().find(|r| r.offset == off + field && r.section == sec).map_or(0, |r| r.addend),
        ) {
            failures.push(e);
            continue;
        }
        let mut linker = Linker::new();
        linker.set_resolver(test_resolver());
        linker.load_object(&obj, "small.o").unwrap();
        match linker.finalize() {
            Ok(()) => failures.push(format!(
                "{} to `{sym}`: linked, field is now {:#x}",
                type_name(r_type),
                read_le(linker.lookup_local("site").unwrap().wrapping_add(field as usize), width(r_type))
            )),
            Err(e) => {
                let m = e.message();
                if e.kind() != ErrorKind::RelocationOverflow || !m.contains(type_name(r_type)) || !m.contains(sym) || !m.contains("small.o")
                {
                    failures.push(format!("{} to `{sym}`: wrong error {:?}: {m}", type_name(r_type), e.kind()));
                }
                let now = read_le(linker.lookup_local("site").unwrap().wrapping_add(field as usize), width(r_type));
                if now != 0 {
                    failures.push(format!("{} to `{sym}`: failed but wrote {now:#x} into the field", type_name(r_type)));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// A memory manager that puts code, read-only data and read-write data in
// three areas `spread` bytes apart, far from everything else.

mod far {
    use rtdyld::{AllocationRequest, MemoryManager, SectionKind};
    use std::ffi::c_void;
    use std::sync::atomic::{AtomicU64, Ordering};

    extern "C" {
        fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, offset: i64) -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> i32;
        fn mprotect(addr: *mut c_void, len: usize, prot: i32) -> i32;
    }
    const PROT_READ: i32 = 1;
    const PROT_WRITE: i32 = 2;
    const PROT_EXEC: i32 = 4;
    const MAP_PRIVATE: i32 = 0x02;
    const MAP_ANONYMOUS: i32 = 0x20;
    const MAP_FIXED_NOREPLACE: i32 = 0x10_0000;
    const MAP_FAILED: *mut c_void = !0usize as *mut c_void;
    const PAGE: usize = 4096;
    const STEP: u64 = 64 << 20;

    /// Each manager takes 64 GiB of address space from 32 TiB up.
    static NEXT_BASE: AtomicU64 = AtomicU64::new(0x2000_0000_0000);

    pub struct FarMm {
        next: [u64; 3],
        maps: Vec<(*mut u8, usize, usize)>,
    }

    fn class(kind: SectionKind) -> usize {
        match kind {
            SectionKind::Code => 0,
            SectionKind::ReadOnlyData => 1,
            _ => 2,
        }
    }

    impl FarMm {
        /// `spread` must be at most 16 GiB.
        pub fn new(spread: u64) -> FarMm {
            assert!(spread <= 16 << 30);
            let base = NEXT_BASE.fetch_add(64 << 30, Ordering::SeqCst);
            let bases = [base, base + spread, base + 2 * spread];
            FarMm { next: bases, maps: Vec::new() }
        }

        fn protect(&self, base: *mut u8, len: usize, prot: i32) -> Result<(), String> {
            // SAFETY: (base, len) is a mapping this manager made.
            if unsafe { mprotect(base as *mut c_void, len, prot) } != 0 {
                return Err(format!("mprotect({base:p}, {len}) failed: {}", std::io::Error::last_os_error()));
            }
            Ok(())
        }
    }

    // SAFETY: the manager owns its mappings; the pointers are their addresses.
    unsafe impl Send for FarMm {}

    // SAFETY: each allocation is a fresh private read+write mapping of its
    // own, kept until the manager is dropped.
    unsafe impl MemoryManager for FarMm {
        fn allocate(&mut self, req: &AllocationRequest<'_>) -> Result<*mut u8, String> {
            let c = class(req.kind);
            let align = req.align.max(1);
            let extra = if align > PAGE { align } else { 0 };
            let len = (req.size.max(1) + extra).div_ceil(PAGE) * PAGE;
            for _ in 0..16 {
                let hint = self.next[c];
                // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing
                // mapping; a kernel that ignores it may place it elsewhere,
                // which is checked.
                let p = unsafe {
                    mmap(hint as *mut c_void, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
                };
                if p == MAP_FAILED {
                    self.next[c] += STEP;
                    continue;
                }
                if p as u64 != hint {
                    // SAFETY: unmapping what was just mapped.
                    unsafe { munmap(p, len) };
                    self.next[c] += STEP;
                    continue;
                }
                self.next[c] = hint + len as u64;
                self.maps.push((p as *mut u8, len, c));
                let addr = (p as usize).div_ceil(align) * align;
                return Ok(addr as *mut u8);
            }
            Err(format!("no room near {:#x} for {len} bytes", self.next[c]))
        }

        fn make_writable(&mut self, local: *mut u8, _size: usize, _section_id: u32) -> Result<(), String> {
            let a = local as usize;
            let &(base, len, _) =
                self.maps.iter().find(|m| a >= m.0 as usize && a < m.0 as usize + m.1).ok_or_else(|| format!("{local:p} is not ours"))?;
            self.protect(base, len, PROT_READ | PROT_WRITE)
        }

        fn finalize(&mut self) -> Result<(), String> {
            for &(base, len, c) in &self.maps {
                let prot = match c {
                    0 => PROT_READ | PROT_EXEC,
                    1 => PROT_READ,
                    _ => PROT_READ | PROT_WRITE,
                };
                self.protect(base, len, prot)?;
            }
            Ok(())
        }
    }

    impl Drop for FarMm {
        fn drop(&mut self) {
            for &(base, len, _) in &self.maps {
                // SAFETY: the linker that used this memory is gone.
                unsafe { munmap(base as *mut c_void, len) };
            }
        }
    }
}

use far::FarMm;

const PC32_FAR_SRC: &str = r#"
	.text
	.globl far_code
	.type far_code, @function
far_code:
	nop
	leaq far_data(%rip), %rax
	ret
	.data
	.globl far_data
far_data:
	.quad 42
"#;

const R32_FAR_SRC: &str = r#"
	.text
	.globl far_code32
	.type far_code32, @function
far_code32:
	nop
	movl $far_data32, %eax
	ret
	.data
	.globl far_data32
far_data32:
	.quad 42
"#;

fn assert_overflow_message(e: &rtdyld::Error, parts: &[&str]) {
    assert_eq!(e.kind(), ErrorKind::RelocationOverflow, "{}", e.message());
    for p in parts {
        assert!(e.message().contains(p), "overflow message lacks {p:?}: {}", e.message());
    }
}

/// Without .eh_frame, which refers to code with PC32 from read-only data:
/// the far memory manager puts those 8 GiB apart.
const NO_EH: &[&str] = &["-O2", "-fPIC", "-fno-asynchronous-unwind-tables"];

#[test]
fn an_overflowing_got_reference_names_its_slot() {
    // What a GOTPCREL field reaches is the GOT slot, not the symbol.
    let obj = assemble(
        ".data\n.globl gv\ngv: .quad 7\n.text\n.globl get\nget:\n\tmovq gv@GOTPCREL(%rip), %rax\n\tmovq (%rax), %rax\n\tret\n\
         .section .note.GNU-stack,\"\",@progbits\n",
        &[],
    );
    let mut linker = Linker::new();
    linker.set_register_eh_frames(false);
    let id = linker.load_object(&obj, "got_far.o").unwrap();
    let (got, target, _, _) = find_section(&linker, id, "__rtdyld_got").unwrap();
    let far = target + (8 << 30);
    // SAFETY: nothing is registered, resolved or run at the far target:
    // the finalize fails (the overflow), and nothing runs.
    unsafe { linker.map_section(got, far) }.unwrap();
    let e = linker.finalize().unwrap_err();
    assert_overflow_message(&e, &["got_far.o", ".text", "R_X86_64_REX_GOTPCRELX", "gv", &format!("its GOT slot {far:#x}")]);
}

#[test]
fn far_data_overflows_and_the_linker_recovers() {
    let mut linker = Linker::with_memory_manager(Box::new(FarMm::new(8 << 30)));

    // PC32 from code to data 8 GiB away.
    let obj = assemble(PC32_FAR_SRC, &[]);
    expect_rela(&obj, ".text", 4, R_PC32, "far_data", -4).unwrap();
    let id = linker.load_object(&obj, "far_pc32.o").unwrap();
    let code = linker.lookup("far_code").unwrap();
    let data = linker.lookup("far_data").unwrap();
    assert!(data.abs_diff(code) > 4 << 30, "code {code:#x} and data {data:#x} are not 4 GiB apart");
    let e = linker.finalize().unwrap_err();
    assert_overflow_message(&e, &["far_pc32.o", ".text", "0x4", "R_X86_64_PC32", "far_data", "addend -0x4"]);
    let field = linker.lookup_local("far_code").unwrap().wrapping_add(4);
    assert_eq!(read_le(field, 4), 0, "an overflowing field was written");
    // The error is stable: finalizing again fails the same way.
    assert_eq!(linker.finalize().unwrap_err().message(), e.message());

    // Recover: there is no unload, so move the data's target address within
    // reach; then a good object links and runs in the same linker.
    let (data_id, _, _, _) = find_section(&linker, id, ".data").unwrap();
    let new_data = code + 0x10_0000;
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { linker.map_section(data_id, new_data) }.unwrap();
    let good = compile_c("int good_one(int x) { return x * 2 + 1; }", NO_EH);
    linker.load_object(&good, "good1.o").unwrap();
    linker.finalize().unwrap();
    assert_eq!(call_i32(linker.lookup("good_one").unwrap(), 20), 41);
    assert_eq!(sign_extend(read_le(field, 4), 4), new_data.wrapping_sub(4).wrapping_sub(code + 4), "PC32 after remap");

    // R_32 to data above 4 GiB.
    let obj = assemble(R32_FAR_SRC, &[]);
    expect_rela(&obj, ".text", 2, R_32, "far_data32", 0).unwrap();
    let id = linker.load_object(&obj, "far_r32.o").unwrap();
    assert!(linker.lookup("far_data32").unwrap() > u64::from(u32::MAX));
    let e = linker.finalize().unwrap_err();
    assert_overflow_message(&e, &["far_r32.o", ".text", "0x2", "R_X86_64_32", "far_data32"]);
    let field = linker.lookup_local("far_code32").unwrap().wrapping_add(2);
    assert_eq!(read_le(field, 4), 0, "an overflowing field was written");

    let (data_id, _, _, _) = find_section(&linker, id, ".data").unwrap();
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { linker.map_section(data_id, 0x10_0000) }.unwrap();
    let good = compile_c("int good_two(int x) { return x * 3 - 1; }", NO_EH);
    linker.load_object(&good, "good2.o").unwrap();
    linker.finalize().unwrap();
    assert_eq!(call_i32(linker.lookup("good_two").unwrap(), 20), 59);
    assert_eq!(call_i32(linker.lookup("good_one").unwrap(), 5), 11);
    assert_eq!(read_le(field, 4), 0x10_0000, "R_32 after remap");
}

// ---------------------------------------------------------------------------
// Far calls through stubs.

const CALL_EXT_SRC: &str = r#"
extern int ext_fn(int);
int call_ext(void) { return ext_fn(3) * 2 + 1; }
int tail_ext(int x) { return ext_fn(x); }
"#;

fn check_far_calls(mut linker: Linker, flags: &[&str], require_far: bool) {
    let obj = compile_c(CALL_EXT_SRC, flags);
    assert!(elf::relocations(&obj).iter().any(|r| r.r_type == R_PLT32 && r.symbol == "ext_fn"), "no PLT32 to ext_fn with {flags:?}");
    linker.set_resolver(test_resolver());
    let id = linker.load_object(&obj, "call_ext.o").unwrap();
    linker.finalize().unwrap();
    let f = linker.lookup("call_ext").unwrap();
    let target = ext_fn_addr();
    let far = f.abs_diff(target) > 1 << 31;
    if require_far {
        assert!(far, "code at {f:#x} is within 2 GiB of ext_fn at {target:#x}");
    } else if !far {
        println!("note: the default memory manager put code at {f:#x}, within 2 GiB of ext_fn at {target:#x}");
    }
    if far {
        let stubs = find_section(&linker, id, STUB_SECTION).expect("no stub section");
        assert!(stubs.3 >= 6);
    }
    assert_eq!(call_void_i32(f), 75, "call_ext() = ext_fn(3) * 2 + 1");
    assert_eq!(call_i32(linker.lookup("tail_ext").unwrap(), 5), 57, "tail_ext(5)");
}

#[test]
fn plt32_to_a_far_function_goes_through_a_stub_and_runs() {
    for flags in [&["-O2", "-fPIC"][..], &["-O0", "-fno-pic"], &["-O2"]] {
        check_far_calls(Linker::with_memory_manager(Box::new(FarMm::new(1 << 30))), flags, true);
        check_far_calls(Linker::new(), flags, false);
    }
}

/// The destination of the `call rel32` whose displacement is at target
/// address `field` of section `sec`.
fn call_destination(sec: (u32, u64, *mut u8, u64), field: u64) -> u64 {
    let local = local_of(Some(sec), field, 4).expect("call site outside its section");
    field.wrapping_add(4).wrapping_add(sign_extend(read_le(local, 4), 4))
}

#[test]
fn a_call_that_reaches_directly_goes_through_its_stub_once_a_remap_puts_it_out_of_reach() {
    // `caller` calls `callee` of another object (R_X86_64_PLT32) and the
    // static `helper` of another section of its own (a section symbol).
    let a = assemble(
        "\t.section .text.caller,\"ax\",@progbits\n\t.globl caller\ncaller:\n\tcall callee@PLT\n\tcall helper\n\tret\n\
         \t.section .text.helper,\"ax\",@progbits\nhelper:\n\tret\n\t.section .note.GNU-stack,\"\",@progbits\n",
        &[],
    );
    let b = assemble("\t.text\n\t.globl callee\ncallee:\n\tret\n\t.section .note.GNU-stack,\"\",@progbits\n", &[]);
    let mut linker = Linker::new();
    let ia = linker.load_object(&a, "a.o").unwrap();
    let ib = linker.load_object(&b, "b.o").unwrap();
    linker.finalize().unwrap();
    let text_a = find_section(&linker, ia, ".text.caller").unwrap();
    let helper_sec = find_section(&linker, ia, ".text.helper").unwrap();
    let text_b = find_section(&linker, ib, ".text").unwrap();
    let stubs = find_section(&linker, ia, STUB_SECTION).expect("a stub section for the two calls");
    let caller = linker.lookup("caller").unwrap();
    assert_eq!(caller, text_a.1);
    // Within reach: both calls go straight to their functions, and no stub
    // was written.
    assert_eq!(call_destination(text_a, caller + 1), text_b.1, "call callee");
    assert_eq!(call_destination(text_a, caller + 6), helper_sec.1, "call helper");
    let stub_bytes: Vec<u64> = (0..stubs.3).map(|k| read_le(stubs.2.wrapping_add(k as usize), 1)).collect();
    assert!(stub_bytes.iter().all(|&b| b == 0), "stubs written though no call needed one");
    call_void_i32(caller);

    // Out of reach (targets only, 8 GiB away): each call now goes through
    // a stub that jumps to the function's new address.
    let far = 8u64 << 30;
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { linker.map_section(text_b.0, text_b.1 + far) }.unwrap();
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { linker.map_section(helper_sec.0, helper_sec.1 + far) }.unwrap();
    linker.finalize().unwrap();
    let text_a = find_section(&linker, ia, ".text.caller").unwrap();
    let to_callee = call_destination(text_a, caller + 1);
    let to_helper = call_destination(text_a, caller + 6);
    assert_ne!(to_callee, to_helper);
    reaches(&linker, ia, to_callee, text_b.1 + far).unwrap();
    reaches(&linker, ia, to_helper, helper_sec.1 + far).unwrap();
    assert!(to_callee != text_b.1 + far && to_helper != helper_sec.1 + far, "both go through stubs");

    // Back within reach: direct again, and the stubs are left as they are.
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { linker.map_section(text_b.0, text_b.1) }.unwrap();
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { linker.map_section(helper_sec.0, helper_sec.1) }.unwrap();
    linker.finalize().unwrap();
    assert_eq!(call_destination(text_a, caller + 1), text_b.1);
    assert_eq!(call_destination(text_a, caller + 6), helper_sec.1);
    call_void_i32(caller);
}

// ---------------------------------------------------------------------------
// Retained relocations stay small.

#[test]
fn retained_relocations_are_at_most_16_bytes_each() {
    let mut src = String::from("#include <string.h>\n");
    for i in 0..40 {
        src.push_str(&format!("extern int ext_{i}(int);\nint g_{i} = {i};\nstatic const char *s_{i} = \"str{i}\";\n"));
    }
    src.push_str("long big_addend_array[4];\nint many(int x) {\n  int r = 0;\n");
    for i in 0..40 {
        src.push_str(&format!("  r += ext_{i}(x + g_{i}) + (int)strlen(s_{i});\n"));
    }
    src.push_str("  r += (int)((long *)((char *)big_addend_array + 0x123456789L) - (long *)0);\n  return r;\n}\n");
    for (flags, name) in [
        (&["-O2", "-fPIC"][..], "many-pic.o"),
        (&["-O0", "-fno-pic"][..], "many-nopic.o"),
        (&["-O2", "-mcmodel=large"][..], "many-large.o"),
    ] {
        let obj = compile_c(&src, flags);
        // Relocations of loaded sections (.text, .data, .eh_frame …, not debug info).
        let loaded: Vec<_> = elf::relocations(&obj).into_iter().filter(|r| !r.section.starts_with(".debug") && r.r_type != 0).collect();
        let in_object = loaded.len();
        let wide = loaded.iter().filter(|r| i32::try_from(r.addend).is_err()).count();
        let mut linker = Linker::new();
        linker.set_resolver(Some(Box::new(|_: &str| Some(ext_fn_addr()))));
        linker.set_process_symbols(true);
        linker.load_object(&obj, name).unwrap();
        linker.finalize().unwrap();
        let count = linker.retained_relocation_count();
        let bytes = linker.retained_relocation_bytes();
        println!(
            "{name}: {count} relocations retained in {bytes} bytes ({:.2} bytes each; {in_object} in the object)",
            bytes as f64 / count as f64
        );
        assert!(count >= 80, "{name}: only {count} relocations retained");
        assert_eq!(count, in_object, "{name}: retained count differs from the object's relocations of loaded sections");
        assert!(bytes / count <= 16, "{name}: {bytes} bytes for {count} relocations");
        // 16 bytes a record, plus 8 for each addend that needs 64 bits (the
        // side table is a Vec that rtdyld does not shrink: allow its growth).
        let wide_slots = if wide == 0 { 0 } else { wide.next_power_of_two().max(4) };
        assert!(bytes <= 16 * count + 8 * wide_slots, "{name}: {bytes} bytes for {count} relocations ({wide} wide addends)");
    }
}

// ---------------------------------------------------------------------------
// Compiled C: three files, run after linking, against a native build.

const C_A: &str = r#"
#include <stdio.h>
#include <string.h>

typedef int (*binop)(int, int);

extern int b_mul(int, int);
extern int b_table_sum(void);
extern long b_big_touch(int);
extern double c_poly(double);
extern const char *c_name(int);
extern int c_counter;
extern volatile int c_zero;

int a_global = 7;
int a_zero[16];
static const int a_consts[5] = {3, 1, 4, 1, 5};
static int a_static_counter;

static int a_add(int x, int y) { return x + y; }
static int a_sub(int x, int y) { return x - y; }
static binop a_ops[] = {a_add, a_sub, b_mul};

static unsigned mix(unsigned h, unsigned v) { return (h ^ v) * 16777619u; }

__attribute__((noinline)) static int classify(int v, int x) {
    switch (v) {
    case 0: return x * 3;
    case 1: return x + 7;
    case 2: return b_mul(x, 5);
    case 3: return x - 11;
    case 4: return (int)strlen(c_name(x & 3)) + x;
    case 5: return x ^ 0x55;
    case 6: return a_ops[x % 3](x, 2);
    case 7: return x << 2;
    case 8: return ++a_static_counter + x;
    case 9: return x / 3;
    default: return -1;
    }
}

int test_entry(void) {
    unsigned h = 2166136261u;
    for (int i = 0; i < 3; i++) h = mix(h, (unsigned)a_ops[i](a_global + i, 5));
    for (int i = 0; i < 12; i++) h = mix(h, (unsigned)classify(i + c_zero, i * 7 + 1));
    char buf[64];
    int n = snprintf(buf, sizeof buf, "v=%d s=%s d=%.3f", a_global, c_name(2), c_poly(1.5));
    h = mix(h, (unsigned)n);
    h = mix(h, (unsigned)strlen(buf));
    for (size_t i = 0; buf[i]; i++) h = mix(h, (unsigned char)buf[i]);
    char copy[64];
    memcpy(copy, buf, (size_t)n + 1);
    h = mix(h, (unsigned char)copy[3]);
    for (int i = 0; i < 16; i++) a_zero[i] = i * i + a_consts[i % 5];
    for (int i = 0; i < 16; i++) h = mix(h, (unsigned)a_zero[i]);
    h = mix(h, (unsigned)b_table_sum());
    c_counter += 5;
    h = mix(h, (unsigned)c_counter);
    h = mix(h, (unsigned)(long)(c_poly(2.25) * 1000.0));
    h = mix(h, (unsigned)b_big_touch(12345));
    return (int)(h & 0x7fffffff);
}
"#;

const C_B: &str = r#"
int b_common __attribute__((common));
static const short b_tbl[] = {1, 1, 2, 3, 5, 8, 13, 21, 34, 55};
static double b_weights[] = {0.5, 0.25, 2.0};
long b_big[10000];               /* large data under -mcmodel=medium */
static long b_big_init[9000] = {1};

int b_mul(int x, int y) { return x * y; }

int b_table_sum(void) {
    int s = 0;
    for (unsigned i = 0; i < sizeof b_tbl / sizeof b_tbl[0]; i++) s += b_tbl[i] * (int)(b_weights[i % 3] * 4.0);
    b_common += s;
    return s + b_common;
}

long b_big_touch(int x) {
    b_big[x % 10000] = x;
    b_big_init[x % 9000] += x;
    return b_big[x % 10000] + b_big_init[x % 9000] + b_big_init[0];
}
"#;

const C_C: &str = r#"
int c_counter = 100;
volatile int c_zero = 0;
static const char *const c_names[] = {"zero", "one", "two", "three"};
const char *c_name(int i) { return c_names[i & 3]; }
double c_poly(double x) { return ((1.5 * x - 2.0) * x + 0.125) * x + 3.0; }
"#;

const C_MAIN: &str = r#"
#include <stdio.h>
int test_entry(void);
int main(void) { printf("%d\n", test_entry()); return 0; }
"#;

/// test_entry() of the program built natively by gcc and run.
fn native_checksum() -> i32 {
    let dir = TempDir::new("native");
    let mut args = Vec::new();
    for (name, src) in [("a.c", C_A), ("b.c", C_B), ("c.c", C_C), ("main.c", C_MAIN)] {
        std::fs::write(dir.join(name), src).unwrap();
        args.push(dir.join(name));
    }
    let exe = dir.join("prog");
    let out = Command::new("gcc").arg("-O2").args(&args).arg("-o").arg(&exe).output().unwrap();
    assert!(out.status.success(), "native build failed: {}", String::from_utf8_lossy(&out.stderr));
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    String::from_utf8_lossy(&run.stdout).trim().parse().unwrap()
}

const MODELS: &[(&str, &[&str])] = &[
    ("-fPIC", &["-fPIC"]),
    ("-fno-pic", &["-fno-pic"]),
    ("default", &[]),
    ("-mcmodel=large", &["-mcmodel=large"]),
    ("-mcmodel=large -fno-pic", &["-mcmodel=large", "-fno-pic"]),
    ("-mcmodel=medium -fno-pic", &["-mcmodel=medium", "-fno-pic"]),
    ("-mcmodel=medium -fPIC", &["-mcmodel=medium", "-fPIC"]),
    ("-ffunction-sections -fdata-sections", &["-ffunction-sections", "-fdata-sections"]),
];

fn c_matrix(compiler: &str) {
    let expected = native_checksum();
    println!("native checksum: {expected}");
    let mut failures = Vec::new();
    let mut seen_types = BTreeSet::new();
    let mut runs = 0;
    for opt in ["-O0", "-O2", "-O3"] {
        for (_, model_flags) in MODELS {
            let mut flags = vec![opt];
            flags.extend_from_slice(model_flags);
            let config = format!("{compiler} {}", flags.join(" "));
            let objs: Vec<(&str, Vec<u8>)> =
                [("a.o", C_A), ("b.o", C_B), ("c.o", C_C)].into_iter().map(|(n, s)| (n, compile(compiler, "c", s, &flags))).collect();
            for (_, o) in &objs {
                seen_types.extend(elf::relocations(o).iter().filter(|r| !r.section.starts_with(".debug")).map(|r| r.r_type));
            }
            let mut linker = Linker::new();
            linker.set_process_symbols(true);
            let loaded = objs.iter().try_for_each(|(n, o)| linker.load_object(o, n).map(|_| ()));
            if let Err(e) = loaded.and_then(|()| linker.finalize()) {
                failures.push(format!("{config}: {e}"));
                continue;
            }
            runs += 1;
            let got = call_void_i32(linker.lookup("test_entry").unwrap());
            if got != expected {
                failures.push(format!("{config}: test_entry() = {got}, native build gives {expected}"));
            }
        }
    }
    let names: Vec<_> = seen_types.iter().map(|&t| format!("{}({t})", type_name(t))).collect();
    println!("{compiler}: {runs} configurations ran; relocation types seen: {}", names.join(" "));
    assert!(failures.is_empty(), "{compiler}:\n{}", failures.join("\n"));
}

#[test]
fn c_program_matrix_gcc() {
    c_matrix("gcc");
}

#[test]
fn c_program_matrix_clang() {
    match find_clang() {
        Some(clang) => c_matrix(clang),
        None => println!("note: no clang found; skipping the clang matrix"),
    }
}
