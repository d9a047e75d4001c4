//! rtdyld_phases: times the phases of an rtdyld link through the Rust API,
//! for rtdyld's benchmark (benches/run.sh builds it as a throwaway cargo
//! project under target/bench/; it is not part of the rtdyld package).
//!
//!     rtdyld_phases [-l NAME]... [--repeat N] FILE.o...
//!
//! Each repetition, with a fresh `Linker` (process symbols on):
//!   load        `load_object` of every object (files read beforehand)
//!   finalize    the first `finalize`
//!   refinalize  `map_section` of the largest section to its address plus
//!               one page, then `finalize` again
//! and, on the last link only (untimed), checks the relink: it maps the
//! section back, finalizes, and compares every section's bytes with those
//! after the first finalize. Prints medians in microseconds (load_us=,
//! finalize_us=, total_us=, refinalize_us=), then lookup_ns= (mean `lookup`
//! of every active global definition), retained_count=, retained_bytes=,
//! sections=, remapped_section= and remapped_dependents= (relocations in
//! objects that refer to the remapped section's object).

use rtdyld::Linker;
use std::ffi::c_void;
use std::time::Instant;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn die(msg: String) -> ! {
    eprintln!("rtdyld_phases: {msg}");
    std::process::exit(1)
}

fn snapshot(l: &Linker) -> Vec<Vec<u8>> {
    (0..l.section_count())
        .map(|id| {
            let s = l.section(id).unwrap();
            // SAFETY: the section has `size` readable bytes at `local`.
            unsafe { std::slice::from_raw_parts(s.local as *const u8, s.size as usize).to_vec() }
        })
        .collect()
}

// Built non-PIE with the static relocation model (see run.sh), these
// references make the dynamic loader copy the C library's stdio and environ
// variables into this executable, in low memory, where -fno-pic JIT code can
// reach them with 32-bit PC-relative references (as the rtdyld CLI does).
extern "C" {
    static mut stdin: *mut c_void;
    static mut stdout: *mut c_void;
    static mut stderr: *mut c_void;
    static mut environ: *mut c_void;
}

fn main() {
    // SAFETY: only the addresses are taken.
    #[allow(unused_unsafe)]
    std::hint::black_box(unsafe {
        [
            std::ptr::addr_of!(stdin) as usize,
            std::ptr::addr_of!(stdout) as usize,
            std::ptr::addr_of!(stderr) as usize,
            std::ptr::addr_of!(environ) as usize,
        ]
    });
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut repeat = 1usize;
    let mut files = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--repeat" => {
                i += 1;
                repeat = args.get(i).and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or_else(|| die("--repeat N".into()));
            }
            "-l" => {
                i += 1;
                let lib = args.get(i).unwrap_or_else(|| die("-l NAME".into()));
                rtdyld::host::open_library(lib).unwrap_or_else(|e| die(e));
            }
            s => files.push(s.to_string()),
        }
        i += 1;
    }
    let objects: Vec<(String, Vec<u8>)> =
        files.iter().map(|p| (p.clone(), std::fs::read(p).unwrap_or_else(|e| die(format!("{p}: {e}"))))).collect();
    let (mut load, mut fin, mut total, mut refin) = (vec![], vec![], vec![], vec![]);
    let mut last: Option<Linker> = None;
    let mut remapped = (0u32, 0u64);
    for _ in 0..repeat {
        drop(last.take());
        let t0 = Instant::now();
        let mut l = Linker::new();
        l.set_process_symbols(true);
        for (name, data) in &objects {
            l.load_object(data, name).unwrap_or_else(|e| die(e.to_string()));
        }
        let t1 = Instant::now();
        l.finalize().unwrap_or_else(|e| die(e.to_string()));
        let t2 = Instant::now();
        let (id, target) = (0..l.section_count())
            .map(|id| l.section(id).unwrap())
            .max_by_key(|s| s.size)
            .map(|s| (s.id, s.target))
            .unwrap();
        remapped = (id, target);
        let t3 = Instant::now();
        // SAFETY: the largest section of these sets is code or data, not .eh_frame nor a constructor table; no IFUNC or constructor runs, and nothing is called: only the relocations are applied.
        unsafe { l.map_section(id, target + 4096) }.unwrap_or_else(|e| die(e.to_string()));
        l.finalize().unwrap_or_else(|e| die(format!("re-finalize: {e}")));
        let t4 = Instant::now();
        load.push((t1 - t0).as_secs_f64() * 1e6);
        fin.push((t2 - t1).as_secs_f64() * 1e6);
        total.push((t2 - t0).as_secs_f64() * 1e6);
        refin.push((t4 - t3).as_secs_f64() * 1e6);
        last = Some(l);
    }
    let mut l = last.unwrap();
    // Check the relink: back to the first addresses gives the first bytes.
    let (id, target) = remapped;
    // SAFETY: the largest section of these sets is code or data, not .eh_frame nor a constructor table; no IFUNC or constructor runs, and nothing is called: only the relocations are applied.
    unsafe { l.map_section(id, target) }.unwrap_or_else(|e| die(e.to_string()));
    l.finalize().unwrap_or_else(|e| die(e.to_string()));
    let after = snapshot(&l);
    // SAFETY: the largest section of these sets is code or data, not .eh_frame nor a constructor table; no IFUNC or constructor runs, and nothing is called: only the relocations are applied.
    unsafe { l.map_section(id, target + 4096) }.unwrap();
    l.finalize().unwrap();
    let moved = snapshot(&l);
    // SAFETY: the largest section of these sets is code or data, not .eh_frame nor a constructor table; no IFUNC or constructor runs, and nothing is called: only the relocations are applied.
    unsafe { l.map_section(id, target) }.unwrap();
    l.finalize().unwrap();
    if snapshot(&l) != after {
        die("relink check failed: mapping the section back did not restore the bytes".into());
    }
    if moved == after {
        die("relink check failed: moving the largest section changed no byte".into());
    }
    // Lookups.
    let mut names = Vec::new();
    for o in 0..l.object_count() {
        for k in 0..l.object_symbol_count(o).unwrap() {
            let s = l.object_symbol(o, k).unwrap();
            if s.is_active {
                names.push((s.name.to_string_lossy().into_owned(), s.target));
            }
        }
    }
    let t0 = Instant::now();
    let mut bad = 0usize;
    for (n, want) in &names {
        bad += (l.lookup(n).ok() != Some(*want)) as usize;
    }
    let dt = t0.elapsed().as_secs_f64() * 1e9;
    if bad > 0 {
        die(format!("{bad} of {} lookups returned a wrong address", names.len()));
    }
    println!("load_us={:.1}", median(&mut load));
    println!("finalize_us={:.1}", median(&mut fin));
    println!("total_us={:.1}", median(&mut total));
    println!("refinalize_us={:.1}", median(&mut refin));
    println!("lookup_ns={:.1}", if names.is_empty() { 0.0 } else { dt / names.len() as f64 });
    println!("lookup_symbols={}", names.len());
    println!("retained_count={}", l.retained_relocation_count());
    println!("retained_bytes={}", l.retained_relocation_bytes());
    println!("sections={}", l.section_count());
    let s = l.section(id).unwrap();
    println!("remapped_section={} {} bytes, object {}", s.name.to_string_lossy(), s.size, s.object);
}
