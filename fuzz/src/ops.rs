//! Target (c): link, finalize, then a sequence of remaps, re-finalizes,
//! lookups, extra loads, object removals, resolver changes and
//! memory-manager failures, all driven by the input.
//!
//! Input layout: `[n][n ops of OP bytes][objects]`, `n % 64` ops, where
//! each op is `[code][a][b: u64 LE]` and the objects follow as
//! `[len: u32 LE][bytes]...` (at most 4; a length past the end takes the rest).
//!
//! Memory comes from [`HeapMemoryManager`]: ordinary heap blocks, never
//! executable, so moving a section's target address anywhere is harmless
//! (the target is only a number written into relocated fields).
//! `.eh_frame` registration is off because targets are not mapped here.

use rtdyld::{AllocationRequest, Linker, MemoryManager, ReserveRequest};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

pub const OP: usize = 10;

pub const FAIL_RESERVE: u32 = 1;
pub const FAIL_ALLOCATE: u32 = 2;
pub const FAIL_BEGIN: u32 = 4;
pub const FAIL_MAKE_WRITABLE: u32 = 8;
pub const FAIL_FINALIZE: u32 = 16;
pub const FAIL_RELEASE: u32 = 32;

/// A memory manager that hands out zeroed heap blocks, refuses absurd
/// requests, and fails the next call of a kind when the input says so.
pub struct HeapMemoryManager {
    blocks: Vec<Vec<u8>>,
    total: usize,
    fail: Arc<AtomicU32>,
}

const MAX_BLOCK: usize = 64 << 20;
const MAX_TOTAL: usize = 256 << 20;

impl HeapMemoryManager {
    pub fn new(fail: Arc<AtomicU32>) -> Self {
        HeapMemoryManager {
            blocks: Vec::new(),
            total: 0,
            fail,
        }
    }
    /// `[local, local + size)` lies inside one block handed out.
    fn owns(&self, local: *mut u8, size: usize) -> bool {
        self.blocks.iter().any(|b| {
            let start = b.as_ptr() as usize;
            (local as usize) >= start && (local as usize).saturating_add(size) <= start + b.len()
        })
    }
    fn take(&self, bit: u32) -> bool {
        self.fail.fetch_and(!bit, Ordering::Relaxed) & bit != 0
    }
}

impl MemoryManager for HeapMemoryManager {
    fn reserve(&mut self, r: &ReserveRequest) -> Result<(), String> {
        if self.take(FAIL_RESERVE) {
            return Err("fuzz: reserve refused".into());
        }
        let sum = r
            .code_size
            .saturating_add(r.ro_size)
            .saturating_add(r.rw_size);
        if sum > MAX_TOTAL {
            return Err(format!("fuzz: reserve of {sum} bytes is too much"));
        }
        Ok(())
    }

    fn allocate(&mut self, r: &AllocationRequest<'_>) -> Result<*mut u8, String> {
        if self.take(FAIL_ALLOCATE) {
            return Err(format!("fuzz: allocation of {} refused", r.name));
        }
        if !r.align.is_power_of_two() || r.align > 1 << 16 {
            return Err(format!("fuzz: alignment {} refused", r.align));
        }
        if r.size > MAX_BLOCK || self.total.saturating_add(r.size) > MAX_TOTAL {
            return Err(format!("fuzz: {} bytes refused", r.size));
        }
        let mut block = vec![0u8; r.size + r.align];
        let base = block.as_mut_ptr();
        let pad = base.align_offset(r.align);
        self.total += r.size;
        self.blocks.push(block);
        // SAFETY: pad < align, and the block has size + align bytes.
        Ok(unsafe { base.add(pad) })
    }

    fn begin_finalize(&mut self) -> Result<(), String> {
        if self.take(FAIL_BEGIN) {
            return Err("fuzz: begin_finalize failed".into());
        }
        Ok(())
    }

    fn make_writable(&mut self, local: *mut u8, size: usize, _id: u32) -> Result<(), String> {
        if self.take(FAIL_MAKE_WRITABLE) {
            return Err("fuzz: make_writable failed".into());
        }
        // The range must be one of ours.
        if !self.owns(local, size) {
            panic!(
                "make_writable({local:p}, {size}) is not inside any block this manager handed out"
            );
        }
        Ok(())
    }

    fn release(&mut self, local: *mut u8, size: usize, _id: u32) -> Result<(), String> {
        if self.take(FAIL_RELEASE) {
            return Err("fuzz: release failed".into());
        }
        if !self.owns(local, size) {
            panic!("release({local:p}, {size}) is not inside any block this manager handed out");
        }
        Ok(())
    }

    fn finalize(&mut self) -> Result<(), String> {
        if self.take(FAIL_FINALIZE) {
            return Err("fuzz: finalize failed".into());
        }
        Ok(())
    }
}

/// The objects, each copied into its own (8-byte aligned) buffer: rtdyld
/// rejects an object that is not 8-byte aligned in memory (reported; see
/// fuzz/RESULTS.md).
fn split_objects(mut rest: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while rest.len() >= 4 && out.len() < 4 {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        rest = &rest[4..];
        let len = len.min(rest.len());
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    out
}

pub fn run(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let len = ((n % 64) as usize * OP).min(rest.len() / OP * OP);
    let (ops, rest) = rest.split_at(len);
    // Objects with IFUNC symbols would make finalize run their code (see
    // `crate::mutate::has_ifunc`). No size filter: the heap manager refuses
    // absurd sizes itself.
    let mut objects = split_objects(rest);
    objects.retain(|o| !crate::mutate::has_ifunc(o));
    if objects.is_empty() {
        return;
    }

    let fail = Arc::new(AtomicU32::new(0));
    let base = Arc::new(AtomicU64::new(crate::sink_address()));
    let mut linker = Linker::with_memory_manager(Box::new(HeapMemoryManager::new(fail.clone())));
    linker.set_register_eh_frames(false);
    linker.set_resolver(Some(crate::answer_from(base.clone())));
    let _ = linker.load_object(&objects[0], "fuzz0.o");
    let _ = linker.finalize();
    let mut next_object = 1usize;

    for op in ops.chunks_exact(OP) {
        let (code, a) = (op[0], op[1]);
        let b = u64::from_le_bytes(op[2..10].try_into().unwrap());
        let count = linker.section_count();
        match code % 12 {
            0 => {
                if count == 0 {
                    continue;
                }
                let id = if a & 1 != 0 {
                    b as u32
                } else {
                    (b % count as u64) as u32
                };
                let Ok(s) = linker.section(id % count) else {
                    continue;
                };
                let target = match (a >> 1) % 4 {
                    0 => s.local as u64,
                    1 => (s.local as u64).wrapping_add((b >> 32) & 0xffff_fff0),
                    2 => b,
                    _ => {
                        let other = linker
                            .section(((b >> 40) % count as u64) as u32)
                            .map(|o| o.target)
                            .unwrap_or(0);
                        other.wrapping_add(((b >> 32) & 0xff) << 12)
                    }
                };
                let _ = linker.map_section(id, target);
            }
            1 => {
                let _ = linker.finalize();
            }
            2 => {
                let objs = linker.object_count();
                if objs == 0 {
                    continue;
                }
                let o = a as u32 % objs;
                let syms = linker.object_symbol_count(o).unwrap_or(0);
                if syms > 0 {
                    if let Ok(sym) = linker.object_symbol(o, (b % syms as u64) as u32) {
                        if let Ok(name) = sym.name.to_str() {
                            let name = name.to_owned();
                            let _ = linker.lookup(&name);
                            let _ = linker.lookup_local(&name);
                        }
                    }
                }
            }
            3 => {
                let v = match a % 5 {
                    0 => crate::sink_address(),
                    1 => 0,
                    2 => b,
                    3 => u64::MAX, // resolver answers nothing
                    _ => linker
                        .section((b % count.max(1) as u64) as u32)
                        .map(|s| s.local as u64)
                        .unwrap_or(0),
                };
                base.store(v, Ordering::Relaxed);
            }
            4 => {
                if let Some(obj) = objects.get(next_object % objects.len()) {
                    let name = format!("fuzz{next_object}.o");
                    let _ = linker.load_object(obj, &name);
                }
                next_object += 1;
            }
            5 => linker.set_retain_relocations(a & 1 == 0),
            6 => {
                fail.fetch_or(1 << (a % 6), Ordering::Relaxed);
            }
            7 => {
                if count == 0 {
                    continue;
                }
                if let Ok(s) = linker.section((b % count as u64) as u32) {
                    let local = s
                        .local
                        .wrapping_add(if a & 1 != 0 { a as usize } else { 0 });
                    let _ = linker.map_section_address(local, b.rotate_left(17));
                }
            }
            8 => crate::query_everything(&linker),
            9 => {
                let _ = linker.remove_object(if a & 1 != 0 {
                    b as u32
                } else {
                    (b % linker.object_count().max(1) as u64) as u32
                });
            }
            10 => linker.set_debugger_registration(a & 1 != 0),
            _ => {
                let _ = linker.section(b as u32);
                let _ = linker.object_sections(b as u32);
                let _ = linker.object_symbol(a as u32, b as u32);
                let _ = linker.object_name(b as u32);
            }
        }
    }
    fail.store(0, Ordering::Relaxed);
    let _ = linker.finalize();
}
