//! Linking semantics through the Rust API: symbol rules, remap and repeated
//! finalize, resolver changes, relocation retention, inspection.

mod common;

/// A linker whose default memory manager can map its regions twice.
fn dual() -> Linker {
    Linker::with_memory_manager(Box::new(DefaultMemoryManager::with_dual_mapping()))
}

use rtdyld::{DefaultMemoryManager, ErrorKind, Linker, SectionKind};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Compiles C source to an object with gcc and returns its bytes.
fn cc(src: &str, flags: &[&str]) -> Vec<u8> {
    common::compile_c(src, flags)
}

fn call0(linker: &Linker, name: &str) -> i64 {
    let addr = linker.lookup(name).unwrap();
    // SAFETY: the test defines `name` as `long name(void)`.
    let f: extern "C" fn() -> i64 = unsafe { std::mem::transmute(addr as usize) };
    f()
}

fn call1(linker: &Linker, name: &str, x: i64) -> i64 {
    let addr = linker.lookup(name).unwrap();
    // SAFETY: the test defines `name` as `long name(long)`.
    let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(addr as usize) };
    f(x)
}

extern "C" fn host_add(a: i64, b: i64) -> i64 {
    a + b
}
extern "C" fn host_mul(a: i64, b: i64) -> i64 {
    a * b
}

#[test]
fn strong_beats_weak_in_either_order() {
    let weak = cc("__attribute__((weak)) long pick(void) { return 1; } long via_weak_obj(void) { return pick(); }", &["-O2", "-fPIC"]);
    let strong = cc("long pick(void) { return 2; } long via_strong_obj(void) { return pick(); }", &["-O2", "-fPIC"]);
    for order in [[&weak, &strong], [&strong, &weak]] {
        let mut l = dual();
        l.load_object(order[0], "first.o").unwrap();
        l.load_object(order[1], "second.o").unwrap();
        l.finalize().unwrap();
        assert_eq!(call0(&l, "pick"), 2);
        assert_eq!(call0(&l, "via_weak_obj"), 2, "the weak object's own call must bind to the strong definition");
        assert_eq!(call0(&l, "via_strong_obj"), 2);
    }
}

#[test]
fn two_strong_definitions_are_an_error_naming_both() {
    let a = cc("long dup_sym(void) { return 1; }", &["-O2"]);
    let b = cc("long dup_sym(void) { return 2; }", &["-O2"]);
    let mut l = dual();
    l.load_object(&a, "a.o").unwrap();
    let e = l.load_object(&b, "b.o").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DuplicateSymbol);
    assert!(e.message().contains("dup_sym") && e.message().contains("a.o") && e.message().contains("b.o"), "{e}");
    // The failed object left nothing behind; the linker still works.
    l.finalize().unwrap();
    assert_eq!(call0(&l, "dup_sym"), 1);
    assert_eq!(l.object_count(), 1);
}

#[test]
fn local_symbols_stay_private() {
    let a = cc("static long helper(void) { return 10; } long from_a(void) { return helper(); }", &["-O0"]);
    let b = cc("static long helper(void) { return 20; } long from_b(void) { return helper(); }", &["-O0"]);
    let mut l = dual();
    l.load_object(&a, "a.o").unwrap();
    l.load_object(&b, "b.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "from_a"), 10);
    assert_eq!(call0(&l, "from_b"), 20);
    assert_eq!(l.lookup("helper").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn common_symbols_are_laid_out_zeroed_and_shared() {
    let a = cc("long shared_c; long bump_a(void) { return ++shared_c; }", &["-O2", "-fcommon"]);
    let b = cc("long shared_c; long bump_b(void) { return shared_c += 10; }", &["-O2", "-fcommon"]);
    let big = cc("__attribute__((aligned(64))) char big_c[1000]; long big_addr(void) { return (long)big_c; }", &["-O2", "-fcommon"]);
    let mut l = dual();
    l.load_object(&a, "a.o").unwrap();
    l.load_object(&b, "b.o").unwrap();
    l.load_object(&big, "big.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "bump_a"), 1);
    assert_eq!(call0(&l, "bump_b"), 11);
    assert_eq!(call0(&l, "bump_a"), 12);
    assert_eq!(call0(&l, "big_addr") % 64, 0);
}

#[test]
fn the_largest_common_symbol_binds_whatever_the_load_order() {
    // As in a static link: `int table[4]` in one unit and `int table[8]`
    // in another give one table of 8. Were the first loaded kept, big.o
    // would write past its end, into big_data.
    let small = cc("int table[4]; long small_addr(void) { return (long)table; }", &["-O1", "-fcommon", "-fPIC"]);
    let big = cc(
        "int table[8]; int big_data[4] = {7, 7, 7, 7};\n\
         long big_addr(void) { return (long)table; }\n\
         long fill(void) { for (int i = 0; i < 8; i++) table[i] = -1; return big_data[0]; }",
        &["-O1", "-fcommon", "-fPIC"],
    );
    let bigger = cc("int table[64]; long bigger_addr(void) { return (long)table; }", &["-O1", "-fcommon", "-fPIC"]);
    let mut l = dual();
    l.load_object(&small, "small.o").unwrap();
    l.load_object(&big, "big.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "fill"), 7, "the table of 8 ints does not overlap big_data");
    let table = call0(&l, "small_addr");
    assert_eq!(call0(&l, "big_addr"), table);
    assert_eq!(l.lookup("table").unwrap() as i64, table);
    // A larger one loaded later takes over at the next finalize, for all.
    let bigger_id = l.load_object(&bigger, "bigger.o").unwrap();
    l.finalize().unwrap();
    let table = call0(&l, "bigger_addr");
    assert_eq!(call0(&l, "small_addr"), table);
    assert_eq!(call0(&l, "big_addr"), table);
    // When it goes, the largest of the rest (big.o's) takes over again.
    l.remove_object(bigger_id).unwrap();
    l.finalize().unwrap();
    let table = call0(&l, "big_addr");
    assert_eq!(call0(&l, "small_addr"), table);
    assert_eq!(call0(&l, "fill"), 7);
}

#[test]
fn large_common_symbols_of_the_medium_and_large_models_are_laid_out_like_common_ones() {
    // Above the large-data threshold (64 KiB), gcc gives a tentative
    // definition the section index SHN_X86_64_LCOMMON.
    for flags in [
        &["-O2", "-fcommon", "-mcmodel=medium"][..],
        &["-O2", "-fcommon", "-mcmodel=medium", "-fPIC"],
        &["-O0", "-fcommon", "-mcmodel=large"],
    ] {
        let a = cc("char lbig[100000]; long set_lbig(void) { lbig[99999] = 7; return lbig[0]; }", flags);
        let b = cc("char lbig[100000]; long get_lbig(void) { return lbig[99999] + lbig[12345]; }", flags);
        let mut l = dual();
        l.load_object(&a, "a.o").unwrap();
        l.load_object(&b, "b.o").unwrap();
        l.finalize().unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        assert_eq!(call0(&l, "set_lbig"), 0, "{flags:?}");
        assert_eq!(call0(&l, "get_lbig"), 7, "{flags:?}: both objects share one zeroed lbig");
    }
}

#[test]
fn large_model_data_beyond_two_gigabytes_lies_away_from_the_code() {
    // -mcmodel=medium: arrays above the threshold go to .lbss/.ldata,
    // reached through 64-bit offsets; small data keeps 32-bit ones. Laid
    // out between the code and the small data, 3 GiB of .lbss put the
    // small data out of reach. (Untouched, the .lbss costs no memory.)
    let obj = cc(
        "#define BIG (3UL << 30)\nchar huge_bss[BIG]; char huge_data[1 << 20] = {1, 2, 3}; static char small[64] = \"small\";\n\
         long touch(void) { huge_bss[0] = 1; huge_bss[BIG - 1] = 2; huge_data[(1 << 20) - 1] = 9;\n\
         small[1] += 1; return huge_bss[0] + huge_bss[BIG - 1] + huge_data[1] + huge_data[(1 << 20) - 1] + small[1]; }",
        &["-O2", "-mcmodel=medium", "-fPIC"],
    );
    let mut l = dual();
    l.load_object(&obj, "big.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "touch"), 1 + 2 + 2 + 9 + i64::from(b'm') + 1);
    common::remap_everything(&mut l);
    l.finalize().unwrap();
    assert_eq!(call0(&l, "touch"), 1 + 2 + 2 + 9 + i64::from(b'm') + 2);
}

#[test]
fn a_default_version_definition_also_defines_the_plain_name() {
    // `.symver` renames definitions: `foo@@V2` (the default version) is
    // what a reference to plain `foo` binds to in a static link; `foo@V1`
    // (a non-default version) only answers to its full name.
    let lib = cc(
        "long foo_v1(void) { return 1; } long foo_v2(void) { return 2; } long bar_v1(void) { return 3; }\n\
         __asm__(\".symver foo_v1, foo@VERS_1\"); __asm__(\".symver foo_v2, foo@@VERS_2\");\n\
         __asm__(\".symver bar_v1, bar@VERS_1\");",
        &["-O2", "-fPIC"],
    );
    let user = cc("long foo(void); long use_foo(void) { return foo() * 10; }", &["-O2", "-fPIC"]);
    let mut l = dual();
    l.load_object(&lib, "versioned.o").unwrap();
    l.load_object(&user, "user.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "use_foo"), 20, "plain foo is the default version, foo@@VERS_2");
    assert_eq!(l.lookup("foo").unwrap(), l.lookup("foo@@VERS_2").unwrap());
    assert_ne!(l.lookup("foo@VERS_1").unwrap(), l.lookup("foo").unwrap());
    assert!(l.lookup("bar").is_err(), "a non-default version does not define the plain name");

    // The plain name clashes with another object's strong definition, as
    // in a static link.
    let other = cc("long foo(void) { return 9; }", &["-O2", "-fPIC"]);
    let mut l = dual();
    l.load_object(&other, "other.o").unwrap();
    let e = l.load_object(&lib, "versioned.o").unwrap_err();
    assert!(e.to_string().contains("duplicate definition of `foo`"), "{e}");
}

#[test]
fn target_clones_and_cpu_feature_tests_link() {
    // Their resolvers read __cpu_model (and call __cpu_indicator_init),
    // which libgcc_s exports only under the version GCC_4.8.0.
    let src = "__attribute__((target_clones(\"avx2\",\"default\"))) long twice(long x) { return x * 2; }\n\
               long cloned(void) { return twice(21) + (__builtin_cpu_supports(\"sse2\") ? 100 : 0); }";
    for flags in [&["-O2", "-fPIC"][..], &["-O0", "-fPIE"]] {
        let mut l = dual();
        l.load_object(&cc(src, flags), "clones.o").unwrap();
        l.finalize().unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        assert_eq!(call0(&l, "cloned"), 142, "{flags:?}: x86-64 always has SSE2");
    }
}

#[test]
fn objects_whose_tables_are_not_aligned_load() {
    // TinyCC and yasm align the section header, symbol and relocation
    // tables to 4 only in the file; a client's buffer may sit anywhere.
    let obj = cc("long counter = 5; long bump(long x) { return counter += x; }", &["-O2", "-fPIC"]);
    let u16_at = |d: &[u8], o: usize| u16::from_le_bytes([d[o], d[o + 1]]) as usize;
    let u64_at = |d: &[u8], o: usize| u64::from_le_bytes(d[o..o + 8].try_into().unwrap()) as usize;
    // Each table moves to the end of the file, at an offset of 4 modulo 8.
    let mut moved = obj.clone();
    let (shoff, shnum) = (u64_at(&obj, 0x28), u16_at(&obj, 0x3c));
    for k in 0..shnum {
        let h = shoff + k * 64;
        let sh_type = u32::from_le_bytes(obj[h + 4..h + 8].try_into().unwrap());
        if sh_type == 2 || sh_type == 4 {
            let (off, size) = (u64_at(&obj, h + 24), u64_at(&obj, h + 32));
            moved.resize(moved.len().next_multiple_of(8) + 4, 0);
            let at = moved.len() as u64;
            moved.extend_from_slice(&obj[off..off + size]);
            moved[h + 24..h + 32].copy_from_slice(&at.to_le_bytes());
        }
    }
    moved.resize(moved.len().next_multiple_of(8) + 4, 0);
    let at = moved.len() as u64;
    let headers = moved[shoff..shoff + shnum * 64].to_vec();
    moved.extend_from_slice(&headers);
    moved[0x28..0x30].copy_from_slice(&at.to_le_bytes());
    for shift in [0, 1, 4] {
        let mut buf = vec![0u8; moved.len() + 16];
        let at = (8 - buf.as_ptr() as usize % 8) % 8 + shift;
        buf[at..at + moved.len()].copy_from_slice(&moved);
        let mut l = dual();
        l.load_object(&buf[at..at + moved.len()], "moved.o").unwrap();
        l.finalize().unwrap();
        assert_eq!(call1(&l, "bump", 2), 7, "shifted by {shift}");
    }
}

#[test]
fn unresolved_cxx_names_are_shown_demangled_too() {
    rtdyld::host::open_library("stdc++").unwrap();
    let obj = common::compile(
        "g++",
        "c++",
        "namespace ns { int missing(const char *, double); }\nint f() { return ns::missing(\"a\", 1.0); }",
        &["-O2", "-fPIC"],
    );
    let mut l = dual();
    l.load_object(&obj, "cxx.o").unwrap();
    let e = l.finalize().unwrap_err();
    assert!(e.message().contains("`_ZN2ns7missingEPKcd` (ns::missing(char const*, double)) (referenced by obj 0 (cxx.o))"), "{e}");
}

#[test]
fn unresolved_symbols_are_all_named_and_a_later_finalize_can_succeed() {
    let obj = cc(
        "long missing_one(long); long missing_two(long); long use_both(long x) { return missing_one(x) + missing_two(x); }",
        &["-O2", "-fPIC"],
    );
    let mut l = dual();
    l.load_object(&obj, "user.o").unwrap();
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnresolvedSymbol);
    assert!(e.message().contains("missing_one") && e.message().contains("missing_two") && e.message().contains("user.o"), "{e}");
    extern "C" fn one(x: i64) -> i64 {
        x + 1
    }
    extern "C" fn two(x: i64) -> i64 {
        x * 2
    }
    l.set_resolver(Some(Box::new(|n: &str| match n {
        "missing_one" => Some(one as *const () as usize as u64),
        "missing_two" => Some(two as *const () as usize as u64),
        _ => None,
    })));
    l.finalize().unwrap();
    assert_eq!(call1(&l, "use_both", 5), 6 + 10);
}

#[test]
fn weak_undefined_references_resolve_to_zero() {
    let obj = cc("extern long maybe(void) __attribute__((weak)); long has_maybe(void) { return maybe ? 1 : 0; }", &["-O2", "-fPIC"]);
    let mut l = dual();
    l.load_object(&obj, "w.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "has_maybe"), 0);
}

const REMAP_SRC: &str = r#"
long host_op(long, long);
long counter = 5;
static const long table[4] = {100, 200, 300, 400};
__attribute__((noinline, section(".text.other"))) long other_section(long i) { return table[i & 3] + counter; }
long entry(long i) { counter++; return other_section(i) + host_op(i, 3); }
long counter_addr(void) { return (long)&counter; }
"#;

#[test]
fn remap_and_finalize_again_with_the_default_manager() {
    for flags in [&["-O2", "-fPIC"][..], &["-O2", "-fno-pic"], &["-O0", "-mcmodel=large"], &["-O2"]] {
        let obj = cc(REMAP_SRC, flags);
        let mut l = dual();
        let op = std::sync::Arc::new(AtomicUsize::new(host_add as *const () as usize));
        let op2 = op.clone();
        l.set_resolver(Some(Box::new(move |n: &str| (n == "host_op").then(|| op2.load(Ordering::SeqCst) as u64))));
        l.load_object(&obj, "remap.o").unwrap();
        l.finalize().unwrap();
        let first_entry = l.lookup("entry").unwrap();
        assert_eq!(call1(&l, "entry", 1), 200 + 6 + 4, "{flags:?}");

        // Move every section to a second mapping and relink.
        common::remap_everything(&mut l);
        l.finalize().unwrap();
        assert_ne!(l.lookup("entry").unwrap(), first_entry);
        assert_eq!(call1(&l, "counter_addr", 0) as u64, l.lookup("counter").unwrap());
        // Only the new addresses may be used from now on.
        l.memory_manager_mut::<DefaultMemoryManager>().unwrap().seal_local_views().unwrap();
        assert_eq!(call1(&l, "entry", 2), 300 + 7 + 5, "{flags:?}");

        // A different external address: code is executable already.
        op.store(host_mul as *const () as usize, Ordering::SeqCst);
        l.refresh_external(Some(b"host_op"));
        l.finalize().unwrap();
        assert_eq!(call1(&l, "entry", 2), 300 + 8 + 6, "{flags:?}");
        l.memory_manager_mut::<DefaultMemoryManager>().unwrap().seal_local_views().unwrap();
        assert_eq!(call1(&l, "entry", 3), 400 + 9 + 9, "{flags:?}");
    }
}

#[test]
fn the_resolver_is_asked_about_a_name_once_until_told_it_changed() {
    // A remote JIT's resolver may be a round trip to another process: a
    // finalize asks only about names new to it, or not found before, or
    // that the client says changed.
    let obj = cc(
        "long host_op(long, long); long maybe(void); long e(long x) { return host_op(x, 3); }\n\
                  long m(void) { return maybe(); }",
        &["-O2", "-fPIC"],
    );
    let asked: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let op = std::sync::Arc::new(AtomicUsize::new(host_add as *const () as usize));
    let knows_maybe = std::sync::Arc::new(AtomicUsize::new(0));
    let resolver =
        |asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>, op: std::sync::Arc<AtomicUsize>, k: std::sync::Arc<AtomicUsize>| {
            Box::new(move |n: &str| {
                asked.lock().unwrap().push(n.to_string());
                match n {
                    "host_op" => Some(op.load(Ordering::SeqCst) as u64),
                    "maybe" if k.load(Ordering::SeqCst) != 0 => Some(host_mul as *const () as u64),
                    _ => None,
                }
            })
        };
    let take = |a: &std::sync::Arc<std::sync::Mutex<Vec<String>>>| {
        let mut v = std::mem::take(&mut *a.lock().unwrap());
        v.sort();
        v
    };
    let mut l = dual();
    l.set_resolver(Some(resolver(asked.clone(), op.clone(), knows_maybe.clone())));
    l.load_object(&obj, "e.o").unwrap();
    assert!(l.finalize().is_err(), "maybe is unresolved");
    assert_eq!(take(&asked), ["host_op", "maybe"]);
    // Only the name not found is asked again.
    knows_maybe.store(1, Ordering::SeqCst);
    l.finalize().unwrap();
    assert_eq!(take(&asked), ["maybe"]);
    assert_eq!(call1(&l, "e", 4), 7);
    l.finalize().unwrap();
    assert!(take(&asked).is_empty(), "nothing changed: nothing is asked");
    // A new answer counts once the client says so.
    op.store(host_mul as *const () as usize, Ordering::SeqCst);
    l.finalize().unwrap();
    assert!(take(&asked).is_empty());
    assert_eq!(call1(&l, "e", 4), 7, "the answer given before still holds");
    l.refresh_external(Some(b"host_op"));
    l.refresh_external(Some(b"no_such_name"));
    l.finalize().unwrap();
    assert_eq!(take(&asked), ["host_op"]);
    assert_eq!(call1(&l, "e", 4), 12);
    // Every name: on request, and with a new resolver.
    l.refresh_external(None);
    l.finalize().unwrap();
    assert_eq!(take(&asked), ["host_op", "maybe"]);
    op.store(host_add as *const () as usize, Ordering::SeqCst);
    l.set_resolver(Some(resolver(asked.clone(), op.clone(), knows_maybe.clone())));
    l.finalize().unwrap();
    assert_eq!(take(&asked), ["host_op", "maybe"]);
    assert_eq!(call1(&l, "e", 4), 7);
    // Settings that re-apply every relocation ask nothing.
    l.set_register_eh_frames(true);
    l.finalize().unwrap();
    l.set_retain_relocations(false);
    l.finalize().unwrap();
    assert!(take(&asked).is_empty());
    assert_eq!(call1(&l, "e", 4), 7);
}

#[test]
fn symbols_in_empty_sections_are_defined() {
    // gcc puts a function whose body is `__builtin_unreachable()` at offset
    // 0 of an empty .text.unlikely; a label may end up alone in an empty
    // data section. Both are definitions, with an address, in a static
    // link too (jemalloc has 42 such functions).
    let obj = common::assemble(
        ".section .text.unlikely,\"ax\",@progbits\n.globl never_called\n.type never_called,@function\nnever_called:\n\
         .section .data.empty,\"aw\",@progbits\n.globl empty_data\nempty_data:\n\
         .text\n.globl where\nwhere:\n\tleaq never_called(%rip), %rax\n\tret\n\
         .globl where_data\nwhere_data:\n\tmovq empty_data@GOTPCREL(%rip), %rax\n\tret\n\
         .section .note.GNU-stack,\"\",@progbits\n",
        &[],
    );
    let user = cc(
        "void never_called(int); extern char empty_data[];\n\
                   long f(long x) { if (x == 12345) never_called(1); return (long)&never_called; }\n\
                   long g(long x) { return (long)empty_data + x; }",
        &["-O2", "-fPIC"],
    );
    let mut l = dual();
    l.load_object(&obj, "empty.o").unwrap();
    l.load_object(&user, "user.o").unwrap();
    l.finalize().unwrap();
    let never = l.lookup("never_called").unwrap();
    let data = l.lookup("empty_data").unwrap();
    assert_ne!(never, 0);
    assert_eq!(call1(&l, "where", 0) as u64, never);
    assert_eq!(call1(&l, "f", 0) as u64, never);
    assert_eq!(call1(&l, "where_data", 0) as u64, data);
    assert_eq!(call1(&l, "g", 0) as u64, data);
    common::remap_everything(&mut l);
    l.finalize().unwrap();
    assert_eq!(call1(&l, "f", 0) as u64, l.lookup("never_called").unwrap());
    assert_eq!(call1(&l, "g", 0) as u64, l.lookup("empty_data").unwrap());
}

#[test]
fn local_symbols_in_empty_sections_have_addresses() {
    // gcc -O2 leaves a static function whose body is
    // `__builtin_unreachable()` as a label in an empty .text.unlikely; its
    // address, taken, goes through the section symbol. It must not be 0.
    let obj = cc(
        "__attribute__((noinline, cold)) static void never(void) { __builtin_unreachable(); }\n\
         void (*volatile table[1])(void) = { never };\n\
         long taken(void) { return (long)table[0]; }",
        &["-O2"],
    );
    // The same by hand: a local label, reached through a relocation of
    // code and one of data.
    let asm = common::assemble(
        ".section .text.unlikely,\"ax\",@progbits\n.type alone,@function\nalone:\n\
         .data\n.globl alone_table\nalone_table:\n\t.quad alone\n\
         .text\n.globl where_alone\nwhere_alone:\n\tleaq alone(%rip), %rax\n\tret\n\
         .section .note.GNU-stack,\"\",@progbits\n",
        &[],
    );
    let mut l = dual();
    l.load_object(&obj, "never.o").unwrap();
    l.load_object(&asm, "alone.o").unwrap();
    l.finalize().unwrap();
    let check = |l: &Linker| {
        let never = call0(l, "taken");
        assert_ne!(never, 0);
        let alone = call0(l, "where_alone");
        assert_ne!(alone, 0);
        // SAFETY: alone_table is a loaded, readable 8-byte slot.
        assert_eq!(unsafe { *(l.lookup("alone_table").unwrap() as *const i64) }, alone);
    };
    check(&l);
    common::remap_everything(&mut l);
    l.finalize().unwrap();
    check(&l);
}

#[test]
fn alignment_beyond_a_page_survives_a_remap_to_an_alias() {
    // The alias of a region lies at the same address modulo the largest
    // alignment in it (1 MiB here), not only on a page boundary.
    let obj = cc(
        "__attribute__((aligned(1 << 20))) char big_al[100] = {1};\n\
         __attribute__((aligned(1 << 20))) static char big_bss[100];\n\
         __attribute__((aligned(1 << 16))) long f(void) { return 1; }\n\
         long check(void) { big_bss[3] = 2; return big_al[0] + big_bss[3] + f(); }",
        &["-O0", "-fPIC"],
    );
    let mut l = dual();
    l.load_object(&obj, "align.o").unwrap();
    l.finalize().unwrap();
    common::remap_everything(&mut l);
    l.finalize().unwrap();
    l.memory_manager_mut::<DefaultMemoryManager>().unwrap().seal_local_views().unwrap();
    assert_eq!(l.lookup("big_al").unwrap() % (1 << 20), 0);
    assert_eq!(l.lookup("f").unwrap() % (1 << 16), 0);
    assert_eq!(call0(&l, "check"), 4);
}

#[test]
fn a_gigabyte_of_bss_in_non_pic_code_is_placed_low() {
    // -fno-pic code needs its memory in the low 2 GiB; the kernel's
    // MAP_32BIT window is only 1 GiB, so rtdyld looks for room itself.
    let obj = cc(
        "static char huge[1UL << 30];\nlong touch(void) { huge[0] = 1; huge[sizeof huge - 1] = 2; return huge[0] + huge[sizeof huge - 1]; }",
        &["-O2", "-fno-pic"],
    );
    let mut l = Linker::new();
    l.load_object(&obj, "huge.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "touch"), 3);
    assert!(l.lookup("touch").unwrap() < 1 << 31);
}

#[test]
fn dropping_relocations_forbids_remapping() {
    let obj = cc(REMAP_SRC, &["-O2", "-fPIC"]);
    let mut l = dual();
    l.set_resolver(Some(Box::new(|n: &str| (n == "host_op").then_some(host_add as *const () as usize as u64))));
    l.set_retain_relocations(false);
    l.load_object(&obj, "r.o").unwrap();
    assert!(l.retained_relocation_count() > 0);
    l.finalize().unwrap();
    assert_eq!(l.retained_relocation_count(), 0);
    assert_eq!(l.retained_relocation_bytes(), 0);
    assert_eq!(call1(&l, "entry", 0), 100 + 6 + 3);
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    let e = unsafe { l.map_section(0, 0x1000) }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState);
    l.finalize().unwrap();
    assert_eq!(call1(&l, "entry", 0), 100 + 7 + 3);
}

#[test]
fn dropping_relocations_forbids_removing_what_others_refer_to() {
    // Without its relocations, user.o cannot be relinked: the definition
    // it calls must stay (removing it would leave the call pointing into
    // released memory, and a later definition would never be applied).
    let lib = cc("long lib_fn(long x) { return x + 40; }", &["-O2", "-fPIC"]);
    let user = cc("long lib_fn(long); long user(long x) { return lib_fn(x); }", &["-O2", "-fPIC"]);
    let other = cc("long other(void) { return 5; }", &["-O2", "-fPIC"]);
    let mut l = dual();
    l.set_retain_relocations(false);
    let lib_id = l.load_object(&lib, "lib.o").unwrap();
    let user_id = l.load_object(&user, "user.o").unwrap();
    let other_id = l.load_object(&other, "other.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call1(&l, "user", 2), 42);
    let e = l.remove_object(lib_id).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState);
    assert!(e.to_string().contains("user.o") && e.to_string().contains("lib_fn"), "{e}");
    // Refused without a change: everything still runs.
    l.finalize().unwrap();
    assert_eq!(call1(&l, "user", 2), 42);
    // What nothing refers to goes; so does the definition once its user has.
    l.remove_object(other_id).unwrap();
    l.remove_object(user_id).unwrap();
    l.remove_object(lib_id).unwrap();
    l.finalize().unwrap();
    // NULL is no section's local address (a .tbss has none): a bad argument.
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    assert_eq!(unsafe { l.map_section_address(std::ptr::null(), 0x1000) }.unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn retained_relocations_take_16_bytes_each() {
    let mut src = String::from("long ext(long);\nlong g[64];\n");
    for i in 0..200 {
        src.push_str(&format!("long f{i}(long x) {{ return ext(x + {i}) + g[{}] ; }}\n", i % 64));
    }
    let obj = cc(&src, &["-O2", "-fPIC"]);
    let mut l = dual();
    l.load_object(&obj, "many.o").unwrap();
    let n = l.retained_relocation_count();
    assert!(n >= 400, "{n}");
    let per = l.retained_relocation_bytes() as f64 / n as f64;
    println!("retained: {n} relocations, {} bytes, {per:.2} bytes per relocation", l.retained_relocation_bytes());
    assert!(per <= 16.0, "{per}");
}

#[test]
fn no_page_is_writable_and_executable() {
    let obj = cc(REMAP_SRC, &["-O2", "-fPIC"]);
    let mut l = dual();
    l.set_resolver(Some(Box::new(|n: &str| (n == "host_op").then_some(host_add as *const () as usize as u64))));
    let check = || {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let perms = line.split_whitespace().nth(1).unwrap();
            assert!(!(perms.contains('w') && perms.contains('x')), "W+X mapping: {line}");
        }
    };
    l.load_object(&obj, "wx.o").unwrap();
    check();
    l.finalize().unwrap();
    check();
    common::remap_everything(&mut l);
    l.finalize().unwrap();
    check();
    assert_eq!(call1(&l, "entry", 0), 100 + 6 + 3);
}

#[test]
fn objects_can_be_inspected() {
    let obj = cc(
        "long data_sym = 3; const long ro_sym = 4; long bss_sym; long code_sym(void) { return data_sym + ro_sym + bss_sym; }",
        &["-O2", "-fPIC"],
    );
    let mut l = dual();
    let id = l.load_object(&obj, "inspect.o").unwrap();
    let mut kinds = std::collections::HashMap::new();
    for &sid in l.object_sections(id).unwrap() {
        let s = l.section(sid).unwrap();
        assert_eq!(s.object, id);
        assert_eq!(s.target, s.local as u64);
        kinds.insert(s.name.to_str().unwrap().to_owned(), s.kind);
    }
    assert_eq!(kinds[".text"], SectionKind::Code);
    assert_eq!(kinds[".data"], SectionKind::ReadWriteData);
    assert_eq!(kinds[".bss"], SectionKind::ZeroFill);
    assert_eq!(kinds[".rodata"], SectionKind::ReadOnlyData);
    let mut names = vec![];
    for k in 0..l.object_symbol_count(id).unwrap() {
        let s = l.object_symbol(id, k).unwrap();
        assert_eq!(s.target, l.lookup(s.name.to_str().unwrap()).unwrap());
        names.push((s.name.to_str().unwrap().to_owned(), s.is_function));
    }
    names.sort();
    assert_eq!(names, vec![("bss_sym".into(), false), ("code_sym".into(), true), ("data_sym".into(), false), ("ro_sym".into(), false)]);
    l.finalize().unwrap();
    assert_eq!(call0(&l, "code_sym"), 7);
    assert_eq!(l.lookup("nope").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(l.section(9999).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn cross_object_references_follow_a_remap_and_later_definitions() {
    let a = cc(
        "extern long b_value; long b_func(long); __attribute__((weak)) long late(void) { return -1; }\n\
         long a_entry(long x) { return b_func(x) + b_value + late(); }",
        &["-O2", "-fPIC"],
    );
    let b = cc("long b_value = 1000; long b_func(long x) { return x * 3; }", &["-O2", "-fno-pic"]);
    let mut l = dual();
    l.load_object(&a, "a.o").unwrap();
    let b_id = l.load_object(&b, "b.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call1(&l, "a_entry", 2), 6 + 1000 - 1);

    // Move only b.o; a.o's references to it must follow.
    let mut aliases: Vec<rtdyld::memory::RegionAlias> = Vec::new();
    for &sid in l.object_sections(b_id).unwrap().to_vec().iter() {
        let local = l.section(sid).unwrap().local;
        let a = match aliases.first() {
            Some(a) => *a,
            None => {
                let a = l.memory_manager_mut::<DefaultMemoryManager>().unwrap().alias(local).unwrap();
                aliases.push(a);
                a
            }
        };
        // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
        unsafe { l.map_section(sid, a.alias_base as u64 + (local as u64 - a.local_base as u64)) }.unwrap();
    }
    l.finalize().unwrap();
    let b_func = l.lookup("b_func").unwrap();
    assert!(b_func >= aliases[0].alias_base as u64 && b_func < aliases[0].alias_base as u64 + aliases[0].len as u64);
    l.memory_manager_mut::<DefaultMemoryManager>().unwrap().seal_local_views().unwrap();
    // a.o's own local view is sealed too, so call through a fresh finalize that unseals.
    l.finalize().unwrap();
    assert_eq!(call1(&l, "a_entry", 4), 12 + 1000 - 1);

    // A strong definition loaded later overrides the weak one in a.o.
    let c = cc("long late(void) { return 50; }", &["-O2"]);
    l.load_object(&c, "c.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call1(&l, "a_entry", 4), 12 + 1000 + 50);
}

#[test]
fn cxx_exceptions_work_after_only_the_code_moved() {
    // The unwinder sorts an object's table at the first throw and keeps
    // what it learned (libgcc: the lowest code address, below which it does
    // not look); moving the code (not .eh_frame) changes the table's
    // addresses in place, so it must be registered again. The code moves
    // down here, below where it was at the first throw.
    let src = "#include <stdexcept>\n\
               __attribute__((noinline)) static int thrower(int x) { if (x > 0) throw std::runtime_error(\"boom\"); return x; }\n\
               extern \"C\" long catch_it(long x) { try { return thrower(x); } catch (const std::exception &e) { return 100 + e.what()[0]; } }";
    let obj = common::compile("g++", "c++", src, &["-O2", "-fPIC"]);
    rtdyld::host::open_library("stdc++").unwrap();
    let mut l = dual();
    l.set_process_symbols(true);
    let id = l.load_object(&obj, "eh.o").unwrap();
    let sections = l.object_sections(id).unwrap().to_vec();
    let local_base = l.section(sections[0]).unwrap().local;
    let a = l.memory_manager_mut::<DefaultMemoryManager>().unwrap().alias(local_base).unwrap();
    let alias_of = |local: *mut u8| a.alias_base as u64 + (local as u64 - a.local_base as u64);
    let alias_is_lower = (a.alias_base as u64) < a.local_base as u64;
    if !alias_is_lower {
        // Everything at the (higher) alias first.
        for &sid in &sections {
            let s = l.section(sid).unwrap();
            if !s.kind.is_tls() {
                // SAFETY: the target is the alias of the section's own memory.
                unsafe { l.map_section(sid, alias_of(s.local)) }.unwrap();
            }
        }
    }
    l.finalize().unwrap();
    assert_eq!(call1(&l, "catch_it", 1), 100 + b'b' as i64);
    // Only the code moves: down to the alias, or back down to the local view.
    for &sid in &sections {
        let s = l.section(sid).unwrap();
        if s.kind == SectionKind::Code {
            let target = if alias_is_lower { alias_of(s.local) } else { s.local as u64 };
            assert!(target < s.target);
            // SAFETY: the target is the section's memory or its alias.
            unsafe { l.map_section(sid, target) }.unwrap();
        }
    }
    l.finalize().unwrap();
    assert_eq!(call1(&l, "catch_it", 1), 100 + b'b' as i64, "a throw after the code moved");
    assert_eq!(call1(&l, "catch_it", -3), -3);
}

#[test]
fn cxx_exceptions_cross_jit_frames_after_a_remap() {
    let src = "#include <stdexcept>\n\
               static int thrower(int x) { if (x > 0) throw std::runtime_error(\"boom\"); return x; }\n\
               extern \"C\" long catch_it(long x) { try { return thrower(x); } catch (const std::exception &e) { return 100 + e.what()[0]; } }";
    let obj = common::compile("g++", "c++", src, &["-O2", "-fPIC"]);
    rtdyld::host::open_library("stdc++").unwrap();
    let mut l = dual();
    l.set_process_symbols(true);
    l.load_object(&obj, "eh.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call1(&l, "catch_it", 1), 100 + b'b' as i64);
    common::remap_everything(&mut l);
    l.finalize().unwrap();
    l.memory_manager_mut::<DefaultMemoryManager>().unwrap().seal_local_views().unwrap();
    assert_eq!(call1(&l, "catch_it", 1), 100 + b'b' as i64);
    assert_eq!(call1(&l, "catch_it", -3), -3);
}

#[test]
fn no_pic_address_of_a_host_function_is_its_stub() {
    // `-fno-pic` code takes libc's `puts` with R_X86_64_32S/32; from low
    // memory the stub stands for it, as a non-PIE static link's PLT entry does.
    let obj = cc(
        "#include <string.h>\nsize_t (*data_ptr)(const char *) = strlen;\n\
         long call_both(void) { size_t (*q)(const char *) = strlen; return (long)(q(\"abcd\") * 10 + data_ptr(\"xy\")); }",
        &["-O2", "-fno-pic", "-fno-builtin"],
    );
    let mut l = dual();
    l.set_process_symbols(true);
    l.load_object(&obj, "fnaddr.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "call_both"), 42);
    // strlen is an IFUNC: its answer (__strlen_avx2, say) is in no dynamic
    // symbol table, but code all the same, so its stub stands for it too.
    let obj = cc(
        "#include <string.h>\nvoid *g;\nlong take(void) { g = (void *)strlen; return ((size_t (*)(const char *))g)(\"abc\"); }",
        &["-O2", "-fno-pic"],
    );
    let mut l = Linker::new();
    l.set_process_symbols(true);
    l.load_object(&obj, "ifunc_addr.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "take"), 3);
}

#[test]
fn a_host_function_has_one_address_in_all_loaded_code() {
    // `-fno-pic` code takes atoi's address with R_X86_64_32S in code and
    // R_X86_64_64 in data; PIC code with a GOT slot. As in a static link of
    // a non-PIE program, one stub (the first -fno-pic object's) is the
    // function's address everywhere, so every pointer to it compares equal.
    let nopic = |tag: &str| {
        cc(
            &format!(
                "#include <stdlib.h>\nint (*table_{tag}[])(const char *) = {{ atoi }};\n\
                 long code_{tag}(void) {{ return (long)atoi; }}\n\
                 long data_{tag}(void) {{ return (long)table_{tag}[0]; }}\n\
                 long call_{tag}(void) {{ return table_{tag}[0](\"42\") + ((int (*)(const char *))code_{tag}())(\"100\"); }}"
            ),
            &["-O2", "-fno-pic", "-fno-builtin"],
        )
    };
    let pic = cc("#include <stdlib.h>\nlong code_p(void) { return (long)atoi; }", &["-O2", "-fPIC", "-fno-builtin"]);
    let stubs_of = |l: &Linker, obj: u32| {
        l.object_sections(obj)
            .unwrap()
            .iter()
            .map(|&id| l.section(id).unwrap())
            .find(|s| s.name.to_bytes() == b"__rtdyld_stubs")
            .map(|s| (s.id, s.target))
    };
    let mut l = dual();
    l.set_process_symbols(true);
    let a = l.load_object(&nopic("a"), "a.o").unwrap();
    let b = l.load_object(&nopic("b"), "b.o").unwrap();
    l.load_object(&pic, "p.o").unwrap();
    l.finalize().unwrap();
    let addr = call0(&l, "code_a");
    for f in ["data_a", "code_b", "data_b", "code_p"] {
        assert_eq!(call0(&l, f), addr, "{f}");
    }
    let (stubs_a, target_a) = stubs_of(&l, a).unwrap();
    assert!((addr as u64) >= target_a && (addr as u64) < target_a + 4096, "a's stub stands for atoi");
    assert_eq!(call0(&l, "call_a"), 142);
    assert_eq!(call0(&l, "call_b"), 142);

    // The stub moves: so does every pointer to the function.
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { l.map_section(stubs_a, target_a + 0x10000) }.unwrap();
    l.finalize().unwrap();
    for f in ["code_a", "data_a", "code_b", "data_b", "code_p"] {
        assert_eq!(call0(&l, f), addr + 0x10000, "{f} after the move");
    }
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { l.map_section(stubs_a, target_a) }.unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "code_p"), addr);

    // Its object goes: b's stub takes over.
    l.remove_object(a).unwrap();
    l.finalize().unwrap();
    let (_, target_b) = stubs_of(&l, b).unwrap();
    let addr_b = call0(&l, "code_b");
    assert!((addr_b as u64) >= target_b && (addr_b as u64) < target_b + 4096, "b's stub stands for atoi now");
    assert_eq!(call0(&l, "data_b"), addr_b);
    assert_eq!(call0(&l, "code_p"), addr_b);
    assert_eq!(call0(&l, "call_b"), 142);
}

static mut NEAR_A: i64 = 5;
extern "C" {
    static environ: *const *const std::ffi::c_char;
}

#[test]
fn objects_placed_near_host_data_far_apart_say_so_when_they_cannot_reach_each_other() {
    // PIE code reaches writable host data PC-relatively (a static link
    // copies it into the executable); rtdyld places each such object near
    // its data. Here that is the test program's data for a.o and the C
    // library's for b.o, terabytes apart, and a.o refers to b.o's `gv`.
    let a = cc("extern long near_a; extern long gv; long fa(void) { return near_a + gv; }", &["-O2", "-fPIE"]);
    let b = cc("extern char **near_b; long gv = 7; long fb(void) { return near_b != 0; }", &["-O2", "-fPIE"]);
    let addr_a = std::ptr::addr_of!(NEAR_A) as u64;
    // (Only the address of the C library's `environ` is taken.)
    let addr_b = std::ptr::addr_of!(environ) as u64;
    assert!(addr_a.abs_diff(addr_b) > 1 << 32, "the program and the C library lie far apart");
    let mut l = Linker::new();
    l.set_resolver(Some(Box::new(move |n: &str| match n {
        "near_a" => Some(addr_a),
        "near_b" => Some(addr_b),
        _ => None,
    })));
    l.load_object(&a, "a.o").unwrap();
    l.load_object(&b, "b.o").unwrap();
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RelocationOverflow, "{e}");
    let m = e.to_string();
    assert!(m.contains("to `gv` overflows"), "{m}");
    assert!(m.contains("obj 0 (a.o) was placed near `near_a` and obj 1 (b.o) near `near_b`"), "{m}");
    assert!(m.contains("compile with -fPIC"), "{m}");
}

#[test]
fn an_object_placed_before_what_it_is_reached_from_says_that_load_order_matters() {
    // a.o needs nothing near it and is placed first; b.o, which reaches
    // a.o's `counter` and the C library's data PC-relatively, goes near
    // that data, out of a.o's reach. (Loaded the other way round, both
    // lie near the C library's data.)
    let a = cc("long counter = 41;", &["-O2", "-fPIE"]);
    let b = cc("extern long counter; extern char **near_b; long fb(void) { return counter + (near_b != 0); }", &["-O2", "-fPIE"]);
    let addr_b = std::ptr::addr_of!(environ) as u64;
    let resolver = move |n: &str| (n == "near_b").then_some(addr_b);
    let mut l = Linker::new();
    l.set_resolver(Some(Box::new(resolver)));
    l.load_object(&a, "a.o").unwrap();
    l.load_object(&b, "b.o").unwrap();
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RelocationOverflow, "{e}");
    let m = e.to_string();
    assert!(m.contains("obj 1 (b.o) was placed near `near_b`") && m.contains("obj 0 (a.o) was loaded before"), "{m}");
    let mut l = Linker::new();
    l.set_resolver(Some(Box::new(resolver)));
    l.load_object(&b, "b.o").unwrap();
    l.load_object(&a, "a.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "fb"), 42);
}

static HOST_TABLE: [i64; 4] = [1, 2, 3, 4];

#[test]
fn an_overflow_to_host_data_says_how_host_data_is_reached() {
    // -fno-pic code takes the address of the test program's table (not in
    // its dynamic symbol table, so its size is unknown and no copy is made).
    let obj = cc("extern const long host_table[4]; long second(void) { return host_table[1]; }", &["-O2", "-fno-pic"]);
    let addr = HOST_TABLE.as_ptr() as u64;
    let mut l = Linker::new();
    l.set_resolver(Some(Box::new(move |n: &str| (n == "host_table").then_some(addr))));
    l.load_object(&obj, "table.o").unwrap();
    match l.finalize() {
        // (Where the program lies within 2 GiB of low memory, it reaches.)
        Ok(()) => assert_eq!(call0(&l, "second"), 2),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::RelocationOverflow, "{e}");
            assert!(e.to_string().contains("it is data of the host, out of reach"), "{e}");
            assert!(e.to_string().contains("-fPIC"), "{e}");
        }
    }
}

#[test]
fn comdat_groups_link_to_one_copy() {
    let header =
        "template <typename T> struct Box { T v; Box(T v) : v(v) {} virtual ~Box() {} virtual T get() const { return v * 2; } };\n\
                  inline long shared_inline(long x) { static long calls = 0; return x + ++calls; }\n";
    let a = common::compile(
        "g++",
        "c++",
        &format!(
            "{header}extern \"C\" long from_a(long x) {{ Box<long> b{{x}}; const Box<long> &r = b; return r.get() + shared_inline(0); }}\n\
        extern \"C\" void *inline_addr_a() {{ return (void *)&shared_inline; }}"
        ),
        &["-O0", "-fPIC"],
    );
    let b = common::compile(
        "g++",
        "c++",
        &format!(
            "{header}extern \"C\" long from_b(long x) {{ Box<long> b{{x}}; const Box<long> &r = b; return r.get() + shared_inline(0); }}\n\
        extern \"C\" void *inline_addr_b() {{ return (void *)&shared_inline; }}"
        ),
        &["-O0", "-fPIC"],
    );
    let mut l = dual();
    l.set_process_symbols(true);
    rtdyld::host::open_library("stdc++").unwrap();
    let ia = l.load_object(&a, "a.o").unwrap();
    let ib = l.load_object(&b, "b.o").unwrap();
    l.finalize().unwrap();
    fn names(l: &Linker, id: u32) -> Vec<String> {
        l.object_sections(id).unwrap().iter().map(|&s| l.section(s).unwrap().name.to_string_lossy().into_owned()).collect()
    }
    let holds_groups = |n: &[String]| n.iter().any(|n| n.contains("shared_inline") || n.contains("_ZN3BoxIlE"));
    let (na, nb) = (names(&l, ia), names(&l, ib));
    assert!(na.iter().any(|n| n.contains("shared_inline")), "{na:?}");
    assert!(!holds_groups(&nb), "discarded groups are not allocated: {nb:?}");
    assert_eq!(call0(&l, "inline_addr_a"), call0(&l, "inline_addr_b"));
    // One copy of the inline function, so one `calls` counter.
    assert_eq!(call1(&l, "from_a", 5), 10 + 1);
    assert_eq!(call1(&l, "from_b", 5), 10 + 2);

    // Removing an object that does not hold the kept copies leaves them:
    // b loaded again discards its copies again.
    l.remove_object(ib).unwrap();
    let ib = l.load_object(&b, "b-again.o").unwrap();
    assert!(!holds_groups(&names(&l, ib)));
    l.finalize().unwrap();
    assert_eq!(call1(&l, "from_b", 5), 10 + 3);
    // Removing the holder lets the next object with the groups load them
    // (with a new counter), and b is relinked to that copy.
    l.remove_object(ia).unwrap();
    // Until then b refers to copies nothing holds (its own were dropped
    // for a's): finalize says so, rather than binding them to 0 as weak
    // undefined symbols.
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnresolvedSymbol, "{e}");
    assert!(e.to_string().contains("shared_inline") && e.to_string().contains("COMDAT"), "{e}");
    let ia = l.load_object(&a, "a-again.o").unwrap();
    assert!(holds_groups(&names(&l, ia)));
    l.finalize().unwrap();
    assert_eq!(call1(&l, "from_a", 5), 10 + 1);
    assert_eq!(call1(&l, "from_b", 5), 10 + 2);
    assert_eq!(call0(&l, "inline_addr_a"), call0(&l, "inline_addr_b"));
}

#[test]
fn definitions_in_sections_that_are_not_loaded_need_nothing() {
    // Coverage records (clang -fcoverage-mapping, rustc -C
    // instrument-coverage): a weak hidden `__covrec_*` in a COMDAT group
    // whose only section is not allocated; also a strong definition in a
    // plain non-allocated section. Nothing loaded refers to them: the
    // object links, as in a static link.
    let obj = common::assemble(
        ".section mycov,\"G\",@progbits,__covrec_1,comdat\n.weak __covrec_1\n.hidden __covrec_1\n__covrec_1:\n.quad 1\n\
         .section notes_of_mine,\"\",@progbits\n.globl strong_note\nstrong_note:\n.quad 2\n\
         .text\n.globl answer\nanswer:\n\tmovl $42, %eax\n\tret\n\
         .section .note.GNU-stack,\"\",@progbits\n",
        &[],
    );
    let mut l = dual();
    l.load_object(&obj, "cov.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "answer"), 42);
}

#[test]
fn unwind_entries_of_dropped_comdat_copies_refer_to_nothing() {
    // PIE code that uses std::cout is placed near libstdc++, far above
    // 4 GiB. b.o's unwind entry (FDE) for its copy of `helper`, dropped
    // for a.o's, must hold 0 where its function's address would be (what
    // unwinders skip, and what a static link's dropped entry amounts to):
    // a 32-bit PC-relative field there cannot reach address 0.
    let src = |f: &str| {
        format!(
            "#include <iostream>\n__attribute__((noinline)) inline long helper(long x) {{ if (x < 0) throw x; return 2 * x; }}\n\
             extern \"C\" long {f}(long x) {{ try {{ return helper(x) + std::cout.good(); }} catch (long e) {{ return e; }} }}"
        )
    };
    let a = common::compile("g++", "c++", &src("call_a"), &["-O0", "-fPIE"]);
    let b = common::compile("g++", "c++", &src("call_b"), &["-O0", "-fPIE"]);
    let mut l = dual();
    l.set_process_symbols(true);
    rtdyld::host::open_library("stdc++").unwrap();
    l.load_object(&a, "a.o").unwrap();
    l.load_object(&b, "b.o").unwrap();
    l.finalize().unwrap();
    assert!(l.lookup("call_b").unwrap() > 1 << 32, "placed near libstdc++");
    assert_eq!(call1(&l, "call_a", 5), 11);
    assert_eq!(call1(&l, "call_b", 5), 11);
    // Exceptions pass through a.o's copy, called from b.o.
    assert_eq!(call1(&l, "call_b", -4), -4);
    assert_eq!(call1(&l, "call_a", -3), -3);
}

/// The default memory manager, recording the sections each finalize asks
/// it to make writable again.
struct RecordingMm {
    inner: DefaultMemoryManager,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Vec<u32>>>>,
    /// The sections given back.
    released: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
}

// SAFETY: every call goes to the default manager.
unsafe impl rtdyld::MemoryManager for RecordingMm {
    fn reserve(&mut self, r: &rtdyld::ReserveRequest) -> Result<(), String> {
        self.inner.reserve(r)
    }
    fn allocates_zeroed_memory(&self) -> bool {
        self.inner.allocates_zeroed_memory()
    }
    fn allocate(&mut self, r: &rtdyld::AllocationRequest<'_>) -> Result<*mut u8, String> {
        self.inner.allocate(r)
    }
    fn make_writable(&mut self, local: *mut u8, size: usize, id: u32) -> Result<(), String> {
        self.make_writable_many(&[(local, size, id)])
    }
    fn make_writable_many(&mut self, sections: &[(*mut u8, usize, u32)]) -> Result<(), String> {
        self.requests.lock().unwrap().push(sections.iter().map(|s| s.2).collect());
        self.inner.make_writable_many(sections)
    }
    fn release(&mut self, local: *mut u8, size: usize, id: u32) -> Result<(), String> {
        self.released.lock().unwrap().push(id);
        self.inner.release(local, size, id)
    }
    fn finalize(&mut self) -> Result<(), String> {
        self.inner.finalize()
    }
}

#[test]
fn a_refinalize_rewrites_only_what_moved_and_asks_for_writable_memory_once() {
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mm = RecordingMm { inner: DefaultMemoryManager::new(), requests: requests.clone(), released: Default::default() };
    let mut l = Linker::with_memory_manager(Box::new(mm));
    let a = l.load_object(&cc("long f(void) { return 7; }", &["-O2", "-fPIC"]), "a.o").unwrap();
    let callers = "long f(void); long g(void) { return f() + 1; } long g2(void) { return f() + 2; }";
    let b = l.load_object(&cc(callers, &["-O2", "-fPIC", "-fno-optimize-sibling-calls"]), "b.o").unwrap();
    let c = l.load_object(&cc("static long x = 5; long h(void) { return x; }", &["-O2", "-fPIC"]), "c.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "g"), 8);
    assert!(requests.lock().unwrap().is_empty(), "a first finalize writes memory that was never protected");

    let text = |l: &Linker, obj: u32| {
        *l.object_sections(obj).unwrap().iter().find(|&&s| l.section(s).unwrap().name.to_bytes() == b".text").unwrap()
    };
    let bytes = |l: &Linker, sid: u32| {
        let s = l.section(sid).unwrap();
        // SAFETY: the section's local memory is readable (it is read+execute).
        unsafe { std::slice::from_raw_parts(s.local, s.size as usize) }.to_vec()
    };
    let (a_text, b_text, c_text) = (text(&l, a), text(&l, b), text(&l, c));
    let (b_before, c_before) = (bytes(&l, b_text), bytes(&l, c_text));
    let a_target = l.section(a_text).unwrap().target;

    // Moving f's code changes the two calls in b and nothing else.
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { l.map_section(a_text, a_target + 0x10000) }.unwrap();
    l.finalize().unwrap();
    let names = |ids: &[u32]| -> Vec<(u32, String)> {
        ids.iter().map(|&s| (l.section(s).unwrap().object, l.section(s).unwrap().name.to_string_lossy().into_owned())).collect()
    };
    let asked = requests.lock().unwrap().clone();
    // f's code has no relocations of its own, so nothing is opened ahead:
    // one request, for every section whose bytes change.
    assert_eq!(asked.len(), 1, "one request: {asked:?}");
    let mut asked = names(&asked[0]);
    asked.sort();
    // a's unwind table (its FDE's code address) and b's calls. (b's stub
    // for f is not written while the calls reach f directly.)
    let expected = vec![(a, ".eh_frame".to_string()), (b, ".text".to_string())];
    assert_eq!(asked, expected);
    assert_ne!(bytes(&l, b_text), b_before);
    assert_eq!(bytes(&l, c_text), c_before);

    // Nothing moved: nothing to write.
    l.finalize().unwrap();
    assert_eq!(requests.lock().unwrap().len(), 1);

    // Moving back restores every byte, and the code runs again.
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { l.map_section(a_text, a_target) }.unwrap();
    l.finalize().unwrap();
    assert_eq!(requests.lock().unwrap().len(), 2);
    assert_eq!(bytes(&l, b_text), b_before);
    assert_eq!((call0(&l, "g"), call0(&l, "g2"), call0(&l, "h")), (8, 9, 5));
}

/// A re-finalize that fails part-way, after writes to finalized sections
/// were held back, leaves nothing held for the next one: after the faulty
/// object goes, the next finalize opens and patches what changed (a write
/// left over would land on a read+execute page).
#[test]
fn a_failed_refinalize_leaves_no_held_back_writes_behind() {
    let mut l = Linker::new();
    let a = l.load_object(&cc("long f(void) { return 7; }", &["-O2", "-fPIC"]), "a.o").unwrap();
    let callers = "long f(void); long g(void) { return f() + 1; }";
    let b = l.load_object(&cc(callers, &["-O2", "-fPIC", "-fno-optimize-sibling-calls"]), "b.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "g"), 8);
    let text = |l: &Linker, obj: u32| {
        *l.object_sections(obj).unwrap().iter().find(|&&s| l.section(s).unwrap().name.to_bytes() == b".text").unwrap()
    };
    let bytes = |l: &Linker, sid: u32| {
        let s = l.section(sid).unwrap();
        // SAFETY: the section's local memory is readable (it is read+execute).
        unsafe { std::slice::from_raw_parts(s.local, s.size as usize) }.to_vec()
    };
    let (a_text, b_text) = (text(&l, a), text(&l, b));
    let b_before = bytes(&l, b_text);
    let a_target = l.section(a_text).unwrap().target;

    // Moving f changes b's call (held back: b's code is finalized); the
    // object loaded after b cannot be linked (f's address in one byte).
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { l.map_section(a_text, a_target + 0x10000) }.unwrap();
    let c = l.load_object(&common::assemble(".data\n.globl c_byte\nc_byte: .byte f\n", &[]), "c.o").unwrap();
    let e = l.finalize().unwrap_err();
    assert!(e.message().contains("c.o"), "{}", e.message());
    assert_eq!(bytes(&l, b_text), b_before, "a failed finalize wrote to b.o");

    l.remove_object(c).unwrap();
    l.finalize().unwrap();
    assert_ne!(bytes(&l, b_text), b_before, "b.o's call to f was not patched");
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { l.map_section(a_text, a_target) }.unwrap();
    l.finalize().unwrap();
    assert_eq!(bytes(&l, b_text), b_before);
    assert_eq!(call0(&l, "g"), 8);
}

#[test]
fn modules_finalized_one_at_a_time_follow_later_definitions_answers_and_moves() {
    // Module 0 calls the host and a weak `late`; module i calls module i-1.
    const N: usize = 40;
    let module = |i: usize| {
        if i == 0 {
            cc(
                "long host_op(long, long); __attribute__((weak)) long late(void) { return 0; }\n\
                 long q0(long x) { return host_op(x, 2) + late(); }",
                &["-O2", "-fPIC"],
            )
        } else {
            let flags: &[&str] = if i % 2 == 0 { &["-O2", "-fPIC", "-fno-optimize-sibling-calls"] } else { &["-O1", "-fno-pic"] };
            cc(&format!("long q{}(long); long q{i}(long x) {{ return q{}(x) + 1; }}", i - 1, i - 1), flags)
        }
    };
    let mut l = dual();
    let op = std::sync::Arc::new(AtomicUsize::new(host_add as *const () as usize));
    let op2 = op.clone();
    l.set_resolver(Some(Box::new(move |n: &str| (n == "host_op").then(|| op2.load(Ordering::SeqCst) as u64))));
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(l.load_object(&module(i), &format!("q{i}.o")).unwrap());
        l.finalize().unwrap();
        assert_eq!(call1(&l, &format!("q{i}"), 1), 3 + i as i64, "after module {i}");
    }
    let last = format!("q{}", N - 1);

    // A strong definition of a name module 0 defines weakly: module 0,
    // finalized long before, now calls it.
    l.load_object(&cc("long late(void) { return 100; }", &["-O2"]), "late.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call1(&l, &last, 1), 3 + 100 + N as i64 - 1);

    // A new answer from the resolver.
    op.store(host_mul as *const () as usize, Ordering::SeqCst);
    l.refresh_external(Some(b"host_op"));
    l.finalize().unwrap();
    assert_eq!(call1(&l, &last, 1), 2 + 100 + N as i64 - 1);

    // Module 0 moves to a second mapping; the other modules, applied before,
    // must call it there: its code at the old address is made inaccessible.
    let mut alias = None;
    for &sid in l.object_sections(ids[0]).unwrap().to_vec().iter() {
        let local = l.section(sid).unwrap().local;
        let a = *alias.get_or_insert_with(|| l.memory_manager_mut::<DefaultMemoryManager>().unwrap().alias(local).unwrap());
        // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
        unsafe { l.map_section(sid, a.alias_base as u64 + (local as u64 - a.local_base as u64)) }.unwrap();
    }
    l.finalize().unwrap();
    let text = *l.object_sections(ids[0]).unwrap().iter().find(|&&s| l.section(s).unwrap().name.to_bytes() == b".text").unwrap();
    let (local, size) = (l.section(text).unwrap().local, l.section(text).unwrap().size as usize);
    // SAFETY: module 0's code pages (an object's code starts on a page of
    // its own, and module 0 is alone in its region); they are given their
    // protection back before anything else runs there.
    unsafe { region::protect(local, size, region::Protection::NONE) }.unwrap();
    assert_eq!(call1(&l, &last, 1), 2 + 100 + N as i64 - 1);
    // SAFETY: as above.
    unsafe { region::protect(local, size, region::Protection::READ_EXECUTE) }.unwrap();

    // Removing the strong definition brings the weak one back everywhere.
    let late = ids.len() as u32;
    l.remove_object(late).unwrap();
    l.finalize().unwrap();
    assert_eq!(call1(&l, &last, 1), 2 + N as i64 - 1);
    l.load_object(&module(N), &format!("q{N}.o")).unwrap();
    l.finalize().unwrap();
    assert_eq!(call1(&l, &format!("q{N}"), 1), 2 + N as i64);
}

#[test]
fn code_keeps_running_in_another_thread_while_later_modules_are_protected_next_to_it() {
    // The default memory manager leaves a region open after a finalize and
    // puts later modules on the pages above; protecting those must never
    // touch the pages of code that is running.
    let spin =
        common::compile_c("long spin(long n) { long s = 0; for (long i = 0; i < n; i++) s += i ^ (s >> 3); return s; }", &["-O1", "-fPIC"]);
    // Weak, so that the same object loads again and again.
    let module = common::compile_c(
        "__attribute__((weak)) long twice(long x) { return 2 * x; }\n\
         __attribute__((weak)) const long table[4] = {1, 2, 3, 4};\n\
         __attribute__((weak)) long counter;",
        &["-O2", "-fPIC"],
    );
    let mut l = Linker::new();
    l.load_object(&spin, "spin.o").unwrap();
    l.finalize().unwrap();
    let expected = call1(&l, "spin", 10_000);
    let addr = l.lookup("spin").unwrap() as usize;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let runner = {
        let (stop, progress) = (stop.clone(), progress.clone());
        std::thread::spawn(move || {
            // SAFETY: `spin` is `long spin(long)`, finalized, and its linker
            // outlives this thread (joined below).
            let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(addr) };
            let mut runs = 0u64;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(f(10_000), expected);
                runs += 1;
                progress.store(runs, Ordering::Relaxed);
            }
            runs
        })
    };
    // The runner must be running before the loads start and run again
    // after (on a busy machine it may not be scheduled at once).
    let runs_past = |n: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while progress.load(Ordering::Relaxed) <= n {
            assert!(std::time::Instant::now() < deadline, "the runner thread made no progress");
            std::thread::yield_now();
        }
        progress.load(Ordering::Relaxed)
    };
    let before = runs_past(0);
    let mut ids = Vec::new();
    for k in 0..300 {
        ids.push(l.load_object(&module, &format!("module{k}.o")).unwrap());
        l.finalize().unwrap();
    }
    runs_past(before);
    stop.store(true, Ordering::Relaxed);
    assert!(runner.join().unwrap() > 0);
    assert_eq!(call1(&l, "twice", 21), 42);
    // Every module's code and read-only data got their protection, on
    // pages of their own.
    let mut code_pages = std::collections::HashSet::new();
    for &id in &ids {
        for &s in l.object_sections(id).unwrap() {
            let s = l.section(s).unwrap();
            let prot = region::query(s.local).unwrap().protection();
            match s.kind {
                SectionKind::Code => {
                    assert_eq!(prot, region::Protection::READ_EXECUTE);
                    assert!(code_pages.insert(s.local as usize / region::page::size()), "two modules' code on one page");
                }
                SectionKind::ReadOnlyData => assert_eq!(prot, region::Protection::READ),
                _ => {}
            }
        }
    }
    let regions = l.memory_manager_mut::<DefaultMemoryManager>().unwrap().region_count();
    assert!(regions <= 6, "{regions} regions for 301 modules");
}

#[test]
fn map_section_address_finds_sections_loaded_before_and_after_its_first_call_and_not_removed_ones() {
    let a = common::compile_c("long a_get(void) { return 1; }", &["-O2", "-fPIC"]);
    let b = common::compile_c("long b_get(void) { return 2; }", &["-O2", "-fPIC"]);
    /// The id and local address of the object's `.text`.
    struct Text {
        id: u32,
        local: *mut u8,
    }
    fn text(l: &Linker, id: u32) -> Text {
        let s = l
            .object_sections(id)
            .unwrap()
            .iter()
            .map(|&s| l.section(s).unwrap())
            .find(|s| s.kind == SectionKind::Code && s.name.to_bytes() == b".text")
            .unwrap();
        Text { id: s.id, local: s.local }
    }
    let mut l = Linker::new();
    let ia = l.load_object(&a, "a.o").unwrap();
    let ta = text(&l, ia);
    // The first call finds a section loaded before it...
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { l.map_section_address(ta.local, 0x1000_0000) }.unwrap();
    assert_eq!(l.section(ta.id).unwrap().target, 0x1000_0000);
    // ...later calls one loaded after it...
    let ib = l.load_object(&b, "b.o").unwrap();
    let tb = text(&l, ib);
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { l.map_section_address(tb.local, 0x2000_0000) }.unwrap();
    assert_eq!(l.section(tb.id).unwrap().target, 0x2000_0000);
    // ...and none of a removed object.
    l.remove_object(ia).unwrap();
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    assert_eq!(unsafe { l.map_section_address(ta.local, 0x3000_0000) }.unwrap_err().kind(), ErrorKind::NotFound);
    // A removal before the first call: the same.
    let mut l = Linker::new();
    let ia = l.load_object(&a, "a.o").unwrap();
    let ta = text(&l, ia);
    let ib = l.load_object(&b, "b.o").unwrap();
    let tb = text(&l, ib);
    l.remove_object(ia).unwrap();
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    assert_eq!(unsafe { l.map_section_address(ta.local, 0x3000_0000) }.unwrap_err().kind(), ErrorKind::NotFound);
    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
    unsafe { l.map_section_address(tb.local, 0x2000_0000) }.unwrap();
    assert_eq!(l.section(tb.id).unwrap().target, 0x2000_0000);
}

/// A table spread over definitions in a section of its own, walked from
/// `__start_registry` to `__stop_registry` (a common way to register
/// plugins, tests or commands in C).
const REGISTRY: &str = "struct entry { const char *name; long v; };\n\
    #define REG(n, val) static const struct entry e_##n __attribute__((used, section(\"registry\"))) = { #n, val }\n\
    REG(a, 1); REG(b, 20); REG(c, 300);\n\
    extern const struct entry __start_registry[], __stop_registry[];\n\
    long registry_sum(void) { long s = 0; for (const struct entry *e = __start_registry; e < __stop_registry; e++) s += e->v * (e->name[0] - 'a' + 1); return s; }\n\
    long registry_start(void) { return (long)__start_registry; }\n\
    long registry_stop(void) { return (long)__stop_registry; }";

#[test]
fn section_start_and_stop_symbols_bound_the_objects_own_section() {
    let mut configs: Vec<(&str, Vec<&str>)> = [
        &["-O2", "-fPIC"][..],
        &["-O0", "-fPIC"],
        &["-O2", "-fno-pic"],
        &["-O2", "-mcmodel=large"],
        &["-O2", "-fPIC", "-fdata-sections", "-ffunction-sections"],
    ]
    .into_iter()
    .map(|f| ("gcc", f.to_vec()))
    .collect();
    if let Some(clang) = common::find_clang() {
        configs.push((clang, vec!["-O2", "-fPIC"]));
    }
    for (cc, flags) in configs {
        let mut l = Linker::new();
        let id = l.load_object(&common::compile(cc, "c", REGISTRY, &flags), "registry.o").unwrap();
        l.finalize().unwrap();
        // SAFETY: the three take nothing and return a long.
        let f = |l: &Linker, n: &str| -> extern "C" fn() -> i64 { unsafe { std::mem::transmute(l.lookup(n).unwrap() as usize) } };
        let (sum, start, stop) = (f(&l, "registry_sum"), f(&l, "registry_start"), f(&l, "registry_stop"));
        assert_eq!(sum(), 1 + 20 * 2 + 300 * 3, "{cc} {flags:?}");
        let registry =
            l.object_sections(id).unwrap().iter().map(|&s| l.section(s).unwrap()).find(|s| s.name.to_bytes() == b"registry").unwrap();
        let (local, target) = (registry.local, registry.target);
        assert_eq!(registry.size, 48, "{cc} {flags:?}");
        assert_eq!(start() as u64, target, "{cc} {flags:?}");
        assert_eq!(stop() as u64, target + 48, "{cc} {flags:?}");
        // They stay the object's own: not defined for others.
        assert!(l.lookup("__start_registry").is_err());
        if flags == ["-O2", "-fPIC"] {
            // And follow the section when it moves (the code reads its
            // address from a GOT slot; nothing reads the new place).
            let moved = target + 0x10_0000;
            // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
            unsafe { l.map_section_address(local, moved) }.unwrap();
            l.finalize().unwrap();
            assert_eq!(start() as u64, moved);
            assert_eq!(stop() as u64, moved + 48);
        }
    }
}

#[test]
fn section_start_and_stop_symbols_of_another_object_or_several_sections() {
    let table = common::compile_c(REGISTRY, &["-O2", "-fPIC"]);
    let count = "struct entry { const char *name; long v; };\n\
        extern const struct entry __start_registry[] WEAK, __stop_registry[] WEAK;\n\
        long registry_count(void) { return __stop_registry - __start_registry; }";
    // Another object's section does not count: the names stay unresolved,
    // and the message says why.
    let mut l = Linker::new();
    l.load_object(&table, "table.o").unwrap();
    l.load_object(&common::compile_c(count, &["-O2", "-fPIC", "-DWEAK="]), "count.o").unwrap();
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnresolvedSymbol, "{e}");
    assert!(e.message().contains("`__start_registry` (referenced by obj 1 (count.o))") && e.message().contains("own section"), "{e}");
    // Weak references without the section: 0, an empty table.
    let mut l = Linker::new();
    l.load_object(&common::compile_c(count, &["-O2", "-fPIC", "-DWEAK=__attribute__((weak))"]), "count.o").unwrap();
    l.finalize().unwrap();
    // SAFETY: `long registry_count(void)`.
    let f: extern "C" fn() -> i64 = unsafe { std::mem::transmute(l.lookup("registry_count").unwrap() as usize) };
    assert_eq!(f(), 0);
    // Several sections of that name (clang gives each retained variable
    // one): a static link would concatenate them; refused, naming them.
    let several = ".section registry,\"aw\",@progbits,unique,1\n.quad 1\n.section registry,\"aw\",@progbits,unique,2\n.quad 2\n\
        .text\n.globl first\nfirst: leaq __start_registry(%rip), %rax\nret\n";
    let e = Linker::new().load_object(&common::assemble(several, &[]), "several.o").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.message().contains("several.o") && e.message().contains("2 sections named registry"), "{e}");
}

#[test]
fn versioned_references_bind_to_that_version_of_the_host_symbol() {
    // `.symver` pins a reference to one version (portable binaries use it
    // to run on older C libraries).
    let src = "#include <string.h>\n#include <stdlib.h>\n\
        __asm__(\".symver memcpy_2_2_5, memcpy@GLIBC_2.2.5\");\n\
        __asm__(\".symver realpath_2_2_5, realpath@GLIBC_2.2.5\");\n\
        void *memcpy_2_2_5(void *, const void *, size_t);\n\
        char *realpath_2_2_5(const char *, char *);\n\
        long copy(void) { char b[8]; memcpy_2_2_5(b, \"hello\", 6); return b[4]; }\n\
        long old_realpath(void) { return (long)&realpath_2_2_5; }\n\
        long new_realpath(void) { return (long)&realpath; }";
    for flags in [&["-O2", "-fPIC"][..], &["-O0", "-fno-pic"]] {
        let mut l = Linker::new();
        l.set_process_symbols(true);
        l.load_object(&common::compile_c(src, flags), "symver.o").unwrap();
        l.finalize().unwrap();
        // SAFETY: each takes nothing and returns a long.
        let f = |n: &str| -> extern "C" fn() -> i64 { unsafe { std::mem::transmute(l.lookup(n).unwrap() as usize) } };
        assert_eq!(f("copy")(), b'o' as i64, "{flags:?}");
        assert_ne!(f("old_realpath")(), f("new_realpath")(), "{flags:?}: two versions, two functions");
        if flags[1] == "-fPIC" {
            // (-fno-pic code takes a host function's address as its stub's.)
            assert_eq!(f("new_realpath")() as u64, rtdyld::host::lookup(c"realpath").unwrap());
            assert_eq!(f("old_realpath")() as u64, rtdyld::host::lookup(c"realpath@GLIBC_2.2.5").unwrap());
        }
    }
}

#[test]
fn code_placed_in_another_process_is_not_read_or_run_here() {
    // A remote JIT maps sections to addresses of another process. The
    // unwinder here would read a registered .eh_frame at its target, and
    // IFUNC resolvers would be called there: finalize refuses both when
    // the target is not mapped in this process, instead of crashing.
    const ELSEWHERE: u64 = 0x5000_0000_0000;
    let remote = |l: &mut Linker| {
        for id in 0..l.section_count() {
            let Ok(s) = l.section(id) else { continue };
            if !s.kind.is_tls() {
                // SAFETY: nothing is registered, resolved or run at these
                // targets: finalize refuses, and the linker is dropped with
                // no constructor run.
                unsafe { l.map_section(id, ELSEWHERE + u64::from(id) * 0x10000) }.unwrap();
            }
        }
    };
    let obj = cc("long twice(long x) { return 2 * x; }", &["-O2", "-fPIC", "-fasynchronous-unwind-tables"]);
    let mut l = Linker::new();
    l.load_object(&obj, "remote.o").unwrap();
    remote(&mut l);
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState, "{e}");
    assert!(e.message().contains("remote.o") && e.message().contains(".eh_frame") && e.message().contains("0x5000"), "{e}");
    // Registration off, as for a remote target: the link completes.
    l.set_register_eh_frames(false);
    l.finalize().unwrap();
    assert_eq!(l.lookup("twice").unwrap() >> 44, ELSEWHERE >> 44);

    let obj = cc(
        "static long one(long x) { return x; }\n\
         static long (*pick(void))(long) { return one; }\n\
         long chosen(long) __attribute__((ifunc(\"pick\")));",
        &["-O2", "-fPIC"],
    );
    let mut l = Linker::new();
    l.set_register_eh_frames(false);
    l.load_object(&obj, "ifunc.o").unwrap();
    remote(&mut l);
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.message().contains("IFUNC") && e.message().contains("`chosen`"), "{e}");

    // Mapped here but not executable (an alias the client makes executable
    // only later): not called either.
    let buffer = vec![0u8; 1 << 20];
    let readable = (buffer.as_ptr() as u64).next_multiple_of(1 << 16);
    // (Without unwind tables, whose references to the code could not
    // reach a heap buffer.)
    let obj = cc(
        "static long one(long x) { return x; }\n\
         static long (*pick(void))(long) { return one; }\n\
         long chosen(long) __attribute__((ifunc(\"pick\")));",
        &["-O2", "-fPIC", "-fno-asynchronous-unwind-tables"],
    );
    let mut l = Linker::new();
    let id = l.load_object(&obj, "ifunc.o").unwrap();
    for &sid in l.object_sections(id).unwrap().to_vec().iter() {
        let s = l.section(sid).unwrap();
        if s.kind == SectionKind::Code {
            // SAFETY: refused at finalize: nothing runs at the buffer.
            unsafe { l.map_section(sid, readable + (s.local as u64 & 0xffff)) }.unwrap();
        }
    }
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.message().contains("must be executable") && e.message().contains("`chosen`"), "{e}");
    drop(buffer);
}

#[test]
fn a_target_must_keep_the_sections_alignment() {
    // Code may rely on its data's alignment (SSE loads of 16-byte
    // constants, page-aligned buffers): a misaligned target is refused.
    let obj = cc("_Alignas(64) static const float k[16] = {1, 2, 3};\nfloat first(int i) { return k[i & 15]; }", &["-O2", "-fPIC"]);
    let mut l = dual();
    let id = l.load_object(&obj, "aligned.o").unwrap();
    let &rodata = l.object_sections(id).unwrap().iter().find(|&&s| l.section(s).unwrap().name.to_bytes().starts_with(b".rodata")).unwrap();
    let target = l.section(rodata).unwrap().target;
    assert_eq!(target % 64, 0);
    for off in [1, 8, 32] {
        // SAFETY: refused, so nothing is mapped anywhere new.
        let e = unsafe { l.map_section(rodata, target + off) }.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains("aligned to 64 bytes"), "{e}");
    }
    // SAFETY: the section's own address.
    unsafe { l.map_section(rodata, target) }.unwrap();
    l.finalize().unwrap();
}

#[test]
fn size_relocations_against_host_symbols_use_their_size() {
    // `sym@SIZE` of a variable of the C library: the size in its symbol
    // table (both pointers, 8 bytes), as a static link writes it.
    let obj = common::assemble(
        ".data\n.globl sizes\nsizes:\n\t.quad environ@SIZE\n\t.quad stdout@SIZE+4\n\t.long environ@SIZE\n\
         .section .note.GNU-stack,\"\",@progbits\n",
        &[],
    );
    let mut l = Linker::new();
    l.set_process_symbols(true);
    l.load_object(&obj, "sizes.o").unwrap();
    l.finalize().unwrap();
    let at = l.lookup("sizes").unwrap() as *const u8;
    // SAFETY: `sizes` is 20 bytes of finalized data.
    let (a, b, c) = unsafe {
        ((at as *const u64).read_unaligned(), (at.add(8) as *const u64).read_unaligned(), (at.add(16) as *const u32).read_unaligned())
    };
    assert_eq!((a, b, c), (8, 12, 8));
}

static REGISTERED: std::sync::Mutex<Vec<Vec<u64>>> = std::sync::Mutex::new(Vec::new());

extern "C" fn register_table(start: *const u64, stop: *const u64) {
    // SAFETY: the loaded constructor passes its object's `tbl` bounds.
    let words = unsafe { std::slice::from_raw_parts(start, stop.offset_from(start) as usize) };
    REGISTERED.lock().unwrap().push(words.to_vec());
}

#[test]
fn a_comdat_module_constructor_that_registers_its_objects_table_is_kept_in_every_object() {
    // Sanitizer coverage and ASan put in every object a constructor of one
    // COMDAT name that registers `__start_X`..`__stop_X`. A static link
    // keeps one, whose bounds span all objects' tables; here each object
    // has its own bounds, so each keeps its copy (it defines nothing global).
    let module = |words: &str| {
        common::assemble(
            &format!(
                ".section tbl,\"aw\",@progbits\n.quad {words}\n\
                 .section .text.modctor,\"axG\",@progbits,modctor,comdat\n.type modctor,@function\nmodctor:\n\
                 \tleaq __start_tbl(%rip), %rdi\n\tleaq __stop_tbl(%rip), %rsi\n\tjmp register_table@PLT\n\
                 .section .init_array,\"awG\",@init_array,modctor,comdat\n.p2align 3\n.quad modctor\n\
                 .weak __start_tbl\n.hidden __start_tbl\n.weak __stop_tbl\n.hidden __stop_tbl\n\
                 .section .note.GNU-stack,\"\",@progbits\n"
            ),
            &[],
        )
    };
    let mut l = Linker::new();
    l.set_resolver(Some(Box::new(|n: &str| (n == "register_table").then_some(register_table as *const () as usize as u64))));
    l.load_object(&module("1"), "a.o").unwrap();
    l.load_object(&module("2, 3"), "b.o").unwrap();
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    let mut got = std::mem::take(&mut *REGISTERED.lock().unwrap());
    got.sort();
    assert_eq!(got, [vec![1], vec![2, 3]]);
}

#[test]
fn unwind_tables_are_registered_and_withdrawn_only_where_readable() {
    // The unwinder reads a table where it registers it, and where it
    // withdraws it (its target before a remap): finalize refuses when either
    // place is not readable, instead of crashing in the unwinder.
    let obj = cc("long twice(long x) { return 2 * x; }", &["-O2", "-fPIC", "-fasynchronous-unwind-tables"]);
    // A target reserved but inaccessible (a remote JIT's placeholder).
    // SAFETY: a fresh PROT_NONE mapping, unmapped at the end of the test.
    let reserved = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            1 << 24,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        p as u64
    };
    let mut l = Linker::new();
    let id = l.load_object(&obj, "inaccessible.o").unwrap();
    let sections = l.object_sections(id).unwrap().to_vec();
    let base = l.section(sections[0]).unwrap().local as u64 & !0xffff;
    for &sid in &sections {
        let s = l.section(sid).unwrap();
        // SAFETY: refused at finalize: nothing is registered or run there.
        unsafe { l.map_section(sid, reserved + (s.local as u64 - base)) }.unwrap();
    }
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState, "{e}");
    assert!(e.message().contains(".eh_frame") && e.message().contains("not readable"), "{e}");

    // Registered at an alias, moved back, the alias made inaccessible.
    let mut l = dual();
    let id = l.load_object(&obj, "moved.o").unwrap();
    let local = l.section(l.object_sections(id).unwrap()[0]).unwrap().local;
    let a = l.memory_manager_mut::<DefaultMemoryManager>().unwrap().alias(local).unwrap();
    let sections = l.object_sections(id).unwrap().to_vec();
    for &sid in &sections {
        let s = l.section(sid).unwrap();
        // SAFETY: the target is the alias of the section's own memory.
        unsafe { l.map_section(sid, a.alias_base as u64 + (s.local as u64 - a.local_base as u64)) }.unwrap();
    }
    l.finalize().unwrap();
    for &sid in &sections {
        let s = l.section(sid).unwrap();
        // SAFETY: the section's own memory.
        unsafe { l.map_section(sid, s.local as u64) }.unwrap();
    }
    // SAFETY: the alias is the test's; made readable again below.
    assert_eq!(unsafe { libc::mprotect(a.alias_base.cast(), a.len, libc::PROT_NONE) }, 0);
    let e = l.finalize().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState, "{e}");
    assert!(e.message().contains("moved.o") && e.message().contains("no longer readable"), "{e}");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mprotect(a.alias_base.cast(), a.len, libc::PROT_READ) }, 0);
    l.finalize().unwrap();
    assert_eq!(call1(&l, "twice", 21), 42);
    // SAFETY: the reservation above, no longer used.
    unsafe { libc::munmap(reserved as *mut libc::c_void, 1 << 24) };
}

#[test]
fn what_other_objects_took_from_a_removed_objects_comdat_copies_stays_valid() {
    // b uses a's copies of inline code (its own were dropped): the
    // destructor of b's global vector (registered with __cxa_atexit by b's
    // constructor), the vtable of an inline class whose object b created.
    // a is removed and loaded again: until b goes, a's old copies stay.
    let hdr = "#include <vector>\n\
               struct Base { virtual long v() const = 0; virtual ~Base() {} };\n\
               struct Inl : Base { long x; Inl(long x) : x(x) {} long v() const override { return x * 10; } };\n";
    let a = common::compile("g++", "c++", &format!("{hdr}std::vector<int> va = {{1, 2, 3}};\nextern \"C\" long a_make(long x) {{ Base *p = new Inl(x); long r = p->v(); delete p; return r; }}"), &["-O2", "-fPIC"]);
    let b = common::compile(
        "g++",
        "c++",
        &format!(
            "{hdr}std::vector<int> vb = {{4, 5, 6}};\nstatic Base *kept;\n\
             extern \"C\" long b_sum(long) {{ long s = 0; for (int v : vb) s += v; return s; }}\n\
             extern \"C\" long b_make(long x) {{ kept = new Inl(x); return 0; }}\n\
             extern \"C\" long b_call(long) {{ return kept->v(); }}"
        ),
        &["-O2", "-fPIC"],
    );
    rtdyld::host::open_library("stdc++").unwrap();
    let released = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mm = RecordingMm { inner: DefaultMemoryManager::new(), requests: Default::default(), released: released.clone() };
    let mut l = Linker::with_memory_manager(Box::new(mm));
    l.set_process_symbols(true);
    let a_id = l.load_object(&a, "a.o").unwrap();
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    let b_id = l.load_object(&b, "b.o").unwrap();
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    assert_eq!(call1(&l, "a_make", 2), 20);
    call1(&l, "b_make", 4);
    assert_eq!(call1(&l, "b_call", 0), 40);
    let a_text = l.lookup("a_make").unwrap();
    let a_sections = l.object_sections(a_id).unwrap().to_vec();
    l.remove_object(a_id).unwrap();
    assert!(released.lock().unwrap().is_empty(), "a's memory stays while b uses its copies");
    let a2_id = l.load_object(&a, "a2.o").unwrap();
    l.finalize().unwrap();
    l.run_constructors().unwrap();
    assert_ne!(l.lookup("a_make").unwrap(), a_text, "a2 lies elsewhere: a's memory was kept");
    assert_eq!(call1(&l, "b_sum", 0), 15);
    assert_eq!(call1(&l, "b_call", 0), 40, "the object b made keeps its vtable (a's old copy)");
    // b now uses a2's copies: a new object of b's has a2's vtable, which
    // stays when a2 is removed in turn.
    call1(&l, "b_make", 5);
    let a2_sections = l.object_sections(a2_id).unwrap().to_vec();
    l.remove_object(a2_id).unwrap();
    assert!(released.lock().unwrap().is_empty(), "a2's memory stays while b uses its copies");
    assert_eq!(call1(&l, "b_call", 0), 50, "the object b made from a2's copies");
    // b's destructors run its vector's destructor from the kept copies;
    // then a's and a2's memory go too.
    let b_sections = l.object_sections(b_id).unwrap().to_vec();
    l.remove_object(b_id).unwrap();
    let mut gone = released.lock().unwrap().clone();
    gone.sort_unstable();
    let mut expected: Vec<u32> = a_sections
        .iter()
        .chain(&a2_sections)
        .chain(&b_sections)
        .copied()
        .filter(|&s| !l.section(s).is_ok_and(|s| s.kind.is_tls()))
        .collect();
    expected.sort_unstable();
    assert_eq!(gone, expected);
    drop(l);
}

#[test]
fn an_object_outgrowing_a_region_placed_near_host_data_stays_within_reach_of_it() {
    // d needs nothing (its region goes low); a refers to the C library's
    // writable `environ` with a 32-bit PC-relative reference (PIE code), so
    // its region goes near the library; b, loaded last, holds 64 KiB that a
    // reaches the same way: too big for the room left, it opens a region,
    // which must lie near the last one, not next to d's.
    let d = cc("long d_value(void) { return 1; }", &["-O2", "-fpie"]);
    let a = cc("extern char **environ; extern int big[]; long a_value(void) { return (environ != 0) + big[16000]; }", &["-O2", "-fpie"]);
    let b = cc("int big[16384] = { [16000] = 41 };", &["-O2", "-fpie"]);
    let mut l = Linker::new();
    l.set_process_symbols(true);
    l.load_object(&d, "d.o").unwrap();
    l.load_object(&a, "a.o").unwrap();
    l.load_object(&b, "b.o").unwrap();
    l.finalize().unwrap();
    assert_eq!(call0(&l, "a_value"), 42);
}

#[test]
fn pie_code_using_two_far_apart_host_variables_is_told_why_it_cannot_link() {
    // One object reaches the test program's variable and the C library's
    // `environ` with 32-bit PC-relative references: they lie terabytes
    // apart, and no place reaches both.
    let obj = cc("extern long near_a; extern char **environ; long both(void) { return near_a + (environ != 0); }", &["-O2", "-fpie"]);
    let addr_a = std::ptr::addr_of!(NEAR_A) as u64;
    assert!(addr_a.abs_diff(std::ptr::addr_of!(environ) as u64) > 1 << 32);
    let mut l = Linker::new();
    l.set_process_symbols(true);
    l.set_resolver(Some(Box::new(move |n: &str| (n == "near_a").then_some(addr_a))));
    l.load_object(&obj, "both.o").unwrap();
    let m = l.finalize().unwrap_err().to_string();
    assert!(m.contains("placed near `") && m.contains("no place reaches both") && m.contains("-fPIC"), "{m}");
}
