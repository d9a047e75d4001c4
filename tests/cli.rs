//! The `rtdyld` command against system-linked builds of the same programs.

mod common;

use std::process::Command;

fn rtdyld() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rtdyld"))
}

/// `rtdyld run` with the libraries `libs` (`-l` each), and `--remap` when asked.
fn run_cmd(libs: &[&str], remap: bool) -> Command {
    let mut cmd = rtdyld();
    cmd.arg("run");
    for l in libs {
        cmd.args(["-l", l]);
    }
    if remap {
        cmd.arg("--remap");
    }
    cmd
}

/// Writes `source` to `dir/name` and compiles it with `compiler` and
/// `flags`; returns the object's path.
fn compile_file(dir: &common::TempDir, name: &str, compiler: &str, source: &str, flags: &[&str]) -> std::path::PathBuf {
    let src = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let obj = src.with_extension("o");
    assert!(Command::new(compiler).args(flags).arg("-c").arg(&src).arg("-o").arg(&obj).status().unwrap().success(), "{name}");
    obj
}

const CXX: &str = r#"
#include <cstdlib>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>
struct Noisy { std::string n; Noisy(const char *s) : n(s) { std::cout << "ctor " << n << "\n"; } ~Noisy() { std::cout << "dtor " << n << "\n"; } };
Noisy first("first"), second("second");
__attribute__((constructor(150))) static void early() { std::puts("early"); }
struct Shape { virtual ~Shape() {} virtual double area() const = 0; };
struct Sq : Shape { double s; Sq(double s) : s(s) {} double area() const override { return s * s; } };
int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::map<std::string, int> counts;
  for (auto &a : args) counts[a]++;
  for (auto &[k, v] : counts) std::cout << k << "=" << v << "\n";
  std::atexit([] { std::cout << "atexit\n"; });
  static Noisy local("local");
  try { Sq q(3); const Shape &s = q; if (s.area() > 5) throw std::runtime_error("big " + std::to_string(s.area())); }
  catch (const std::exception &e) { std::cout << "caught " << e.what() << "\n"; }
  std::cerr << "to stderr\n";
  return (int)counts.size();
}
"#;

#[test]
fn cxx_program_matches_the_system_linked_build() {
    let dir = common::TempDir::new("cli-cxx");
    let src = dir.join("p.cpp");
    std::fs::write(&src, CXX).unwrap();
    for flags in [&["-O0", "-fPIC"][..], &["-O2", "-fPIC"], &["-O2", "-fno-pic"], &["-O0", "-fno-pic"], &["-O2"]] {
        let obj = dir.join("p.o");
        let exe = dir.join("p.exe");
        assert!(Command::new("g++").args(flags).arg("-c").arg(&src).arg("-o").arg(&obj).status().unwrap().success());
        let mut link = Command::new("g++");
        if flags.contains(&"-fno-pic") {
            link.arg("-no-pie");
        }
        assert!(link.arg(&obj).arg("-o").arg(&exe).status().unwrap().success());
        let reference = Command::new(&exe).args(["b", "a", "b"]).output().unwrap();
        for remap in [false, true] {
            let mut cmd = run_cmd(&["stdc++"], remap);
            let out = cmd.arg(&obj).args(["--", "b", "a", "b"]).output().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&reference.stdout),
                "{flags:?} remap={remap}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), reference.status.code(), "{flags:?} remap={remap}");
            assert_eq!(String::from_utf8_lossy(&out.stderr), "to stderr\n");
        }
    }
}

#[test]
fn exceptions_pass_a_shared_inline_function_that_starts_after_patch_nops() {
    // -fpatchable-function-entry=1,1 puts a NOP before each function, so
    // an unwind entry (FDE) starts 1 byte into its section. In the object
    // whose copy of `helper` is dropped (a COMDAT group the other object
    // brought first) that entry must come out as a dropped one (0), not
    // as one starting at address 1: that would claim the address space
    // below the code, and the unwinder would search the wrong object.
    let dir = common::TempDir::new("cli-patchable");
    let header = "__attribute__((noinline)) inline int helper(int x) { return x * 2; }\n";
    let flags = ["-O0", "-fpatchable-function-entry=1,1"];
    let main = format!(
        "#include <cstdio>\n{header}int lib_throw(int);\n\
         int main() {{ try {{ lib_throw(helper(2)); }} catch (int e) {{ std::printf(\"caught %d\\n\", e); return 0; }} return 1; }}\n"
    );
    let lib = format!("{header}int lib_throw(int i) {{ if (i) throw helper(i); return 0; }}\n");
    let objs = [compile_file(&dir, "main.cpp", "g++", &main, &flags), compile_file(&dir, "lib.cpp", "g++", &lib, &flags)];
    for order in [[0, 1], [1, 0]] {
        for remap in [false, true] {
            let out = run_cmd(&["stdc++"], remap).arg(&objs[order[0]]).arg(&objs[order[1]]).output().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "caught 8\n",
                "{order:?} remap={remap}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(0));
        }
    }
}

/// Header-only library code that refers to libstdc++'s writable data: the
/// locale facets' ids (std::regex uses ctype and collate).
const CXX_FACETS: &str = r#"
#include <cstdio>
#include <locale>
#include <regex>
#include <string>
int main() {
  std::regex re("([a-z]+)@([a-z]+)\\.com", std::regex::icase);
  std::smatch m;
  std::string s = "Mail: Bob@Example.com!";
  bool ok = std::regex_search(s, m, re);
  const auto &np = std::use_facet<std::numpunct<char>>(std::locale());
  std::printf("%d %s %s %c %c\n", ok, m[1].str().c_str(), m[2].str().c_str(), np.decimal_point(),
              std::use_facet<std::ctype<char>>(std::locale::classic()).toupper('q'));
  return ok ? 0 : 1;
}
"#;

#[test]
fn non_pic_cxx_reaches_libstdcxx_facet_ids_through_the_commands_copies() {
    // -fno-pic and PIE code refer to std::ctype<char>::id and the like
    // with 32-bit references, as to std::cout: the command copy-relocates
    // them into itself, in low memory, as a non-PIE program does.
    let dir = common::TempDir::new("cli-facets");
    let src = dir.join("f.cpp");
    std::fs::write(&src, CXX_FACETS).unwrap();
    for flags in [&["-O2", "-fno-pic"][..], &["-O2"], &["-O1", "-fPIC"]] {
        let obj = dir.join("f.o");
        assert!(Command::new("g++").args(flags).arg("-c").arg(&src).arg("-o").arg(&obj).status().unwrap().success());
        for remap in [false, true] {
            let mut cmd = run_cmd(&["stdc++"], remap);
            let out = cmd.arg(&obj).output().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "1 Bob Example . Q\n",
                "{flags:?} remap={remap}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(0), "{flags:?} remap={remap}");
        }
    }
}

#[test]
fn non_pic_cpu_dispatch_reaches_libgccs_cpu_model_through_the_commands_copy() {
    // target_clones resolvers and __builtin_cpu_supports read libgcc's
    // __cpu_model, with a 32-bit reference in -fno-pic code.
    let dir = common::TempDir::new("cli-cpu-model");
    let src = dir.join("cpu.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n__attribute__((target_clones(\"avx2\",\"default\"))) long twice(long x) { return x * 2; }\n\
         int main(void) { printf(\"%ld %d\\n\", twice(21), __builtin_cpu_supports(\"sse2\") ? 1 : 0); return 0; }\n",
    )
    .unwrap();
    for flags in [&["-O2", "-fno-pic"][..], &["-O2"]] {
        let obj = dir.join("cpu.o");
        assert!(Command::new("gcc").args(flags).arg("-c").arg(&src).arg("-o").arg(&obj).status().unwrap().success());
        let out = rtdyld().arg("run").arg(&obj).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "42 1\n", "{flags:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_program_writing_to_a_closed_pipe_ends_by_sigpipe_as_it_would_natively() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    let dir = common::TempDir::new("cli-sigpipe");
    let src = dir.join("p.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void) { for (int i = 0; i < 1000000; i++) if (printf(\"line %d\\n\", i) < 0) return 3; return 0; }\n",
    )
    .unwrap();
    let obj = dir.join("p.o");
    assert!(Command::new("gcc").args(["-O2", "-c"]).arg(&src).arg("-o").arg(&obj).status().unwrap().success());
    let mut child = rtdyld().arg("run").arg(&obj).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, "line 0\n");
    // (The reader is dropped: the pipe is closed.)
    let status = child.wait().unwrap();
    const SIGPIPE: i32 = 13;
    assert_eq!(status.signal(), Some(SIGPIPE), "{status:?}");
}

#[test]
fn a_program_that_raises_sigsegv_or_overflows_its_stack_dies_of_the_signal() {
    // Rust's runtime handles SIGSEGV and SIGBUS (its stack-overflow report);
    // the program must start with them at their defaults, as natively.
    use std::os::unix::process::ExitStatusExt;
    let dir = common::TempDir::new("cli-sigsegv");
    let src = dir.join("s.c");
    std::fs::write(
        &src,
        "#include <signal.h>\n#include <stdlib.h>\n\
         static int deep(volatile char *p) { volatile char b[4096]; b[0] = *p; return deep(b) + b[1]; }\n\
         int main(int argc, char **argv) {\n\
           struct sigaction a; sigaction(SIGSEGV, 0, &a); if (a.sa_handler != SIG_DFL) return 2;\n\
           sigaction(SIGBUS, 0, &a); if (a.sa_handler != SIG_DFL) return 3;\n\
           if (argc > 1) { char c = 0; return deep(&c); }\n\
           raise(SIGSEGV); return 4; }\n",
    )
    .unwrap();
    let obj = dir.join("s.o");
    assert!(Command::new("gcc").args(["-O0", "-c"]).arg(&src).arg("-o").arg(&obj).status().unwrap().success());
    const SIGSEGV: i32 = 11;
    for args in [&[][..], &["--", "overflow"]] {
        let out = rtdyld().arg("run").arg(&obj).args(args).output().unwrap();
        assert_eq!(out.status.signal(), Some(SIGSEGV), "{args:?}: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn constructors_see_the_programs_arguments_and_preinit_array_runs_first() {
    let dir = common::TempDir::new("cli-ctor-args");
    let src = dir.join("a.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nstatic char order[8]; static int n; static int seen_argc; static char **seen_argv, **seen_envp;\n\
         static void pre(void) { order[n++] = 'P'; }\n\
         __attribute__((used, section(\".preinit_array\"))) static void (*pre_p)(void) = pre;\n\
         __attribute__((constructor)) static void init(int argc, char **argv, char **envp) {\n\
           order[n++] = 'I'; seen_argc = argc; seen_argv = argv; seen_envp = envp; }\n\
         int main(int argc, char **argv, char **envp) {\n\
           printf(\"%s %d %d %d %s\\n\", order, seen_argc == argc, seen_argv == argv, seen_envp == envp, seen_argv[1]);\n\
           return 0; }\n",
    )
    .unwrap();
    let obj = dir.join("a.o");
    assert!(Command::new("gcc").args(["-O2", "-fPIC", "-c"]).arg(&src).arg("-o").arg(&obj).status().unwrap().success());
    for remap in [false, true] {
        let mut cmd = run_cmd(&[], remap);
        let out = cmd.arg(&obj).args(["--", "hello"]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "PI 1 1 1 hello\n", "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn static_tls_beyond_the_c_librarys_default_surplus_runs() {
    // Local-exec TLS (-fno-pic) of 4 KB: more than the C library keeps for
    // modules loaded after startup unless asked; the command asks, and the
    // program still sees the environment it was given.
    let dir = common::TempDir::new("cli-static-tls");
    let src = dir.join("t.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\n__thread char buf[4096] = {1};\n__thread int x = 5;\n\
         int main(void) { buf[4095] = 2; x++; const char *t = getenv(\"GLIBC_TUNABLES\");\n\
         printf(\"%d %d %d %s\\n\", buf[0], buf[4095], x, t ? t : \"-\"); return 0; }\n",
    )
    .unwrap();
    let obj = dir.join("t.o");
    assert!(Command::new("gcc").args(["-O2", "-fno-pic", "-c"]).arg(&src).arg("-o").arg(&obj).status().unwrap().success());
    for (tunables, shown) in [(None, "-"), (Some("glibc.malloc.check=0"), "glibc.malloc.check=0")] {
        let mut cmd = rtdyld();
        cmd.env_remove("GLIBC_TUNABLES");
        if let Some(t) = tunables {
            cmd.env("GLIBC_TUNABLES", t);
        }
        let out = cmd.arg("run").arg(&obj).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("1 2 6 {shown}\n"), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn a_program_without_thread_local_variables_keeps_its_threads_whole_stacks() {
    // The C library takes the static-TLS surplus the command asks for out
    // of every thread's stack: a 16 KiB thread (the minimum) could not be
    // created with a 64 KiB surplus. The command asks for what the
    // objects' thread-local sections need, and nothing without them.
    let dir = common::TempDir::new("cli-small-stack");
    let obj = compile_file(
        &dir,
        "s.c",
        "gcc",
        "#include <pthread.h>\n#include <stdio.h>\nstatic void *f(void *a) { return a; }\n\
         int main(void) { pthread_attr_t at; pthread_attr_init(&at); pthread_attr_setstacksize(&at, 16384);\n\
         pthread_t t; int e = pthread_create(&t, &at, f, (void *)42); void *r = 0; if (!e) pthread_join(t, &r);\n\
         printf(\"%d %ld\\n\", e, (long)r); return e; }\n",
        &["-O2"],
    );
    let out = rtdyld().env_remove("GLIBC_TUNABLES").arg("run").args(["-l", "pthread"]).arg(&obj).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 42\n", "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn program_arguments_lie_back_to_back_as_the_kernel_lays_them_out() {
    // Programs that set their process title (libuv, PostgreSQL, nginx)
    // overwrite the area from argv[0] to the end of the last argument.
    let dir = common::TempDir::new("cli-argv");
    let obj = compile_file(
        &dir,
        "a.c",
        "gcc",
        "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\
         int main(int argc, char **argv) { for (int i = 1; i < argc; i++) if (argv[i] != argv[i - 1] + strlen(argv[i - 1]) + 1) return 1;\n\
         size_t cap = argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]; memset(argv[0], 0, cap); strcpy(argv[0], \"title\");\n\
         for (int i = 0; i < 100; i++) free(malloc(16 * i + 8)); printf(\"%d %zu\\n\", argc, cap); return 0; }\n",
        &["-O2"],
    );
    let out = rtdyld().arg("run").arg(&obj).args(["--", "one", "two"]).output().unwrap();
    let cap = obj.to_str().unwrap().len() + 1 + 4 + 4;
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("3 {cap}\n"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn initial_exec_code_reaches_a_variable_of_a_pic_object_loaded_before_it() {
    // The command gives every object static TLS, as a static link does:
    // PIE code (initial-exec) reaches the variable of a -fPIC object
    // (general-dynamic) in either load order.
    let dir = common::TempDir::new("cli-tls-order");
    let def_o = compile_file(&dir, "def.c", "gcc", "__thread int counter = 100;\n", &["-O2", "-fPIC"]);
    let user = "#include <stdio.h>\nextern __thread int counter;\nint main(void) { printf(\"%d\\n\", ++counter); return 0; }\n";
    let user_o = compile_file(&dir, "user.c", "gcc", user, &["-O2"]);
    for objs in [[&def_o, &user_o], [&user_o, &def_o]] {
        let out = rtdyld().arg("run").args(objs).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "101\n", "{objs:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn threads_still_running_when_main_returns_keep_their_code() {
    // Found by a probe: detached threads throwing and catching in JIT'd
    // code while main returns. exit() runs the objects' destructors; their
    // code and unwind tables stay until the process is gone, as in a
    // statically linked program (before, the linker was freed under them:
    // std::terminate, or SIGSEGV with --remap).
    let dir = common::TempDir::new("cli-exit-race");
    let src = dir.join("race.cpp");
    std::fs::write(
        &src,
        "#include <atomic>\n#include <cstdio>\n#include <stdexcept>\n#include <thread>\n#include <unistd.h>\n\
         std::atomic<long> caught{0};\n\
         __attribute__((noinline)) void thrower(int i) { if (i >= 0) throw std::runtime_error(\"x\"); }\n\
         struct Bye { ~Bye() { std::printf(\"bye\\n\"); } } bye;\n\
         int main() {\n\
           for (int k = 0; k < 2; k++)\n\
             std::thread([] { for (int i = 0;; i++) { try { thrower(i); } catch (std::exception &) { caught++; } } }).detach();\n\
           while (caught.load() < 1000) usleep(1000);\n\
           std::printf(\"caught\\n\");\n\
           return 6;\n\
         }\n",
    )
    .unwrap();
    let obj = dir.join("race.o");
    assert!(Command::new("g++").args(["-O2", "-c"]).arg(&src).arg("-o").arg(&obj).status().unwrap().success());
    for remap in [false, true] {
        for _ in 0..4 {
            let mut cmd = run_cmd(&["stdc++", "pthread"], remap);
            let out = cmd.arg(&obj).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "caught\nbye\n", "remap={remap}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.code(), Some(6), "remap={remap}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

#[test]
fn quick_exit_runs_the_programs_at_quick_exit_functions() {
    let src = "#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n\
               static void a(void) { puts(\"a\"); fflush(stdout); }\nstatic void b(void) { puts(\"b\"); fflush(stdout); }\n\
               int main(void) { if (at_quick_exit(a) || at_quick_exit(sync) || at_quick_exit(b)) return 1;\n\
               puts(\"main\"); fflush(stdout); quick_exit(3); }\n";
    let dir = common::TempDir::new("cli-quick-exit");
    let c = dir.join("q.c");
    std::fs::write(&c, src).unwrap();
    for flags in [&["-O2", "-fPIC"][..], &["-O0", "-fno-pic"]] {
        let obj = dir.join("q.o");
        let exe = dir.join("q.exe");
        assert!(Command::new("gcc").args(flags).arg("-c").arg(&c).arg("-o").arg(&obj).status().unwrap().success());
        assert!(Command::new("gcc").arg("-no-pie").arg(&obj).arg("-o").arg(&exe).status().unwrap().success());
        let reference = Command::new(&exe).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&reference.stdout), "main\nb\na\n");
        for remap in [false, true] {
            let mut cmd = run_cmd(&[], remap);
            let out = cmd.arg(&obj).output().unwrap();
            assert_eq!(out.stdout, reference.stdout, "{flags:?} remap={remap}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.code(), Some(3), "{flags:?} remap={remap}");
        }
    }
}

#[test]
fn link_reports_bad_objects_with_an_exit_status() {
    let dir = common::TempDir::new("cli-bad");
    let bad = dir.join("bad.o");
    std::fs::write(&bad, b"\x7fELF garbage").unwrap();
    let out = rtdyld().arg("link").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "an exit status, not a signal");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.o"));
    let out = rtdyld().arg("run").arg(&bad).output().unwrap();
    let code = out.status.code().unwrap();
    assert!((1..=125).contains(&code), "{code}");
    let v = rtdyld().arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), format!("rtdyld {}", rtdyld::VERSION));
}

#[test]
fn link_times_repeated_links_with_recycled_or_fresh_memory() {
    let dir = common::TempDir::new("cli-times");
    let obj = dir.join("t.o");
    let src = "extern int puts(const char *); int counter; int f(int x) { counter += x; puts(\"f\"); return counter; }\n";
    std::fs::write(&obj, common::compile_c(src, &["-O2", "-fPIC"])).unwrap();
    for extra in [&[][..], &["--fresh-memory"]] {
        let out = rtdyld().args(["link", "--repeat", "5", "--times"]).args(extra).arg(&obj).output().unwrap();
        assert!(out.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        for key in ["load_us=", "finalize_us=", "total_us="] {
            let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{extra:?}: no {key} in {text}"));
            assert!(line[key.len()..].parse::<u64>().is_ok(), "{line}");
        }
    }
    // Without --times: the last link's sections and symbols.
    let out = rtdyld().args(["link", "--repeat", "2", "--fresh-memory"]).arg(&obj).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(" f") && text.contains("retained relocations:"), "{text}");
}

#[test]
fn link_incremental_finalizes_after_each_object_and_check_calls_the_result() {
    let dir = common::TempDir::new("cli-incremental");
    // b refers to a; c's check walks both.
    let sources = [
        ("a", "long a(long x) { return x + 1; }"),
        ("b", "long a(long); long b(long x) { return a(x) * 2; }"),
        ("c", "long b(long); int check(void) { return b(1) == 4 ? 0 : 1; } int wrong(void) { return b(1); }"),
    ];
    let objs: Vec<_> = sources
        .iter()
        .map(|(name, src)| {
            let obj = dir.join(&format!("{name}.o"));
            std::fs::write(&obj, common::compile_c(src, &["-O2", "-fPIC"])).unwrap();
            obj
        })
        .collect();
    // --replace: then b, the middle object, is removed and loaded again
    // five times; c must be relinked to each new b for the check to pass.
    let out = rtdyld()
        .args(["link", "--incremental", "--replace", "5", "--check", "check", "--repeat", "3", "--times"])
        .args(&objs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for key in ["load_us=", "finalize_us=", "total_us=", "first_us=", "last_us=", "replace_us="] {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key} in {text}"));
        assert!(line[key.len()..].parse::<f64>().is_ok(), "{line}");
    }
    // Without --times, the listing shows the objects that are loaded: the
    // replacement of b (object 3), not the removed copy.
    let out = rtdyld().args(["link", "--incremental", "--replace", "1"]).args(&objs).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<&str> = text.lines().filter(|l| l.starts_with("object ")).collect();
    assert_eq!(listed.len(), 3, "{text}");
    assert!(listed[2].starts_with("object 3: ") && listed[2].ends_with("b.o"), "{text}");
    // One at a time, an object cannot refer to one loaded after it.
    let reversed: Vec<_> = objs.iter().rev().collect();
    let out = rtdyld().args(["link", "--incremental"]).args(&reversed).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("finalize after") && err.contains("`b`"), "{err}");
    let out = rtdyld().args(["link", "--replace", "1"]).args(&objs).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--replace needs --incremental"));
    // A check that does not return 0 fails the command.
    let out = rtdyld().args(["link", "--check", "wrong"]).args(&objs).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("wrong() returned 4"), "{err}");
}

#[test]
fn exceptions_work_with_llvm_libunwind_as_the_unwinder() {
    // LLVM's libunwind takes one FDE per __register_frame call; rtdyld then
    // registers FDE by FDE. Debian's libunwind-14 package provides it.
    let lib = "/usr/lib/llvm-14/lib/libunwind.so.1";
    if !std::path::Path::new(lib).exists() {
        println!("{lib} not installed (apt-get install libunwind-14): skipped");
        return;
    }
    let dir = common::TempDir::new("cli-libunwind");
    let src = dir.join("eh.cpp");
    std::fs::write(
        &src,
        "#include <cstdio>\n#include <stdexcept>\nstatic int thrower(int x) { if (x > 0) throw std::runtime_error(\"boom\"); return 0; }\n\
         int main(int argc, char **) { try { thrower(argc); } catch (const std::exception &e) { std::printf(\"caught %s\\n\", e.what()); return 0; } return 1; }\n",
    )
    .unwrap();
    let obj = dir.join("eh.o");
    assert!(Command::new("g++").args(["-O2", "-fPIC", "-c"]).arg(&src).arg("-o").arg(&obj).status().unwrap().success());
    for remap in [false, true] {
        let mut cmd = rtdyld();
        cmd.env("LD_PRELOAD", lib).arg("run").args(["-l", "stdc++"]);
        if remap {
            cmd.arg("--remap");
        }
        let out = cmd.arg(&obj).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "caught boom\n", "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0));
    }
}
