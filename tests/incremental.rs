//! A finalize looks only at what changed since the one before. This checks
//! that it misses nothing: two linkers go through the same random sequence
//! of loads, moves, removals and new resolver answers (announced with
//! `refresh_external`); one finalizes
//! incrementally, the other is made to go over everything at each finalize
//! (`set_register_eh_frames(true)` asks for that). Every section is mapped
//! to the same made-up target address in both, so after each finalize
//! their bytes must be equal. Nothing runs: the targets are not mapped.
//! (Placing each new module moves all its sections, which also marks what
//! they define; tests/linking.rs checks later definitions without moves.)

mod common;

use rtdyld::Linker;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Modules that define, override, refer to and point at each other's
/// symbols: weak and strong definitions of one name, data pointers,
/// function tables, weak references that may stay undefined, and names
/// only the resolver knows (`ext_*`).
const MODULES: &[(&str, &str)] = &[
    ("m0", "long ext_a(void); long d0 = 1; long f0(void) { return d0 + ext_a(); }"),
    ("m1", "extern long d0; long f0(void); long f1(void) { return f0() + d0; } long *p1 = &d0;"),
    ("m2", "__attribute__((weak)) long f2(void) { return 2; } long f1(void); long g2(void) { return f2() + f1(); }"),
    ("m3", "long f2(void) { return 3; } long ext_b(void); long (*h3)(void) = ext_b;"),
    (
        "m4",
        "extern long f5(void) __attribute__((weak)); long ext_b(void); long f0(void), f1(void), g2(void);\n\
         long f4(void) { return f5 ? f5() : ext_b(); } long (*t4[])(void) = {f0, f1, g2};",
    ),
    ("m5", "long f5(void) { return 5; } long d5[4] = {1, 2, 3, 4}; long *q5 = &d5[2]; long ext_c; long *r5 = &ext_c;"),
    ("m6", "extern long d5[4]; long f2(void); long f6(long i) { return d5[i & 3] + f2(); } long *s6 = &d5[1];"),
    ("m7", "__attribute__((weak)) long d0 = 70; long f7(void) { return d0; }"),
];

/// A made-up target for section `k` of object `id`, the `bump`-th time it
/// moves (fillers are not moved).
fn target(id: u32, k: usize, bump: u64) -> u64 {
    0x4000_0000 + u64::from(id) * 0x100_0000 + k as u64 * 0x2_0000 + bump * 0x1000
}

/// xorshift64*: a small deterministic generator, so that a failure repeats.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

struct Pair {
    linkers: [Linker; 2],
    /// The resolver's answers, shared by both linkers.
    answers: Arc<Mutex<HashMap<String, u64>>>,
    /// Loaded modules: (module index, object id).
    live: Vec<(usize, u32)>,
}

impl Pair {
    fn new() -> Pair {
        let answers: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let linkers = [0, 1].map(|_| {
            let mut l = Linker::new();
            // The targets are made up: nothing may be registered there.
            l.set_register_eh_frames(false);
            let a = answers.clone();
            // Every name has an answer (a definition in a loaded module
            // wins over it), so that every finalize succeeds.
            l.set_resolver(Some(Box::new(move |n: &str| {
                Some(*a.lock().unwrap().entry(n.to_string()).or_insert(0x7000_0000 + 0x100 * n.len() as u64))
            })));
            l
        });
        Pair { linkers, answers, live: Vec::new() }
    }

    fn finalize_and_compare(&mut self, step: &str) {
        let [a, b] = &mut self.linkers;
        a.finalize().unwrap_or_else(|e| panic!("{step}: incremental finalize: {e}"));
        // The reference goes over everything.
        b.set_register_eh_frames(true);
        b.set_register_eh_frames(false);
        b.finalize().unwrap_or_else(|e| panic!("{step}: full finalize: {e}"));
        for &(m, id) in &self.live {
            let (sa, sb) = (a.object_sections(id).unwrap(), b.object_sections(id).unwrap());
            assert_eq!(sa.len(), sb.len());
            for (&x, &y) in sa.iter().zip(sb) {
                let (x, y) = (a.section(x).unwrap(), b.section(y).unwrap());
                assert_eq!((x.target, x.size), (y.target, y.size), "{step}: module {m}");
                // SAFETY: each section's local memory is readable for its size.
                let (bx, by) =
                    unsafe { (std::slice::from_raw_parts(x.local, x.size as usize), std::slice::from_raw_parts(y.local, y.size as usize)) };
                assert!(
                    bx == by,
                    "{step}: module {m} ({}), section {} differs after an incremental finalize",
                    MODULES[m].0,
                    x.name.to_string_lossy()
                );
            }
        }
    }
}

#[test]
fn incremental_finalizes_write_what_full_ones_write() {
    let objects: Vec<Vec<u8>> = MODULES
        .iter()
        .enumerate()
        .map(|(i, (_, src))| {
            let pic: &[&str] = if i % 3 == 2 { &["-O1", "-fno-pic"] } else { &["-O2", "-fPIC"] };
            common::compile_c(src, &[pic, &["-fno-asynchronous-unwind-tables", "-fno-exceptions"]].concat())
        })
        .collect();
    // With many objects loaded (from 256 on), a finalize finds the objects
    // that refer to a changed global through an index instead of going
    // over every object: both ways are checked, the second behind 300
    // filler objects (weak, so that one object loads again and again).
    let filler = common::compile_c("__attribute__((weak)) long filler(void) { return 1; }", &["-O2", "-fPIC"]);
    for (seed, fillers) in (1..=6u64).flat_map(|seed| [(seed, 0), (seed, 300)]) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
        let mut p = Pair::new();
        for k in 0..fillers {
            for l in &mut p.linkers {
                l.load_object(&filler, &format!("filler{k}.o")).unwrap();
            }
        }
        let mut bumps: HashMap<(u32, usize), u64> = HashMap::new();
        for step in 0..60 {
            let choice = rng.below(10);
            let what;
            if choice < 4 || p.live.is_empty() {
                // Load a module not loaded yet (if any), and place it.
                let free: Vec<usize> = (0..MODULES.len()).filter(|m| p.live.iter().all(|l| l.0 != *m)).collect();
                if free.is_empty() {
                    continue;
                }
                let m = free[rng.below(free.len())];
                let ids = p.linkers.each_mut().map(|l| l.load_object(&objects[m], MODULES[m].0).unwrap());
                assert_eq!(ids[0], ids[1]);
                for l in &mut p.linkers {
                    for (k, &sid) in l.object_sections(ids[0]).unwrap().to_vec().iter().enumerate() {
                        // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
                        unsafe { l.map_section(sid, target(ids[0], k, 0)) }.unwrap();
                    }
                }
                p.live.push((m, ids[0]));
                what = format!("load {}", MODULES[m].0);
            } else if choice < 6 {
                // Move one section of a loaded module.
                let (m, id) = p.live[rng.below(p.live.len())];
                let n = p.linkers[0].object_sections(id).unwrap().len();
                let k = rng.below(n);
                let bump = bumps.entry((id, k)).or_default();
                *bump += 1;
                for l in &mut p.linkers {
                    let sid = l.object_sections(id).unwrap()[k];
                    // SAFETY: the target is an alias of the section's memory, or nothing is registered, resolved or run there before it is mapped back (see the test).
                    unsafe { l.map_section(sid, target(id, k, *bump)) }.unwrap();
                }
                what = format!("move section {k} of {}", MODULES[m].0);
            } else if choice < 8 {
                let (m, id) = p.live.swap_remove(rng.below(p.live.len()));
                for l in &mut p.linkers {
                    l.remove_object(id).unwrap();
                }
                what = format!("remove {}", MODULES[m].0);
            } else {
                // A new answer for a name only the resolver knows, or for one
                // a module may define.
                let names = ["ext_a", "ext_b", "ext_c", "f5", "f2", "d0", "f0"];
                let name = names[rng.below(names.len())];
                *p.answers.lock().unwrap().entry(name.to_string()).or_default() += 0x40;
                // (A name the resolver answered is asked again only when
                // the client says its address changed.)
                for l in &mut p.linkers {
                    l.refresh_external(Some(name.as_bytes()));
                }
                what = format!("new answer for {name}");
            }
            p.finalize_and_compare(&format!("seed {seed}, {fillers} fillers, step {step} ({what})"));
        }
    }
}
