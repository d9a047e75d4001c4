//! Debugger and profiler visibility, through the `rtdyld` command: gdb
//! breaks in JIT'd functions and shows them in a backtrace (GDB JIT
//! interface); `--perf-map` names them in /tmp/perf-PID.map.

mod common;

use std::process::Command;

const PROGRAM: &str = "#include <stdio.h>\n\
    __attribute__((noinline)) int jit_inner(int x) { printf(\"inner %d\\n\", x); return x * 2; }\n\
    __attribute__((noinline)) int jit_outer(int x) { return jit_inner(x + 1) + 1; }\n\
    int main(void) { return jit_outer(20) == 43 ? 0 : 1; }\n";

fn rtdyld() -> &'static str {
    env!("CARGO_BIN_EXE_rtdyld")
}

#[test]
fn gdb_breaks_in_jit_code_and_shows_its_frames() {
    if !common::have_tool("gdb") {
        println!("gdb not installed: skipped");
        return;
    }
    let dir = common::TempDir::new("gdb");
    let obj = dir.join("prog.o");
    std::fs::write(&obj, common::compile_c(PROGRAM, &["-O1", "-g", "-fPIC"])).unwrap();
    let out = Command::new("gdb")
        .args(["-nx", "-batch", "-ex", "set breakpoint pending on", "-ex", "break jit_inner", "-ex", "run", "-ex", "bt", "-ex", "continue"])
        .arg("--args")
        .arg(rtdyld())
        .arg("run")
        .arg(&obj)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Breakpoint 1, jit_inner (x=x@entry=21) at"), "{text}");
    let frames: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
    assert!(frames[0].contains("jit_inner") && frames[1].contains("jit_outer") && frames[2].contains("main () at"), "{frames:?}");
    assert!(frames.iter().any(|f| f.contains("rtdyld::run")), "the backtrace continues into the host: {frames:?}");
    assert!(text.contains("exited normally"), "{text}");
}

#[test]
fn gdb_runs_a_program_with_thread_local_variables() {
    // The C library lists the library that holds an object's TLS by its
    // path; `/proc/self/fd/N` there made gdb open (and wait on) its own
    // file N.
    if !common::have_tool("gdb") {
        println!("gdb not installed: skipped");
        return;
    }
    let dir = common::TempDir::new("gdb-tls");
    let obj = dir.join("tls.o");
    let src = "__thread int tv = 3;\n__attribute__((noinline)) int jit_tls(int x) { return x * tv; }\n\
               int main(void) { return jit_tls(2) == 6 ? 0 : 1; }\n";
    std::fs::write(&obj, common::compile_c(src, &["-O1", "-g", "-fPIC"])).unwrap();
    // (Killed after two minutes rather than hanging the test run.)
    let out = Command::new("timeout")
        .args(["-s", "KILL", "120", "gdb", "-nx", "-batch", "-ex", "set breakpoint pending on", "-ex", "break jit_tls", "-ex", "run"])
        .args(["-ex", "continue", "--args", rtdyld(), "run"])
        .arg(&obj)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.code().is_some(), "gdb was killed (it hung): {text}");
    assert!(text.contains("Breakpoint 1, jit_tls (x=x@entry=2) at"), "{text}");
    assert!(text.contains("exited normally"), "{text}");
}

#[test]
fn perf_map_names_jit_functions() {
    let dir = common::TempDir::new("perf");
    let obj = dir.join("prog.o");
    std::fs::write(&obj, common::compile_c(PROGRAM, &["-O2", "-fPIC"])).unwrap();
    let child = Command::new(rtdyld()).arg("run").arg("--perf-map").arg(&obj).stdout(std::process::Stdio::null()).spawn().unwrap();
    let pid = child.id();
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success());
    let path = format!("/tmp/perf-{pid}.map");
    let map = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    for f in ["jit_inner", "jit_outer", "main"] {
        let line = map.lines().find(|l| l.ends_with(&format!(" {f}"))).unwrap_or_else(|| panic!("{f} missing:\n{map}"));
        let mut parts = line.split(' ');
        let start = u64::from_str_radix(parts.next().unwrap(), 16).unwrap();
        let size = u64::from_str_radix(parts.next().unwrap(), 16).unwrap();
        assert!(start > 0 && size > 0, "{line}");
    }
}
