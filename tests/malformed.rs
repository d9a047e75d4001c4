//! Bad input is an error, never a panic or a crash: each case must fail with
//! a kind and a message naming the object and the place, and the linker that
//! saw it must then load, link and run a good object.

mod common;

use common::{compile_c, find_clang, try_compile, TempDir};
use rtdyld::{AllocationRequest, DefaultMemoryManager, ErrorKind, Linker, MemoryManager, ReserveRequest};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------
// The good object and reading/patching ELF64 by hand.

const GOOD_SRC: &str = r#"
static int counter = 5;
const char greeting[] = "hello";
__attribute__((noinline)) int helper(int x) { return x + counter; }
int bump(void) { return ++counter; }
int good_value(void) { return helper(37); }
"#;

/// `good_value()` of GOOD_SRC.
const GOOD_VALUE: i32 = 42;

fn good_object() -> &'static [u8] {
    static GOOD: OnceLock<Vec<u8>> = OnceLock::new();
    GOOD.get_or_init(|| compile_c(GOOD_SRC, &["-O2", "-fPIC"]))
}

fn u16_at(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(d[o..o + 2].try_into().unwrap())
}
fn u32_at(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().unwrap())
}
fn u64_at(d: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(d[o..o + 8].try_into().unwrap())
}
fn put_u16(d: &mut [u8], o: usize, v: u16) {
    d[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(d: &mut [u8], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(d: &mut [u8], o: usize, v: u64) {
    d[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// A section header, with the file offset of the header itself.
#[derive(Debug, Clone)]
struct Shdr {
    header: usize,
    name: String,
    sh_type: u32,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
}

fn sections(d: &[u8]) -> Vec<Shdr> {
    let shoff = u64_at(d, 0x28) as usize;
    let shentsize = u16_at(d, 0x3a) as usize;
    let shnum = u16_at(d, 0x3c) as usize;
    let shstr = u64_at(d, shoff + u16_at(d, 0x3e) as usize * shentsize + 24) as usize;
    (0..shnum)
        .map(|i| {
            let h = shoff + i * shentsize;
            let n = shstr + u32_at(d, h) as usize;
            let end = d[n..].iter().position(|&b| b == 0).unwrap() + n;
            Shdr {
                header: h,
                name: String::from_utf8_lossy(&d[n..end]).into_owned(),
                sh_type: u32_at(d, h + 4),
                offset: u64_at(d, h + 24),
                size: u64_at(d, h + 32),
                link: u32_at(d, h + 40),
                info: u32_at(d, h + 44),
            }
        })
        .collect()
}

fn section<'a>(secs: &'a [Shdr], name: &str) -> &'a Shdr {
    secs.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no section {name}"))
}

/// File offset of the first RELA entry that applies to `.text`.
fn first_text_rela(d: &[u8]) -> usize {
    let secs = sections(d);
    let text = secs.iter().position(|s| s.name == ".text").unwrap();
    let rela = secs.iter().find(|s| s.sh_type == 4 && s.info as usize == text).expect("no .rela.text");
    assert!(rela.size >= 24);
    rela.offset as usize
}

/// File offset of the symbol table entry of `name`.
fn symbol_entry(d: &[u8], name: &str) -> usize {
    let secs = sections(d);
    let symtab = secs.iter().find(|s| s.sh_type == 2).unwrap();
    let strtab = secs[symtab.link as usize].offset as usize;
    (0..symtab.size as usize / 24)
        .map(|i| symtab.offset as usize + i * 24)
        .find(|&e| {
            let n = strtab + u32_at(d, e) as usize;
            d[n..].starts_with(name.as_bytes()) && d[n + name.len()] == 0
        })
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

// ---------------------------------------------------------------------------
// Checking a failure and the recovery after it.

fn resolver() -> Option<rtdyld::Resolver> {
    static SINK: [u64; 64] = [0; 64];
    Some(Box::new(|_: &str| Some(SINK.as_ptr() as u64)))
}

/// Loads `data` as `name`; it must fail with `kind` (any of `kinds`) and a
/// message containing `name` and each of `parts`.
fn expect_load_error(linker: &mut Linker, data: &[u8], name: &str, kinds: &[ErrorKind], parts: &[&str]) -> rtdyld::Error {
    let before = linker.object_count();
    let e = match linker.load_object(data, name) {
        Ok(id) => panic!("{name}: loaded as object {id}, expected an error"),
        Err(e) => e,
    };
    println!("{name}: {:?}: {}", e.kind(), e.message());
    assert!(kinds.contains(&e.kind()), "{name}: kind {:?}, expected one of {kinds:?}: {}", e.kind(), e.message());
    assert!(e.message().contains(name), "{name}: the message does not name the object: {}", e.message());
    for p in parts {
        assert!(e.message().contains(p), "{name}: the message lacks {p:?}: {}", e.message());
    }
    assert_eq!(linker.object_count(), before, "{name}: a failed load left an object behind");
    e
}

/// The linker still works: a good object loads, links and runs.
fn assert_recovers(linker: &mut Linker) {
    linker.load_object(good_object(), "good.o").expect("a good object after a failure");
    linker.finalize().expect("finalize after a failure");
    let f = linker.lookup("good_value").unwrap();
    // SAFETY: `good_value` is `int good_value(void)`, linked and finalized.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(f as usize) };
    assert_eq!(f(), GOOD_VALUE);
}

/// One bad input, then recovery, in a fresh linker.
fn check_bad(data: &[u8], name: &str, kinds: &[ErrorKind], parts: &[&str]) {
    let mut linker = Linker::new();
    linker.set_resolver(resolver());
    expect_load_error(&mut linker, data, name, kinds, parts);
    assert_recovers(&mut linker);
}

const MALFORMED: &[ErrorKind] = &[ErrorKind::MalformedObject];
const UNSUPPORTED: &[ErrorKind] = &[ErrorKind::Unsupported];

// ---------------------------------------------------------------------------

#[test]
fn the_good_object_is_good() {
    let mut linker = Linker::new();
    assert_recovers(&mut linker);
}

#[test]
fn empty_input() {
    check_bad(&[], "empty.o", MALFORMED, &[]);
}

#[test]
fn three_bytes() {
    check_bad(b"\x7fEL", "three-bytes.o", MALFORMED, &[]);
    check_bad(b"\x7fELF", "magic-only.o", &[ErrorKind::MalformedObject, ErrorKind::Unsupported], &[]);
}

#[test]
fn not_elf() {
    check_bad(b"#!/bin/sh\necho this is not an object file\n", "script.o", MALFORMED, &["ELF"]);
    check_bad(&[0u8; 200], "zeros.o", MALFORMED, &[]);
}

/// GCC marks an object whose code takes a nested function's address (its
/// trampoline is built on the stack) as needing an executable stack:
/// refused, as rtdyld keeps no page writable and executable. An object
/// whose note says otherwise, or that has none (assembly), loads.
#[test]
fn objects_that_need_an_executable_stack_are_refused() {
    let source = "int apply(int (*f)(int), int x) { return f(x); }\n\
                  int outer(int k) { int add(int x) { return x + k; } return apply(add, 1); }\n";
    let obj = compile_c(source, &["-O2", "-fPIC"]);
    check_bad(&obj, "nested.o", UNSUPPORTED, &["executable stack", ".note.GNU-stack"]);
    let plain = compile_c("int outer(int k) { return k + 1; }\n", &["-O2", "-fPIC"]);
    Linker::new().load_object(&plain, "plain.o").unwrap();
}

/// Link-time-optimization objects hold a compiler's intermediate code, not
/// machine code: refused, with what to do instead. A fat GCC LTO object
/// (machine code as well) loads.
#[test]
fn lto_objects_are_named_and_refused() {
    let source = "int lto_value(void) { return 7; }\n";
    match try_compile("gcc", "c", source, &["-O2", "-flto"]) {
        Ok(slim) => check_bad(&slim, "gcc-lto.o", UNSUPPORTED, &["-flto", "-ffat-lto-objects"]),
        Err(e) => println!("note: gcc -flto is not available: {}", e.lines().next().unwrap_or("")),
    }
    if let Ok(fat) = try_compile("gcc", "c", source, &["-O2", "-flto", "-ffat-lto-objects"]) {
        let mut linker = Linker::new();
        linker.load_object(&fat, "gcc-fat-lto.o").expect("a fat LTO object has machine code");
        linker.finalize().unwrap();
        // SAFETY: `int lto_value(void)`, linked and finalized.
        let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(linker.lookup("lto_value").unwrap() as usize) };
        assert_eq!(f(), 7);
    }
    match find_clang().map(|clang| try_compile(clang, "c", source, &["-O2", "-flto"])) {
        Some(Ok(bitcode)) => {
            assert_eq!(&bitcode[..4], b"BC\xc0\xde", "clang -flto wrote no bitcode");
            check_bad(&bitcode, "clang-lto.o", UNSUPPORTED, &["LLVM bitcode", "-flto"]);
        }
        _ => println!("note: no clang; the bitcode case is checked with hand-made headers only"),
    }
    // Bare bitcode and the bitcode wrapper, by their magic numbers.
    check_bad(b"BC\xc0\xde\x35\x14\x00\x00\x05\x00\x00\x00", "bare.bc", UNSUPPORTED, &["LLVM bitcode"]);
    let mut wrapper = 0x0b17_c0de_u32.to_le_bytes().to_vec();
    wrapper.extend_from_slice(&[0; 16]);
    check_bad(&wrapper, "wrapped.bc", UNSUPPORTED, &["LLVM bitcode"]);
}

#[test]
fn elf32_object() {
    let obj = match try_compile("gcc", "assembler", ".text\n.globl f\nf: ret\n", &["-m32"]) {
        Ok(o) => o,
        Err(e) => {
            println!("note: gcc -m32 is not available ({}); patching EI_CLASS instead", e.lines().next().unwrap_or(""));
            let mut o = good_object().to_vec();
            o[4] = 1;
            o
        }
    };
    assert_eq!(obj[4], 1, "not ELFCLASS32");
    check_bad(&obj, "elf32.o", UNSUPPORTED, &["64-bit"]);
}

#[test]
fn big_endian_header() {
    let mut obj = good_object().to_vec();
    obj[5] = 2; // ELFDATA2MSB
    check_bad(&obj, "big-endian.o", &[ErrorKind::Unsupported, ErrorKind::MalformedObject], &[]);
}

/// rtdyld has a dedicated "big-endian x86-64 object" error, but it reads
/// e_machine with the header's (big) endianness first, sees 0x3e00 = 15872
/// and reports "wrong architecture: ELF machine 15872 (unknown)" instead.
#[test]
fn big_endian_header_is_named_as_such() {
    let mut obj = good_object().to_vec();
    obj[5] = 2; // ELFDATA2MSB
    check_bad(&obj, "msb.o", UNSUPPORTED, &["big-endian"]);
}

#[test]
fn wrong_machine() {
    let mut obj = good_object().to_vec();
    put_u16(&mut obj, 0x12, 183); // EM_AARCH64
    check_bad(&obj, "aarch64.o", UNSUPPORTED, &["183"]);
}

fn build(args: &[&str], src: &str, out: &str) -> Vec<u8> {
    let dir = TempDir::new("build");
    std::fs::write(dir.join("x.c"), src).unwrap();
    let o = Command::new("gcc").args(args).arg(dir.join("x.c")).arg("-o").arg(dir.join(out)).output().unwrap();
    assert!(o.status.success(), "gcc {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(dir.join(out)).unwrap()
}

#[test]
fn executable_and_shared_library() {
    let exe = build(&["-no-pie", "-O2"], "int main(void) { return 0; }", "prog");
    assert_eq!(u16_at(&exe, 0x10), 2, "not ET_EXEC");
    check_bad(&exe, "prog", UNSUPPORTED, &["ELF type 2"]);
    let pie = build(&["-pie", "-fPIE", "-O2"], "int main(void) { return 0; }", "pie");
    assert_eq!(u16_at(&pie, 0x10), 3, "not ET_DYN");
    check_bad(&pie, "pie", UNSUPPORTED, &["ELF type 3"]);
    let so = build(&["-shared", "-fPIC", "-O2"], "int f(void) { return 1; }", "libf.so");
    assert_eq!(u16_at(&so, 0x10), 3, "not ET_DYN");
    check_bad(&so, "libf.so", UNSUPPORTED, &["ELF type 3"]);
}

#[test]
fn truncated_at_every_7th_length() {
    let good = good_object();
    let mut linker = Linker::new();
    linker.set_resolver(resolver());
    let mut ok = Vec::new();
    let mut kinds = std::collections::BTreeMap::new();
    for len in (0..good.len()).step_by(7) {
        let name = format!("truncated-{len}.o");
        let r = catch_unwind(AssertUnwindSafe(|| linker.load_object(&good[..len], &name)));
        match r {
            Err(_) => panic!("load_object panicked on the first {len} bytes of the good object"),
            Ok(Ok(_)) => ok.push(len),
            Ok(Err(e)) => {
                assert!(e.message().contains(&name), "{name}: message does not name the object: {}", e.message());
                *kinds.entry(format!("{:?}", e.kind())).or_insert(0) += 1;
            }
        }
    }
    println!("{} prefixes of {} bytes: errors by kind {kinds:?}; loaded: {ok:?}", good.len().div_ceil(7), good.len());
    if ok.is_empty() {
        assert_eq!(linker.object_count(), 0);
        assert_recovers(&mut linker);
    } else {
        // A prefix that loads is not wrong in itself (everything rtdyld
        // needs may lie before the cut), but then `good_value` is taken.
        linker.finalize().unwrap();
        let mut fresh = Linker::new();
        fresh.load_object(good, "full.o").unwrap();
        fresh.finalize().unwrap();
    }
}

#[test]
fn compact_relocations_and_writable_code_are_refused_by_name() {
    // clang -Wa,--crel writes SHT_CREL sections: refused, not skipped
    // (skipping them left every field unrelocated).
    let mut obj = good_object().to_vec();
    let secs = sections(&obj);
    let text = secs.iter().position(|s| s.name == ".text").unwrap();
    let rela = secs.iter().find(|s| s.sh_type == 4 && s.info as usize == text).unwrap();
    put_u32(&mut obj, rela.header + 4, 0x4000_0014);
    check_bad(&obj, "crel.o", UNSUPPORTED, &[".text", "SHT_CREL", "--crel"]);
    // A section that is writable and executable ("awx", as `.section
    // .smc,"awx"` or nasm's `write exec` make).
    let obj = common::assemble(
        ".section .smc,\"awx\",@progbits\n.globl smc\nsmc:\n\tmovb $1, smc(%rip)\n\tret\n.section .note.GNU-stack,\"\",@progbits\n",
        &[],
    );
    check_bad(&obj, "smc.o", UNSUPPORTED, &[".smc", "writable and executable"]);
}

#[test]
fn section_headers_past_the_end() {
    let mut obj = good_object().to_vec();
    let len = obj.len() as u64;
    put_u64(&mut obj, 0x28, len + 0x100);
    check_bad(&obj, "shoff.o", MALFORMED, &["section"]);
    let mut obj = good_object().to_vec();
    put_u16(&mut obj, 0x3c, 0x7fff); // e_shnum
    check_bad(&obj, "shnum.o", MALFORMED, &["section"]);
}

#[test]
fn section_contents_past_the_end() {
    let mut obj = good_object().to_vec();
    let text = section(&sections(&obj), ".text").header;
    let len = obj.len() as u64;
    put_u64(&mut obj, text + 24, len - 4);
    check_bad(&obj, "text-offset.o", MALFORMED, &[".text"]);
}

#[test]
fn relocation_offset_beyond_its_section() {
    let mut obj = good_object().to_vec();
    let text_size = section(&sections(&obj), ".text").size;
    let e = first_text_rela(&obj);
    let bad = text_size + 0x40;
    put_u64(&mut obj, e, bad);
    check_bad(&obj, "reloc-offset.o", MALFORMED, &[".text", &format!("{bad:#x}")]);
    // A field that starts inside the section and ends outside it.
    let mut obj = good_object().to_vec();
    put_u64(&mut obj, e, text_size - 2);
    check_bad(&obj, "reloc-straddle.o", MALFORMED, &[".text", &format!("{:#x}", text_size - 2)]);
    // An offset that wraps around when the field size is added.
    let mut obj = good_object().to_vec();
    put_u64(&mut obj, e, u64::MAX - 1);
    check_bad(&obj, "reloc-wrap.o", MALFORMED, &[".text"]);
}

#[test]
fn relocation_symbol_index_out_of_range() {
    let mut obj = good_object().to_vec();
    let e = first_text_rela(&obj);
    let info = u64_at(&obj, e + 8);
    put_u64(&mut obj, e + 8, (0xfff0u64 << 32) | (info & 0xffff_ffff));
    check_bad(&obj, "reloc-symbol.o", MALFORMED, &[".text", "65520"]);
    let mut obj = good_object().to_vec();
    put_u64(&mut obj, e + 8, (0xffff_ffffu64 << 32) | (info & 0xffff_ffff));
    check_bad(&obj, "reloc-symbol-max.o", MALFORMED, &[".text", "4294967295"]);
}

#[test]
fn unknown_relocation_type() {
    let mut obj = good_object().to_vec();
    let e = first_text_rela(&obj);
    let info = u64_at(&obj, e + 8);
    put_u64(&mut obj, e + 8, (info & !0xffff_ffff) | 200);
    check_bad(&obj, "reloc-type.o", UNSUPPORTED, &[".text", "200"]);
    // Dynamic relocation types do not belong in a .o either.
    let mut obj = good_object().to_vec();
    put_u64(&mut obj, e + 8, (info & !0xffff_ffff) | 8); // R_X86_64_RELATIVE
    check_bad(&obj, "reloc-relative.o", UNSUPPORTED, &[".text", "R_X86_64_RELATIVE"]);
    let mut obj = good_object().to_vec();
    put_u64(&mut obj, e + 8, (info & !0xffff_ffff) | 36);
    check_bad(&obj, "reloc-tlsdesc.o", UNSUPPORTED, &[".text", "R_X86_64_TLSDESC", "dynamic"]);
    // Instructions with APX prefixes (gcc 14 -mapxf) have types of their own.
    let mut obj = good_object().to_vec();
    put_u64(&mut obj, e + 8, (info & !0xffff_ffff) | 44);
    check_bad(&obj, "reloc-apx.o", UNSUPPORTED, &[".text", "R_X86_64_CODE_4_GOTTPOFF", "APX"]);
}

#[test]
fn unsupported_thread_local_storage() {
    // A name the resolver answers with an address but that is no
    // thread-local variable of the host: the finalize fails naming it.
    for flags in [&["-O2", "-fPIC"][..], &["-O2", "-fno-pic"]] {
        let obj = compile_c("extern __thread int host_tls;\nint f(void) { return host_tls; }\n", flags);
        let mut linker = Linker::new();
        linker.set_resolver(Some(Box::new(|n: &str| (n == "host_tls").then_some(0x1000))));
        linker.load_object(&obj, "host-tls.o").unwrap();
        let e = linker.finalize().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnresolvedSymbol, "{e}");
        assert!(e.message().contains("host_tls") && e.message().contains("host-tls.o"), "{e}");
    }
}

#[test]
fn thread_local_storage_too_large_or_too_aligned_is_refused() {
    // Found by fuzzing: a second .tdata section aligned to 1 GiB made the
    // TLS template a gigabyte of padding (an allocation failure aborts the
    // process); a huge .tbss would be every thread's block.
    let aligned = ".section .tdata,\"awT\",@progbits\n.quad 1\n.section .tdata.b,\"awT\",@progbits\n.p2align 30\nb: .quad 2\n";
    check_bad(&common::assemble(aligned, &[]), "tls-align.o", UNSUPPORTED, &["tls-align.o", "thread-local storage", "1073741824"]);
    let big = ".section .tbss,\"awT\",@nobits\n.zero 0x8000000\n";
    check_bad(&common::assemble(big, &[]), "tls-big.o", UNSUPPORTED, &["tls-big.o", "134217728 bytes"]);
}

#[test]
fn section_alignment_not_a_power_of_two() {
    for (align, name) in [(3u64, "align3.o"), (0x8000_0000_0000_0000, "align-huge.o"), (1 << 40, "align-1t.o")] {
        let mut obj = good_object().to_vec();
        let text = section(&sections(&obj), ".text").header;
        put_u64(&mut obj, text + 48, align);
        check_bad(&obj, name, MALFORMED, &[".text", &format!("alignment {align}")]);
    }
}

#[test]
fn symbol_section_index_out_of_range() {
    let mut obj = good_object().to_vec();
    let e = symbol_entry(&obj, "good_value");
    put_u16(&mut obj, e + 6, 0x7f00);
    check_bad(&obj, "symbol-shndx.o", MALFORMED, &["good_value"]);
    // A symbol value beyond its section.
    let mut obj = good_object().to_vec();
    put_u64(&mut obj, e + 8, 0x10_0000);
    check_bad(&obj, "symbol-value.o", MALFORMED, &["good_value"]);
}

#[test]
fn a_global_symbol_of_an_unknown_binding_is_refused() {
    // Binding 5 with type IFUNC (one flipped byte): accepted, the function
    // would be called as an IFUNC resolver at finalize.
    for info in [0x5a_u8, 0x32, 0x92] {
        let mut obj = good_object().to_vec();
        let e = symbol_entry(&obj, "good_value");
        obj[e + 4] = info;
        check_bad(&obj, "binding.o", MALFORMED, &["`good_value`", &format!("binding {}", info >> 4)]);
    }
}

/// An object whose `.data` holds the address of a local function: its
/// bytes, the index of the symbol the relocation names, and the file
/// offset of that symbol's entry.
fn local_data_reference() -> (Vec<u8>, usize, usize) {
    let obj = common::assemble(".data\n.quad local_fn\n.text\nlocal_fn: ret\n", &[]);
    let secs = sections(&obj);
    let data = secs.iter().position(|s| s.name == ".data").unwrap();
    let rela = secs.iter().find(|s| s.sh_type == 4 && s.info as usize == data).unwrap();
    let sym = (u64_at(&obj, rela.offset as usize + 8) >> 32) as usize;
    let symtab = secs.iter().find(|s| s.sh_type == 2).unwrap();
    let entry = symtab.offset as usize + sym * 24;
    (obj, sym, entry)
}

#[test]
fn a_local_symbol_is_checked_where_a_relocation_first_refers_to_it() {
    // Local symbols are decoded at their first reference: a bad one is
    // reported with that relocation's place.
    let (mut obj, sym, entry) = local_data_reference();
    put_u16(&mut obj, entry + 6, 0x7f00);
    check_bad(
        &obj,
        "local-shndx.o",
        MALFORMED,
        &[".data+0x0 (relocation 0)", &format!("symbol {sym}"), "section index 32512 out of range"],
    );
}

#[test]
fn a_local_symbol_of_an_unknown_binding_is_refused() {
    // Binding 4 or 15 with type IFUNC on a local (one flipped byte): its
    // code would have been called as an IFUNC resolver at finalize.
    for info in [0x4a_u8, 0xfa] {
        let (mut obj, _, entry) = local_data_reference();
        obj[entry + 4] = info;
        check_bad(&obj, "local-binding.o", MALFORMED, &[".data+0x0 (relocation 0)", &format!("binding {}", info >> 4)]);
    }
}

#[test]
fn relocation_section_with_bad_links() {
    let good = good_object();
    let secs = sections(good);
    let text = secs.iter().position(|s| s.name == ".text").unwrap();
    let rela = secs.iter().find(|s| s.sh_type == 4 && s.info as usize == text).unwrap().header;
    let mut obj = good.to_vec();
    put_u32(&mut obj, rela + 44, 0x7000); // sh_info: target section
    check_bad(&obj, "rela-info.o", MALFORMED, &["28672"]);
    let mut obj = good.to_vec();
    put_u32(&mut obj, rela + 40, 1); // sh_link: not the symbol table
    check_bad(&obj, "rela-link.o", MALFORMED, &[".text"]);
    let mut obj = good.to_vec();
    put_u64(&mut obj, rela + 32, 0xffff_ffff_0000); // sh_size: past the end
    check_bad(&obj, "rela-size.o", MALFORMED, &[".text"]);
}

#[test]
fn failures_in_a_row_leave_the_linker_usable() {
    let mut linker = Linker::new();
    linker.set_resolver(resolver());
    let good = good_object();
    let mut machine = good.to_vec();
    put_u16(&mut machine, 0x12, 183);
    let mut rtype = good.to_vec();
    let e = first_text_rela(&rtype);
    let info = u64_at(&rtype, e + 8);
    put_u64(&mut rtype, e + 8, (info & !0xffff_ffff) | 200);
    expect_load_error(&mut linker, &[], "a.o", MALFORMED, &[]);
    expect_load_error(&mut linker, &machine, "b.o", UNSUPPORTED, &[]);
    expect_load_error(&mut linker, &rtype, "c.o", UNSUPPORTED, &[]);
    expect_load_error(&mut linker, &good[..good.len() / 2], "d.o", MALFORMED, &[]);
    assert_recovers(&mut linker);
    // And a duplicate of the good object now fails without disturbing it.
    expect_load_error(&mut linker, good, "again.o", &[ErrorKind::DuplicateSymbol], &["duplicate definition", "good.o"]);
    linker.finalize().unwrap();
}

/// The default memory manager, failing its `fail_at`-th allocation and
/// keeping the sections it handed out and did not get back.
struct FailingMm {
    inner: DefaultMemoryManager,
    fail_at: usize,
    allocations: usize,
    live: std::sync::Arc<std::sync::Mutex<Vec<(u32, usize)>>>,
}

// SAFETY: allocations come from the default manager (or fail).
unsafe impl MemoryManager for FailingMm {
    fn reserve(&mut self, r: &ReserveRequest) -> Result<(), String> {
        self.inner.reserve(r)
    }
    fn allocates_zeroed_memory(&self) -> bool {
        self.inner.allocates_zeroed_memory()
    }
    fn allocate(&mut self, r: &AllocationRequest<'_>) -> Result<*mut u8, String> {
        self.allocations += 1;
        if self.allocations == self.fail_at {
            return Err(format!("no memory for {}", r.name));
        }
        let local = self.inner.allocate(r)?;
        self.live.lock().unwrap().push((r.section_id, local as usize));
        Ok(local)
    }
    fn release(&mut self, local: *mut u8, size: usize, id: u32) -> Result<(), String> {
        let mut live = self.live.lock().unwrap();
        let k =
            live.iter().position(|&e| e == (id, local as usize)).ok_or_else(|| format!("section {id} at {local:p} was not handed out"))?;
        live.remove(k);
        self.inner.release(local, size, id)
    }
    fn make_writable(&mut self, local: *mut u8, size: usize, id: u32) -> Result<(), String> {
        self.inner.make_writable(local, size, id)
    }
    fn finalize(&mut self) -> Result<(), String> {
        self.inner.finalize()
    }
}

#[test]
fn a_load_that_fails_half_way_gives_back_what_it_allocated() {
    // The good object has code, data, read-only data, unwind tables and a
    // GOT: failing each allocation in turn fails some after others succeeded.
    let sections = {
        let mut linker = Linker::new();
        let id = linker.load_object(good_object(), "good.o").unwrap();
        linker.object_sections(id).unwrap().len()
    };
    assert!(sections >= 3, "{sections}");
    for fail_at in 1..=sections {
        let live = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mm = FailingMm { inner: DefaultMemoryManager::new(), fail_at, allocations: 0, live: live.clone() };
        let mut linker = Linker::with_memory_manager(Box::new(mm));
        linker.set_resolver(resolver());
        let err = linker.load_object(good_object(), "good.o").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MemoryManager, "{err}");
        assert!(err.message().contains("no memory for"), "{err}");
        assert!(live.lock().unwrap().is_empty(), "allocation {fail_at} failed; not given back: {:?}", live.lock().unwrap());
        // The next load gets memory again, and works.
        assert_recovers(&mut linker);
        assert_eq!(live.lock().unwrap().len(), sections, "allocation {fail_at} failed");
    }
}

// ---------------------------------------------------------------------------
// Random mutations.

/// The default memory manager, refusing objects of more than 64 MiB so that
/// a mutated section size cannot make the test allocate gigabytes.
struct CappedMm(DefaultMemoryManager);

// SAFETY: allocations come from the default manager (or fail).
unsafe impl MemoryManager for CappedMm {
    fn reserve(&mut self, r: &ReserveRequest) -> Result<(), String> {
        let total = r.code_size as u128 + r.ro_size as u128 + r.rw_size as u128;
        if total > 64 << 20 || r.code_align > 1 << 20 || r.ro_align > 1 << 20 || r.rw_align > 1 << 20 {
            return Err(format!("refusing {total} bytes"));
        }
        self.0.reserve(r)
    }
    fn allocate(&mut self, r: &AllocationRequest<'_>) -> Result<*mut u8, String> {
        if r.size > 64 << 20 {
            return Err(format!("refusing {} bytes", r.size));
        }
        self.0.allocate(r)
    }
    fn make_writable(&mut self, local: *mut u8, size: usize, id: u32) -> Result<(), String> {
        self.0.make_writable(local, size, id)
    }
    fn finalize(&mut self) -> Result<(), String> {
        self.0.finalize()
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Byte ranges worth hitting more often than the code: the ELF header, the
/// section header table, the symbol table and the relocations.
fn structural_ranges(d: &[u8]) -> Vec<(usize, usize)> {
    let mut v = vec![(0, 64)];
    let shoff = u64_at(d, 0x28) as usize;
    v.push((shoff, u16_at(d, 0x3c) as usize * 64));
    for s in sections(d) {
        if s.sh_type == 2 || s.sh_type == 4 {
            v.push((s.offset as usize, s.size as usize));
        }
    }
    v
}

fn mutate(good: &[u8], seed: u64, ranges: &[(usize, usize)]) -> Vec<u8> {
    let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for _ in 0..8 {
        rng.next();
    }
    let mut d = good.to_vec();
    let flips = 1 + rng.below(8);
    for _ in 0..flips {
        let pos = if rng.below(4) == 0 {
            rng.below(d.len())
        } else {
            let (start, len) = ranges[rng.below(ranges.len())];
            start + rng.below(len.max(1))
        };
        let pos = pos.min(d.len() - 1);
        match rng.below(3) {
            0 => d[pos] ^= 1 << rng.below(8),
            1 => d[pos] = rng.next() as u8,
            _ => d[pos] = [0, 0xff, 0x7f, 0x80, 1][rng.below(5)],
        }
    }
    d
}

/// A richer object for mutation: GOT, PLT, GOTOFF and PLTOFF relocations
/// (large code model), a jump table, commons, strings and debug info.
const RICH_SRC: &str = r#"
extern int ext(int);
extern int ext_data;
int common_one __attribute__((common));
static const char *names[] = {"a", "bb", "ccc"};
static int table[32];
__attribute__((noinline)) static int pick(int v, int x) {
    switch (v) {
    case 0: return x + 1; case 1: return ext(x); case 2: return x * 7; case 3: return table[x & 31];
    case 4: return names[x % 3][0]; case 5: return ext_data + x; case 6: return common_one; default: return -x;
    }
}
int rich(int x) { int r = 0; for (int i = 0; i < 8; i++) r += pick(i, x); return r; }
"#;

/// Mutants of `good` for seeds `seeds`; returns the seeds that panicked.
fn mutate_and_link(label: &str, good: &[u8], seeds: std::ops::RangeInclusive<u64>) -> Vec<u64> {
    let ranges = structural_ranges(good);
    let mut panicked = Vec::new();
    let (mut load_err, mut finalize_err, mut linked) = (0, 0, 0);
    let mut kinds = std::collections::BTreeMap::new();
    let count = seeds.clone().count();
    for seed in seeds {
        let data = mutate(good, seed, &ranges);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut linker = Linker::with_memory_manager(Box::new(CappedMm(DefaultMemoryManager::new())));
            linker.set_resolver(resolver());
            let name = format!("{label}-mutant-{seed}.o");
            match linker.load_object(&data, &name) {
                Err(e) => {
                    assert!(e.message().contains(&name), "seed {seed}: message does not name the object: {}", e.message());
                    Err(("load", e.kind()))
                }
                // Never executed: only linked, which writes into our own memory.
                Ok(_) => linker.finalize().map_err(|e| ("finalize", e.kind())),
            }
        }));
        match outcome {
            Err(_) => panicked.push(seed),
            Ok(Ok(())) => linked += 1,
            Ok(Err((stage, kind))) => {
                if stage == "load" {
                    load_err += 1;
                } else {
                    finalize_err += 1;
                }
                *kinds.entry(format!("{stage}:{kind:?}")).or_insert(0) += 1;
            }
        }
    }
    println!("{label}: {count} mutants: {load_err} failed to load, {finalize_err} failed to finalize, {linked} linked; {kinds:?}");
    panicked
}

/// `RTDYLD_MUTATION_SEEDS` overrides the number of seeds (for longer runs).
fn seed_count(default: u64) -> u64 {
    std::env::var("RTDYLD_MUTATION_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn random_mutations_never_panic() {
    let panicked = mutate_and_link("good", good_object(), 1..=seed_count(2000));
    assert!(panicked.is_empty(), "rtdyld panicked on mutants of the good object, seeds {panicked:?} (see `mutate`)");
}

#[test]
fn random_mutations_of_a_richer_object_never_panic() {
    let rich = compile_c(RICH_SRC, &["-O2", "-mcmodel=large", "-g"]);
    let panicked = mutate_and_link("rich", &rich, 1..=seed_count(1000));
    assert!(panicked.is_empty(), "rtdyld panicked on mutants of the rich object, seeds {panicked:?} (see `mutate`)");
}

// Regressions found by fuzzing (fuzz/regressions/README.md).

#[test]
fn ifunc_resolvers_outside_code_are_errors_not_calls() {
    for (name, src) in [
        (
            "ifunc-absolute.o",
            ".globl abs_ifunc\n.type abs_ifunc, @gnu_indirect_function\n.set abs_ifunc, 0\n.text\n.globl entry\nentry: ret\n",
        ),
        (
            "ifunc-in-data.o",
            ".data\n.globl data_ifunc\n.type data_ifunc, @gnu_indirect_function\ndata_ifunc: .quad 0\n.text\n.globl entry\nentry: ret\n",
        ),
    ] {
        let obj = common::assemble(src, &[]);
        let mut linker = Linker::new();
        linker.load_object(&obj, name).unwrap();
        let e = linker.finalize().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MalformedObject, "{name}: {e}");
        assert!(e.message().contains("IFUNC"), "{e}");
    }
}

#[test]
fn a_huge_bss_costs_nothing_until_used() {
    let rss_kib = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let mut obj = compile_c("char big_bss[16];\nint get(int i) { return big_bss[i]; }\n", &["-O2", "-fPIC"]);
    let bss = section(&sections(&obj), ".bss").header;
    put_u64(&mut obj, bss + 32, 0xf000_0000); // sh_size: 3.75 GiB
    let before = rss_kib();
    let mut linker = Linker::new();
    linker.load_object(&obj, "huge-bss.o").unwrap();
    linker.finalize().unwrap();
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "resident memory grew by {grown} KiB");
}

#[test]
fn objects_need_not_be_aligned_in_memory() {
    let obj = good_object();
    let mut shifted = vec![0u8; obj.len() + 1];
    shifted[1..].copy_from_slice(obj);
    let mut linker = Linker::new();
    linker.set_resolver(resolver());
    linker.load_object(&shifted[1..], "unaligned.o").unwrap();
    linker.finalize().unwrap();
}

#[test]
fn an_undefined_local_symbol_is_an_error_where_it_is_used() {
    // Turned local, an undefined reference used to bind to address 0.
    let mut obj = compile_c("long ext(void); long f(void) { return ext() + 1; }", &["-O2", "-fPIC"]);
    let e = symbol_entry(&obj, "ext");
    obj[e + 4] &= 0x0f; // STB_LOCAL
    check_bad(&obj, "undef-local.o", MALFORMED, &[".text+0x", "(relocation 0)", "undefined but local"]);
}

#[test]
fn a_symbol_table_whose_first_global_lies_beyond_it_is_refused() {
    let mut obj = good_object().to_vec();
    let symtab = sections(&obj).into_iter().find(|s| s.sh_type == 2).unwrap();
    put_u32(&mut obj, symtab.header + 44, 0xffff_ffff);
    check_bad(&obj, "symtab-info.o", MALFORMED, &["symbol table", "4294967295"]);
}

#[test]
fn a_relocation_section_for_section_zero_is_refused() {
    let good = good_object();
    let text = sections(good).iter().position(|s| s.name == ".text").unwrap();
    let rela = sections(good).into_iter().find(|s| s.sh_type == 4 && s.info as usize == text).unwrap();
    let mut obj = good.to_vec();
    put_u32(&mut obj, rela.header + 44, 0);
    check_bad(&obj, "rela-info0.o", MALFORMED, &["target section 0"]);
}

#[test]
fn a_tls_relocation_against_a_variable_that_is_not_thread_local_says_which_and_where() {
    let obj = common::assemble(".text\n.globl f\nf:\n\tmovl %fs:plain@tpoff, %eax\n\tret\n.section .note.GNU-stack,\"\",@progbits\n", &[]);
    let mut l = Linker::new();
    l.load_object(&compile_c("int plain = 1;", &["-O2"]), "plain.o").unwrap();
    let bad = l.load_object(&obj, "tls.o").unwrap();
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MalformedObject, "{e}");
    for part in ["tls.o", "`plain`", "obj 0 defines", "not thread-local", "(at .text+0x", "R_X86_64_TPOFF32"] {
        assert!(e.message().contains(part), "{part:?} missing from: {e}");
    }
    l.remove_object(bad).unwrap();
    assert_recovers(&mut l);
}

#[test]
fn many_unresolved_symbols_are_counted_and_the_first_hundred_named() {
    let refs: String = (0..150).map(|k| format!("extern long u{k}; ")).collect();
    let sum: String = (0..150).map(|k| format!("+ u{k}")).collect();
    let obj = compile_c(&format!("{refs}\nlong f(void) {{ return 0 {sum}; }}"), &["-O2", "-fPIC"]);
    let mut l = Linker::new();
    l.load_object(&obj, "many.o").unwrap();
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnresolvedSymbol);
    let m = e.message();
    assert!(m.starts_with("150 unresolved symbols:"), "{m}");
    assert!(m.contains("`u0` (referenced by obj 0 (many.o))"), "{m}");
    assert!(m.ends_with(", and 50 more"), "{m}");
    assert_eq!(m.matches("referenced by").count(), 100);
}

#[test]
fn a_lookup_of_a_huge_name_keeps_the_message_short() {
    let l = Linker::new();
    let name = "x".repeat(16 << 20);
    let e = l.lookup(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().len() < 400 && e.message().contains(&format!("({} bytes)", 16 << 20)), "{}", e.message().len());
    assert!(l.lookup("short_name").unwrap_err().message().contains("`short_name`"));
}

#[test]
fn a_section_cannot_be_moved_past_the_end_of_the_address_space() {
    let mut l = Linker::new();
    let id = l.load_object(good_object(), "good.o").unwrap();
    let sid = l.object_sections(id).unwrap()[0];
    assert!(l.section(sid).unwrap().size > 16);
    // SAFETY: refused (the target range wraps): nothing moves.
    let e = unsafe { l.map_section(sid, !0xf) }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("end of the address space"), "{e}");
    l.finalize().unwrap();
    // SAFETY: `good_value` is `int good_value(void)`, linked and finalized.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(l.lookup("good_value").unwrap() as usize) };
    assert_eq!(f(), GOOD_VALUE);
}
