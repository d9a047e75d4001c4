//! `rtdyld`: load, link and run relocatable objects from the command line.

mod host_data;

use rtdyld::{DefaultMemoryManager, Linker};
use std::ffi::{c_char, c_int};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage:
  rtdyld run [--entry SYMBOL] [-l NAME]... [--dylib PATH]... [--remap] [--perf-map] FILE.o... [-- ARGS...]
  rtdyld link [-l NAME]... [--dylib PATH]... [--repeat N] [--times] [--fresh-memory] [--incremental [--replace N]] [--check SYMBOL] FILE.o...
  rtdyld --version";

/// The linked program, kept alive until exit.
static JIT: std::sync::Mutex<Option<Linker>> = std::sync::Mutex::new(None);

/// Exit status for rtdyld's own failures in `run` (the program's own
/// statuses pass through unchanged).
const RUN_FAILURE: u8 = 125;

struct Options {
    entry: String,
    libs: Vec<String>,
    dylibs: Vec<String>,
    remap: bool,
    perf_map: bool,
    repeat: usize,
    times: bool,
    /// Give the memory freed linkers leave for reuse back between
    /// repetitions, so that every link maps fresh pages.
    fresh_memory: bool,
    /// Finalize after each object, as a JIT adding one module at a time.
    incremental: bool,
    /// With `incremental`, then replace the middle object this many times
    /// (remove it, load it again, finalize), as a JIT recompiling a module.
    replace: usize,
    /// After linking, call `int SYMBOL(void)` and fail unless it returns 0.
    check: Option<String>,
    objects: Vec<String>,
    args: Vec<String>,
}

fn parse(args: &[String], run: bool) -> Result<Options, String> {
    let mut o = Options {
        entry: "main".into(),
        libs: vec![],
        dylibs: vec![],
        remap: false,
        perf_map: false,
        repeat: 1,
        times: false,
        fresh_memory: false,
        incremental: false,
        replace: 0,
        check: None,
        objects: vec![],
        args: vec![],
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "--" if run => {
                o.args = it.cloned().collect();
                break;
            }
            "--entry" if run => o.entry = value("--entry")?,
            "--remap" if run => o.remap = true,
            "--perf-map" if run => o.perf_map = true,
            "--repeat" if !run => {
                o.repeat = value("--repeat")?.parse().map_err(|_| "--repeat needs a positive number".to_string())?;
                if o.repeat == 0 {
                    return Err("--repeat needs a positive number".into());
                }
            }
            "--times" if !run => o.times = true,
            "--fresh-memory" if !run => o.fresh_memory = true,
            "--incremental" if !run => o.incremental = true,
            "--replace" if !run => {
                o.replace = value("--replace")?.parse().map_err(|_| "--replace needs a number".to_string())?;
            }
            "--check" if !run => o.check = Some(value("--check")?),
            "-l" => o.libs.push(value("-l")?),
            "--dylib" => o.dylibs.push(value("--dylib")?),
            s if s.starts_with("-l") && s.len() > 2 => o.libs.push(s[2..].to_string()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => o.objects.push(s.to_string()),
        }
    }
    if o.objects.is_empty() {
        return Err("no object files given".into());
    }
    if o.replace > 0 && !o.incremental {
        return Err("--replace needs --incremental".into());
    }
    Ok(o)
}

fn load_libraries(o: &Options) -> Result<(), String> {
    for l in &o.libs {
        rtdyld::host::open_library(l)?;
    }
    for d in &o.dylibs {
        rtdyld::host::open_path(std::path::Path::new(d)).map_err(|e| format!("cannot load {d}: {e}"))?;
    }
    Ok(())
}

fn read_objects(o: &Options) -> Result<Vec<(String, Vec<u8>)>, String> {
    o.objects.iter().map(|p| std::fs::read(p).map(|d| (p.clone(), d)).map_err(|e| format!("cannot read {p}: {e}"))).collect()
}

fn link(objects: &[(String, Vec<u8>)], perf_map: bool, dual_mapping: bool) -> Result<Linker, String> {
    let mut linker =
        if dual_mapping { Linker::with_memory_manager(Box::new(DefaultMemoryManager::with_dual_mapping())) } else { Linker::new() };
    linker.set_process_symbols(true);
    // All thread-local storage static, as in a static link (the command
    // asked the C library for room for all of it: `ensure_static_tls`).
    linker.set_static_tls_for_all(true);
    // Cheap for a command: gdb can then see and break on the program.
    linker.set_debugger_registration(true);
    linker.set_perf_map(perf_map);
    for (name, data) in objects {
        linker.load_object(data, name).map_err(|e| e.to_string())?;
    }
    linker.finalize().map_err(|e| e.to_string())?;
    Ok(linker)
}

/// Maps every region a second time and moves every section to its alias.
fn remap(linker: &mut Linker) -> Result<(), String> {
    let mut aliases = Vec::new();
    for id in 0..linker.section_count() {
        let s = linker.section(id).map_err(|e| e.to_string())?;
        if s.kind.is_tls() {
            continue; // TLS templates belong to the C library and stay put
        }
        let local = s.local;
        let mm = linker.memory_manager_mut::<DefaultMemoryManager>().ok_or("not the default memory manager")?;
        let alias = match aliases.iter().find(|a: &&rtdyld::memory::RegionAlias| {
            (local as usize) >= a.local_base as usize && (local as usize) < a.local_base as usize + a.len
        }) {
            Some(a) => *a,
            None => {
                let a = mm.alias(local)?;
                aliases.push(a);
                a
            }
        };
        let target = alias.alias_base as u64 + (local as u64 - alias.local_base as u64);
        // SAFETY: the target is the alias of the section's own memory (`alias`).
        unsafe { linker.map_section(id, target) }.map_err(|e| e.to_string())?;
    }
    linker.finalize().map_err(|e| e.to_string())?;
    linker.memory_manager_mut::<DefaultMemoryManager>().ok_or("not the default memory manager")?.seal_local_views()
}

fn run(args: &[String]) -> Result<u8, String> {
    let o = parse(args, true)?;
    load_libraries(&o)?;
    let objects = read_objects(&o)?;
    let mut linker = link(&objects, o.perf_map, o.remap)?;
    if o.remap {
        remap(&mut linker)?;
    }
    let entry = linker.lookup(&o.entry).map_err(|e| e.to_string())?;
    // The linker lives until the process exits; then, after the handlers
    // the program registered itself, its objects' destructors run. The
    // linker is not dropped: threads of the program may still run its code
    // and unwind through it while the process exits, as they may in a
    // statically linked program.
    extern "C" fn destroy_at_exit() {
        let linker = JIT.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut linker) = linker {
            linker.run_destructors();
            std::mem::forget(linker);
        }
    }
    // SAFETY: registering a plain function with the C library.
    unsafe { libc::atexit(destroy_at_exit) };
    // The argument strings lie back to back, NUL after each, as the kernel
    // lays them out: programs that set their process title (libuv,
    // PostgreSQL, nginx) reuse the area from argv[0] to the end of the last
    // one. (The buffer lives until the process exits.)
    let program_args: Vec<&String> = std::iter::once(&o.objects[0]).chain(o.args.iter()).collect();
    if program_args.iter().any(|a| a.contains('\0')) {
        return Err("argument contains NUL".to_string());
    }
    let mut strings: Vec<u8> = Vec::with_capacity(program_args.iter().map(|a| a.len() + 1).sum());
    let mut starts = Vec::with_capacity(program_args.len());
    for a in &program_args {
        starts.push(strings.len());
        strings.extend_from_slice(a.as_bytes());
        strings.push(0);
    }
    let strings = strings.leak();
    let mut argv: Vec<*mut c_char> = starts.iter().map(|&at| strings[at..].as_mut_ptr().cast::<c_char>()).collect();
    let argc = argv.len() as c_int;
    argv.push(std::ptr::null_mut());
    extern "C" {
        static mut environ: *mut *mut c_char;
    }
    // Constructors get the program's arguments, as main does.
    // SAFETY: reading the C library's `environ` pointer.
    let envp = unsafe { environ };
    linker.set_program_arguments(argc, argv.as_ptr() as *const *const c_char, envp as *const *const c_char);
    linker.run_constructors().map_err(|e| e.to_string())?;
    *JIT.lock().unwrap_or_else(|e| e.into_inner()) = Some(linker);
    // SAFETY: the entry symbol is JIT-linked code the user asked to run as
    // `int main(int, char **, char **)`; argv outlives the call.
    let status = unsafe {
        let f: extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) -> c_int = std::mem::transmute(entry as usize);
        f(argc, argv.as_mut_ptr(), envp)
    };
    // exit() flushes the program's stdio buffers and runs its atexit handlers.
    // SAFETY: plain process exit.
    unsafe { libc::exit(status) }
}

fn median(v: &mut [u128]) -> u128 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// The median of the first and of the last tenth of `per_object` (at
/// least one value each).
fn first_and_last(per_object: &[u128]) -> (u128, u128) {
    let tenth = (per_object.len() / 10).max(1);
    let mut first = per_object[..tenth].to_vec();
    let mut last = per_object[per_object.len() - tenth..].to_vec();
    (median(&mut first), median(&mut last))
}

fn link_command(args: &[String]) -> Result<u8, String> {
    let o = parse(args, false)?;
    load_libraries(&o)?;
    let objects = read_objects(&o)?;
    let (mut load_us, mut fin_us, mut total_us) = (vec![], vec![], vec![]);
    let (mut first_us, mut last_us) = (vec![], vec![]);
    let mut last = None;
    for _ in 0..o.repeat {
        // The previous linker goes first, untimed: two linkers alive at once
        // would make the unwinder's list of tables (newest first) twice as
        // long to search when the older one deregisters its own.
        drop(last.take());
        if o.fresh_memory {
            rtdyld::memory::release_recycled_memory();
        }
        let t0 = Instant::now();
        let mut linker = Linker::new();
        linker.set_process_symbols(true);
        if o.incremental {
            // Each object is loaded and finalized on its own; its time is
            // the two together.
            let mut per_object = Vec::with_capacity(objects.len());
            let (mut load, mut fin) = (0, 0);
            for (name, data) in &objects {
                let t = Instant::now();
                linker.load_object(data, name).map_err(|e| e.to_string())?;
                let loaded = Instant::now();
                linker.finalize().map_err(|e| format!("finalize after {name}: {e}"))?;
                let done = Instant::now();
                load += (loaded - t).as_nanos();
                fin += (done - loaded).as_nanos();
                per_object.push((done - t).as_nanos());
            }
            let (first, last) = first_and_last(&per_object);
            first_us.push(first);
            last_us.push(last);
            load_us.push(load / 1000);
            fin_us.push(fin / 1000);
            total_us.push(per_object.iter().sum::<u128>() / 1000);
        } else {
            for (name, data) in &objects {
                linker.load_object(data, name).map_err(|e| e.to_string())?;
            }
            let t1 = Instant::now();
            linker.finalize().map_err(|e| e.to_string())?;
            let t2 = Instant::now();
            load_us.push((t1 - t0).as_micros());
            fin_us.push((t2 - t1).as_micros());
            total_us.push((t2 - t0).as_micros());
        }
        last = Some(linker);
    }
    let mut linker = last.expect("at least one repetition");
    // The middle object, replaced again and again in the last linker.
    let mut replace_ns = Vec::with_capacity(o.replace);
    let k = objects.len() / 2;
    let mut id = k as u32;
    for _ in 0..o.replace {
        let t = Instant::now();
        linker.remove_object(id).map_err(|e| e.to_string())?;
        id = linker.load_object(&objects[k].1, &objects[k].0).map_err(|e| e.to_string())?;
        linker.finalize().map_err(|e| format!("finalize after replacing {}: {e}", objects[k].0))?;
        replace_ns.push(t.elapsed().as_nanos());
    }
    if let Some(sym) = &o.check {
        let addr = linker.lookup(sym).map_err(|e| e.to_string())?;
        // SAFETY: the caller names a JIT-linked `int SYMBOL(void)`.
        let status = unsafe { std::mem::transmute::<usize, extern "C" fn() -> c_int>(addr as usize)() };
        if status != 0 {
            return Err(format!("{sym}() returned {status}, not 0: the link is wrong"));
        }
    }
    if o.times {
        println!("load_us={}", median(&mut load_us));
        println!("finalize_us={}", median(&mut fin_us));
        println!("total_us={}", median(&mut total_us));
        if o.incremental {
            // Nanoseconds measured, printed in microseconds.
            println!("first_us={:.1}", median(&mut first_us) as f64 / 1000.0);
            println!("last_us={:.1}", median(&mut last_us) as f64 / 1000.0);
        }
        if o.replace > 0 {
            println!("replace_us={:.1}", median(&mut replace_ns) as f64 / 1000.0);
        }
        return Ok(0);
    }
    for obj in 0..linker.object_count() {
        // (Objects removed by --replace are not listed.)
        let Ok(name) = linker.object_name(obj) else { continue };
        println!("object {obj}: {name}");
        for &sid in linker.object_sections(obj).map_err(|e| e.to_string())? {
            let s = linker.section(sid).map_err(|e| e.to_string())?;
            println!(
                "  section {:>4} {:<24} {:<6} size {:#8x} local {:p} target {:#x}",
                sid,
                s.name.to_string_lossy(),
                s.kind.name(),
                s.size,
                s.local,
                s.target
            );
        }
        for k in 0..linker.object_symbol_count(obj).map_err(|e| e.to_string())? {
            let sym = linker.object_symbol(obj, k).map_err(|e| e.to_string())?;
            println!(
                "  symbol {:#018x} {:<4} {}{}",
                sym.target,
                if sym.is_function { "func" } else { "data" },
                sym.name.to_string_lossy(),
                if sym.is_active { "" } else { " (overridden)" }
            );
        }
    }
    println!("retained relocations: {} ({} bytes)", linker.retained_relocation_count(), linker.retained_relocation_bytes());
    Ok(0)
}

/// The static TLS the C library keeps for modules loaded after startup
/// by default (glibc's `glibc.rtld.optional_static_tls`): what libraries
/// the command opens (`-l`) may take, besides the objects' own.
const DEFAULT_STATIC_TLS_SURPLUS: usize = 512;
/// Set in the environment of the command run again by [`ensure_static_tls`]
/// (and removed there); the original `GLIBC_TUNABLES` travels in the second.
const STATIC_TLS_MARK: &str = "RTDYLD_STATIC_TLS_SET";
const ORIGINAL_TUNABLES: &str = "RTDYLD_ORIGINAL_GLIBC_TUNABLES";

/// `-fno-pic` and initial-exec code needs static TLS: room at a fixed
/// offset from every thread's pointer, which a statically linked program
/// gets for all its variables, but which the C library keeps only a small
/// surplus of for modules loaded after startup (an object with a 2 KB
/// `__thread` array does not fit). Before running a program, the command
/// runs itself again with a larger surplus (the tunable
/// `glibc.rtld.optional_static_tls`, read only at startup), unless the
/// user set it, and gives the program the environment the user gave.
/// The surplus is what the objects' thread-local sections could take, on
/// top of the default: the C library reserves it in every thread's stack,
/// so it is asked for only as needed (a program without thread-local
/// variables runs as it is, and its threads keep their whole stacks).
fn ensure_static_tls(args: &[String]) {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(STATIC_TLS_MARK).is_some() {
        std::env::remove_var(STATIC_TLS_MARK);
        match std::env::var_os(ORIGINAL_TUNABLES) {
            Some(t) => std::env::set_var("GLIBC_TUNABLES", t),
            None => std::env::remove_var("GLIBC_TUNABLES"),
        }
        std::env::remove_var(ORIGINAL_TUNABLES);
        return;
    }
    let original = std::env::var_os("GLIBC_TUNABLES");
    let text = original.as_ref().map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
    if text.contains("glibc.rtld.optional_static_tls") {
        return;
    }
    let objects = parse(args, true).map(|o| o.objects).unwrap_or_default();
    let needed = objects.iter().map(|p| thread_local_bytes(p)).fold(0usize, usize::saturating_add);
    if needed == 0 {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let surplus = DEFAULT_STATIC_TLS_SURPLUS.saturating_add(needed);
    let setting = format!("glibc.rtld.optional_static_tls={surplus}");
    let tunables = if text.is_empty() { setting } else { format!("{text}:{setting}") };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    cmd.args(args).env("GLIBC_TUNABLES", tunables).env(STATIC_TLS_MARK, "1");
    if let Some(t) = original {
        cmd.env(ORIGINAL_TUNABLES, t);
    }
    // Returns only when the command could not be run again: go on with
    // the C library's default surplus.
    let _ = cmd.exec();
}

/// An upper bound of the static TLS the object at `path` may need: its
/// thread-local sections, each aligned, with room to align its block. 0
/// when it has none (or cannot be read: `run` then says why).
fn thread_local_bytes(path: &str) -> usize {
    use object::read::elf::{FileHeader, SectionHeader};
    use object::{elf, LittleEndian as LE};
    let Ok(data) = std::fs::read(path) else { return 0 };
    let Ok(header) = elf::FileHeader64::<LE>::parse(&*data) else { return 0 };
    let Ok(sections) = header.sections(LE, &*data) else { return 0 };
    let (mut total, mut align) = (0u64, 1u64);
    for sh in sections.iter().filter(|sh| sh.sh_flags(LE) & u64::from(elf::SHF_TLS) != 0) {
        let a = sh.sh_addralign(LE).clamp(1, 1 << 20);
        total = total.saturating_add(sh.sh_size(LE)).saturating_add(a - 1);
        align = align.max(a);
    }
    if total == 0 {
        return 0;
    }
    usize::try_from(total.saturating_add(align)).unwrap_or(usize::MAX)
}

fn main() -> ExitCode {
    std::hint::black_box(host_data::anchor());
    // A C program starts with SIGPIPE at its default (the process ends when
    // it writes to a closed pipe), which Rust's runtime sets to ignored:
    // the programs `run` runs, and `link`'s own output piped into `head`,
    // get the C behaviour back.
    // Likewise SIGSEGV and SIGBUS, for which Rust's runtime installs its
    // stack-overflow reporter: a program that raises them, or overflows
    // its stack, dies of the signal as natively (and so do its children).
    // SAFETY: restoring signals' default dispositions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd {
        "--version" | "-V" => {
            println!("rtdyld {}", rtdyld::VERSION);
            return ExitCode::SUCCESS;
        }
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        "run" => {
            ensure_static_tls(rest);
            run(rest).map_err(|e| (e, RUN_FAILURE))
        }
        "link" => link_command(rest).map_err(|e| (e, 1)),
        other => Err((format!("unknown command `{other}`\n{USAGE}"), 2)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err((msg, code)) => {
            eprintln!("rtdyld: {msg}");
            ExitCode::from(code)
        }
    }
}
