//! Helpers shared by the integration tests: build objects from source text
//! at test time, and temporary directories that clean up after themselves.
//!
//! Each test crate includes this with `mod common;` and uses only part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, removed (with its contents) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, empty directory whose name contains `tag`.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let tag: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let path = std::env::temp_dir().join(format!("rtdyld-test-{}-{n}-{nanos}-{tag}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path()/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Whether `tool` can be run (it answers `--version`).
pub fn have_tool(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

/// The first of `clang`, `clang-14` … that can be run, if any.
pub fn find_clang() -> Option<&'static str> {
    ["clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14", "clang-13"].into_iter().find(|c| have_tool(c))
}

/// Compiles `source` (in language `lang`, as for the driver's `-x`:
/// "c", "assembler", "assembler-with-cpp") with `compiler -c` and `flags`,
/// and returns the object file's bytes, or the compiler's diagnostics.
pub fn try_compile(compiler: &str, lang: &str, source: &str, flags: &[&str]) -> Result<Vec<u8>, String> {
    let dir = TempDir::new("cc");
    let ext = if lang == "c" { "c" } else { "s" };
    let src = dir.join(&format!("input.{ext}"));
    let out = dir.join("output.o");
    std::fs::write(&src, source).map_err(|e| format!("writing {}: {e}", src.display()))?;
    let output = Command::new(compiler)
        .args(["-c", "-x", lang])
        .arg(&src)
        .args(flags)
        .arg("-o")
        .arg(&out)
        .output()
        .map_err(|e| format!("running {compiler}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{compiler} -c -x {lang} {} failed ({}):\n{}\n--- source ---\n{source}",
            flags.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::read(&out).map_err(|e| format!("reading {}: {e}", out.display()))
}

/// Like [`try_compile`], panicking with the diagnostics on failure.
pub fn compile(compiler: &str, lang: &str, source: &str, flags: &[&str]) -> Vec<u8> {
    try_compile(compiler, lang, source, flags).unwrap_or_else(|e| panic!("{e}"))
}

/// C source text to object bytes with `gcc -c`.
pub fn compile_c(source: &str, flags: &[&str]) -> Vec<u8> {
    compile("gcc", "c", source, flags)
}

/// GNU assembler source text to object bytes with `gcc -c -x assembler`.
pub fn assemble(source: &str, flags: &[&str]) -> Vec<u8> {
    compile("gcc", "assembler", source, flags)
}

/// Maps every section (but TLS templates) of a linker with the default
/// dual-mapping memory manager to its second mapping, at the same offset.
pub fn remap_everything(l: &mut rtdyld::Linker) {
    let mut aliases: Vec<rtdyld::memory::RegionAlias> = Vec::new();
    for id in 0..l.section_count() {
        // (Sections of removed objects are gone.)
        let Ok(s) = l.section(id) else { continue };
        if s.kind.is_tls() {
            continue;
        }
        let local = s.local;
        let mm = l.memory_manager_mut::<rtdyld::DefaultMemoryManager>().unwrap();
        let a = match aliases.iter().find(|a| (local as usize) >= a.local_base as usize && (local as usize) < a.local_base as usize + a.len)
        {
            Some(a) => *a,
            None => {
                let a = mm.alias(local).unwrap();
                aliases.push(a);
                a
            }
        };
        // SAFETY: the target is the alias of the section's own memory.
        unsafe { l.map_section_address(local, a.alias_base as u64 + (local as u64 - a.local_base as u64)) }.unwrap();
    }
}
