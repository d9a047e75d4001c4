//! Helpers shared by the rtdyld fuzz targets: a resolver that answers every
//! name, a walk over every query the linker offers, the structure-aware ELF
//! mutator (target b) and the operation interpreter with a heap-backed
//! memory manager (target c).
//!
//! Nothing here ever executes loaded code: the default memory manager's
//! pages are only mapped, and the heap manager's memory is never executable.

pub mod mutate;
pub mod ops;

use rtdyld::{Linker, Resolver};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where resolver answers point: a static in this binary, so that 32-bit
/// PC-relative references from code placed near the host can reach it.
static SINK: [u8; 1 << 16] = [0; 1 << 16];

fn name_hash(name: &str) -> u64 {
    // FNV-1a: deterministic, no allocation.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A resolver that answers every name with an address inside [`SINK`].
pub fn answer_everything() -> Resolver {
    let base = SINK.as_ptr() as u64;
    Box::new(move |name: &str| Some(base + (name_hash(name) % 4096) * 16))
}

/// A resolver that answers every name relative to a base the fuzz input can
/// change between finalizes (to force re-application of relocations).
pub fn answer_from(base: Arc<AtomicU64>) -> Resolver {
    Box::new(move |name: &str| {
        let b = base.load(Ordering::Relaxed);
        if b == u64::MAX {
            None // "not mine": exercises the unresolved-symbol path
        } else {
            Some(b.wrapping_add((name_hash(name) % 4096) * 16))
        }
    })
}

/// The default resolver base: the sink.
pub fn sink_address() -> u64 {
    SINK.as_ptr() as u64
}

/// Calls every read-only query on every object, section and symbol,
/// plus a few out-of-range ones. Results are ignored: only crashes matter.
pub fn query_everything(linker: &Linker) {
    let objects = linker.object_count();
    for o in 0..=objects {
        let _ = linker.object_name(o);
        if let Ok(ids) = linker.object_sections(o) {
            for &id in ids {
                let _ = linker.section(id);
            }
        }
        let n = linker.object_symbol_count(o).unwrap_or(0);
        for i in 0..=n.min(4096) {
            if let Ok(sym) = linker.object_symbol(o, i) {
                if let Ok(name) = sym.name.to_str() {
                    let _ = linker.lookup(name);
                    let _ = linker.lookup_local(name);
                }
            }
        }
    }
    let _ = linker.section(linker.section_count());
    let _ = linker.section(u32::MAX);
    let _ = linker.lookup("");
    let _ = linker.lookup("\u{0}");
    let _ = linker.retained_relocation_bytes();
    let _ = linker.retained_relocation_count();
}
