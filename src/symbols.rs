//! The linker-wide table of global symbols: one entry per name, interned once.
//!
//! Definitions from loaded objects beat everything else; a strong definition
//! beats a weak or common one whatever the load order; two strong definitions
//! are an error. Names that no object defines are resolved at finalize, by
//! the client's resolver or the host process, and remembered per finalize.
//!
//! Names live in one arena, each followed by a NUL so that it can be handed
//! to `dlsym` or to C callers as it is; the index is an open-addressing
//! table of (hash, id) words. Interning a name therefore costs no
//! allocation of its own, which matters when an object brings hundreds of
//! thousands of symbols.

use std::ffi::CStr;

/// How strongly a definition binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    Weak = 0,
    Common = 1,
    Strong = 2,
}

/// Where a definition lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Definition {
    pub object: u32,
    /// Section id, or `None` for an absolute symbol (then `value` is the address).
    pub section: Option<u32>,
    pub value: u64,
    pub size: u64,
    pub strength: Strength,
    pub is_function: bool,
    /// `STT_GNU_IFUNC`: the address is a resolver whose answer is the symbol's value.
    pub is_ifunc: bool,
    /// A thread-local variable: `value` is its offset in the defining
    /// object's TLS block.
    pub is_tls: bool,
}

impl Definition {
    /// Whether this definition binds rather than `old`: a stronger one
    /// does, and of two common ones the larger (a static link gives a
    /// common symbol the largest size declared: the storage must hold what
    /// every object puts there).
    pub fn displaces(&self, old: &Definition) -> bool {
        self.strength > old.strength || (self.strength == Strength::Common && old.strength == Strength::Common && self.size > old.size)
    }

    /// The order of preference among definitions of one name (greater
    /// binds; equal ones go by load order).
    pub fn rank(&self) -> (Strength, u64) {
        (self.strength, if self.strength == Strength::Common { self.size } else { 0 })
    }
}

/// One global name. Kept for every name any object defines or refers to,
/// so it is small (40 bytes): the definition in use is stored field by
/// field, and the rare IFUNC answer lives in the table's side map.
#[derive(Debug)]
pub struct GlobalSymbol {
    /// Where the name starts in the table's arena (it ends at a NUL).
    name_at: u32,
    /// Live objects that refer to the name with a non-weak undefined symbol.
    pub strong_references: u32,
    /// Live objects that refer to the name with an undefined symbol.
    pub references: u32,
    /// With a definition: its object and section (`NO_SECTION` when absolute).
    object: u32,
    section: u32,
    /// `DEFINED`, `RESOLVED` and the definition's kind and strength.
    flags: u32,
    /// With a definition: its value. Without: the address found outside
    /// the loaded objects at the last finalize (with `RESOLVED`).
    value: u64,
    /// The definition's size.
    size: u64,
}

const _: () = assert!(std::mem::size_of::<GlobalSymbol>() == 40);

const DEFINED: u32 = 1;
const RESOLVED: u32 = 1 << 1;
const FUNCTION: u32 = 1 << 2;
const IFUNC: u32 = 1 << 3;
const TLS: u32 = 1 << 4;
const STRENGTH_SHIFT: u32 = 8;
const NO_SECTION: u32 = u32::MAX;

impl GlobalSymbol {
    fn new(name_at: u32) -> Self {
        GlobalSymbol { name_at, strong_references: 0, references: 0, object: 0, section: NO_SECTION, flags: 0, value: 0, size: 0 }
    }

    /// Whether a loaded object defines the name.
    #[inline]
    pub fn is_defined(&self) -> bool {
        self.flags & DEFINED != 0
    }

    #[inline]
    pub fn definition(&self) -> Option<Definition> {
        if self.flags & DEFINED == 0 {
            return None;
        }
        let strength = match (self.flags >> STRENGTH_SHIFT) & 3 {
            0 => Strength::Weak,
            1 => Strength::Common,
            _ => Strength::Strong,
        };
        Some(Definition {
            object: self.object,
            section: (self.section != NO_SECTION).then_some(self.section),
            value: self.value,
            size: self.size,
            strength,
            is_function: self.flags & FUNCTION != 0,
            is_ifunc: self.flags & IFUNC != 0,
            is_tls: self.flags & TLS != 0,
        })
    }

    /// Replaces the definition in use (`None`: withdrawn), forgetting any
    /// address found outside. (The table forgets the IFUNC answer.)
    #[inline]
    fn set_definition(&mut self, def: Option<Definition>) {
        let Some(d) = def else {
            (self.object, self.section, self.flags, self.value, self.size) = (0, NO_SECTION, 0, 0, 0);
            return;
        };
        let bit = |on: bool, b: u32| if on { b } else { 0 };
        debug_assert!(d.section != Some(NO_SECTION));
        self.object = d.object;
        self.section = d.section.unwrap_or(NO_SECTION);
        self.value = d.value;
        self.size = d.size;
        self.flags =
            DEFINED | bit(d.is_function, FUNCTION) | bit(d.is_ifunc, IFUNC) | bit(d.is_tls, TLS) | (d.strength as u32) << STRENGTH_SHIFT;
    }

    /// The address found outside the loaded objects, for a name no loaded
    /// object defines.
    #[inline]
    pub fn external(&self) -> Option<u64> {
        (self.flags & (DEFINED | RESOLVED) == RESOLVED).then_some(self.value)
    }

    #[inline]
    pub fn set_external(&mut self, addr: Option<u64>) {
        if self.flags & DEFINED == 0 {
            (self.flags, self.value) = match addr {
                Some(a) => (RESOLVED, a),
                None => (0, 0),
            };
        }
    }
}

/// The hash of a symbol name (the high half of a 64-bit hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameHash(u32);

#[derive(Debug)]
pub struct SymbolTable {
    symbols: Vec<GlobalSymbol>,
    /// Every name, each followed by a NUL.
    names: Vec<u8>,
    /// Open addressing with linear probing: `hash << 32 | (id + 1)`, 0 when
    /// empty. The length is a power of two, at most half full.
    slots: Vec<u64>,
    seed: u64,
    /// The answers of the resolvers of IFUNC definitions, once asked.
    ifunc_answers: std::collections::HashMap<u32, u64>,
    /// Host functions whose address in the loaded code is a stub (see
    /// [`Canonical`]).
    canonical: std::collections::HashMap<u32, Canonical>,
    /// A thread-local definition was ever set.
    tls_defined: bool,
}

/// The stub that stands for a host function wherever loaded code takes
/// its address: in object `object`, at `offset` of its stub section
/// `section`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canonical {
    pub object: u32,
    pub section: u32,
    pub offset: u64,
}

impl Default for SymbolTable {
    fn default() -> Self {
        // A per-table seed, so that names chosen to collide in one process
        // do not collide in another.
        use std::hash::{BuildHasher, RandomState};
        SymbolTable {
            symbols: Vec::new(),
            names: Vec::new(),
            slots: Vec::new(),
            seed: RandomState::new().hash_one(0x5eed_u64),
            ifunc_answers: Default::default(),
            canonical: Default::default(),
            tls_defined: false,
        }
    }
}

impl SymbolTable {
    /// The hash of `name` in this table.
    fn hash(&self, name: &[u8]) -> NameHash {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h = self.seed ^ (name.len() as u64).wrapping_mul(K);
        let mut chunks = name.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h ^ w).wrapping_mul(K).rotate_left(29);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            h = (h ^ tail_word(name, rest.len())).wrapping_mul(K).rotate_left(29);
        }
        // Final mix (MurmurHash3's), so that every bit of the name reaches
        // the high half used below.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        NameHash((h >> 32) as u32)
    }

    /// The slot where `name` is, or the empty slot where it would go,
    /// probing from slot `i` (its home slot).
    fn probe_from(&self, mut i: usize, name: &[u8], h: NameHash) -> (usize, Option<u32>) {
        let mask = self.slots.len() - 1;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return (i, None);
            }
            if (s >> 32) as u32 == h.0 {
                let id = (s as u32) - 1;
                let at = self.symbols[id as usize].name_at as usize;
                if self.names.get(at..at + name.len()) == Some(name) && self.names.get(at + name.len()) == Some(&0) {
                    return (i, Some(id));
                }
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        self.grow_to((self.slots.len() * 2).max(1024));
    }

    /// Rebuilds the index with `len` (a power of two) slots.
    fn grow_to(&mut self, len: usize) {
        let mut slots = Vec::with_capacity(len);
        crate::pages::prefer_huge_pages(&slots);
        crate::pages::populate_spare(&slots, len);
        slots.resize(len, 0u64);
        let mask = len - 1;
        for &s in self.slots.iter().filter(|&&s| s != 0) {
            let mut i = (s >> 32) as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = s;
        }
        self.slots = slots;
    }

    /// Makes room for `more` new names without rebuilding the index.
    pub fn reserve(&mut self, more: usize) {
        let want = (self.symbols.len() + more + 1) * 2;
        if self.slots.len() < want {
            // One rebuild, straight to the final size.
            self.grow_to(want.next_power_of_two().max(1024));
        }
        let fresh = self.symbols.is_empty();
        self.symbols.reserve(more);
        crate::pages::prefer_huge_pages(&self.symbols);
        if fresh {
            // Every name is new to an empty table: all the room is used.
            // (Later, most names of an object may be there already.)
            crate::pages::populate_spare(&self.symbols, more);
        }
    }

    /// The id of `name`, creating an entry when new.
    #[cfg(test)]
    pub fn intern(&mut self, name: &[u8]) -> u32 {
        self.intern_hashed(name, self.hash(name))
    }

    /// Interns `count` names (`name(k)` for each k) and returns their ids.
    /// With many names, most of the time goes into cache misses on the
    /// index: each name's slot is prefetched a few names ahead. The hashes
    /// are worked out first, in `ids` itself, each replaced by its name's
    /// id in turn (one buffer, not two). Returns false, interning nothing,
    /// when the names could take the arena past 4 GiB.
    pub fn intern_all<'n>(&mut self, count: usize, name: impl Fn(usize) -> &'n [u8], ids: &mut Vec<u32>) -> bool {
        const AHEAD: usize = 8;
        self.reserve(count);
        ids.clear();
        ids.reserve(count);
        crate::pages::populate_spare(ids, count);
        let mut bytes = 0;
        ids.extend((0..count).map(|k| {
            let n = name(k);
            bytes += n.len() + 1;
            self.hash(n).0
        }));
        if self.names.len().saturating_add(bytes) > u32::MAX as usize {
            ids.clear();
            return false;
        }
        // Room for every name at once (names already present stay unused).
        let fresh = self.names.is_empty();
        self.names.reserve(bytes);
        if fresh {
            crate::pages::populate_spare(&self.names, bytes);
        }
        let mask = self.slots.len() - 1;
        for k in 0..count {
            if let Some(&next) = ids.get(k + AHEAD) {
                prefetch(&self.slots[next as usize & mask]);
            }
            ids[k] = self.intern_hashed(name(k), NameHash(ids[k]));
        }
        true
    }

    fn intern_hashed(&mut self, name: &[u8], h: NameHash) -> u32 {
        if (self.symbols.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let (slot, found) = self.probe_from(h.0 as usize & (self.slots.len() - 1), name, h);
        if let Some(id) = found {
            return id;
        }
        let id = self.symbols.len() as u32;
        // (Below 4 GiB: checked by the callers.)
        let name_at = self.names.len() as u32;
        self.names.extend_from_slice(name);
        self.names.push(0);
        self.symbols.push(GlobalSymbol::new(name_at));
        self.slots[slot] = (u64::from(h.0) << 32) | u64::from(id + 1);
        id
    }

    pub fn find(&self, name: &[u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let h = self.hash(name);
        self.probe_from(h.0 as usize & (self.slots.len() - 1), name, h).1
    }

    pub fn get(&self, id: u32) -> &GlobalSymbol {
        &self.symbols[id as usize]
    }

    pub fn get_mut(&mut self, id: u32) -> &mut GlobalSymbol {
        &mut self.symbols[id as usize]
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// The name's bytes.
    pub fn name(&self, id: u32) -> &[u8] {
        self.cname(id).to_bytes()
    }

    /// The name as a C string (names come from ELF string tables, which
    /// end them at the first NUL, so none holds one).
    pub fn cname(&self, id: u32) -> &CStr {
        let s = &self.symbols[id as usize];
        CStr::from_bytes_until_nul(&self.names[s.name_at as usize..]).unwrap_or_default()
    }

    /// The name for messages.
    pub fn name_str(&self, id: u32) -> &str {
        std::str::from_utf8(self.name(id)).unwrap_or("<non-UTF-8 name>")
    }

    /// Would a new definition of `name` with `strength` clash with a strong
    /// one already present? Returns the defining object of the clash.
    pub fn clash(&self, id: u32, strength: Strength) -> Option<u32> {
        let def = self.symbols[id as usize].definition()?;
        (strength == Strength::Strong && def.strength == Strength::Strong).then_some(def.object)
    }

    /// Replaces the definition in use of `id` (`None`: withdrawn).
    #[inline]
    pub fn set_definition(&mut self, id: u32, def: Option<Definition>) {
        self.tls_defined |= def.is_some_and(|d| d.is_tls);
        self.symbols[id as usize].set_definition(def);
        if !self.ifunc_answers.is_empty() {
            self.ifunc_answers.remove(&id);
        }
    }

    /// Whether any thread-local definition was ever set (so that a
    /// finalize need not look for references to one otherwise).
    pub fn any_tls_definition(&self) -> bool {
        self.tls_defined
    }

    /// The answer of the resolver of `id`'s IFUNC definition, once asked.
    #[inline]
    pub fn ifunc_value(&self, id: u32) -> Option<u64> {
        if self.ifunc_answers.is_empty() {
            return None;
        }
        self.ifunc_answers.get(&id).copied()
    }

    /// The stub that stands for `id`, a host function, in the loaded code.
    #[inline]
    pub fn canonical(&self, id: u32) -> Option<Canonical> {
        if self.canonical.is_empty() {
            return None;
        }
        self.canonical.get(&id).copied()
    }

    /// Records (or, with `None`, forgets) the stub that stands for `id`.
    pub fn set_canonical(&mut self, id: u32, c: Option<Canonical>) {
        match c {
            Some(c) => self.canonical.insert(id, c),
            None => self.canonical.remove(&id),
        };
    }

    /// Records (or, with `None`, forgets) the answer of the resolver of
    /// `id`'s IFUNC definition.
    pub fn set_ifunc_value(&mut self, id: u32, v: Option<u64>) {
        match v {
            Some(v) if self.symbols[id as usize].flags & IFUNC != 0 => {
                self.ifunc_answers.insert(id, v);
            }
            _ => {
                self.ifunc_answers.remove(&id);
            }
        }
    }

    /// Records a definition, keeping the one that binds (see
    /// [`Definition::displaces`]; the first of equals). Returns whether the
    /// new one took effect.
    #[inline]
    pub fn define(&mut self, id: u32, def: Definition) -> bool {
        match self.symbols[id as usize].definition() {
            Some(old) if !def.displaces(&old) => false,
            _ => {
                self.set_definition(id, Some(def));
                true
            }
        }
    }
}

/// The last `n` (1 to 7) bytes of `name` as a little-endian word, zero
/// above. Read with whole loads: copying them into a zeroed buffer and
/// loading that back stalls the load on the bytes just stored.
#[inline]
fn tail_word(name: &[u8], n: usize) -> u64 {
    let len = name.len();
    let word = |at: usize| {
        u64::from_le_bytes([name[at], name[at + 1], name[at + 2], name[at + 3], name[at + 4], name[at + 5], name[at + 6], name[at + 7]])
    };
    let half = |at: usize| u64::from(u32::from_le_bytes([name[at], name[at + 1], name[at + 2], name[at + 3]]));
    if len >= 8 {
        // The name's last 8 bytes, of which the first 8 - n were hashed.
        word(len - 8) >> (8 * (8 - n))
    } else if n >= 4 {
        // Two overlapping 4-byte loads; where they overlap they hold the
        // same bytes.
        half(0) | half(n - 4) << (8 * (n - 4))
    } else {
        // 1 to 3 bytes (the name is the tail).
        u64::from(name[0]) | u64::from(name[n / 2]) << (8 * (n / 2)) | u64::from(name[n - 1]) << (8 * (n - 1))
    }
}

/// Asks the CPU to bring `v` into the cache.
#[inline]
fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing the program sees
    // and cannot fault; `v` is a valid reference anyway.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<{ _MM_HINT_T0 }>((v as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_finds_every_name_again_and_keeps_them_nul_terminated() {
        let mut t = SymbolTable::default();
        let names: Vec<Vec<u8>> = (0..20_000).map(|i| format!("f_{i}").into_bytes()).chain([b"".to_vec(), b"x".to_vec()]).collect();
        let mut ids = Vec::new();
        t.intern_all(names.len(), |k| &names[k], &mut ids);
        assert_eq!(t.len(), names.len());
        for (n, &id) in names.iter().zip(&ids) {
            assert_eq!(t.find(n), Some(id));
            assert_eq!(t.intern(n), id, "interning again gives the same id");
            assert_eq!(t.name(id), &n[..]);
            assert_eq!(t.cname(id).to_bytes(), &n[..]);
        }
        assert_eq!(t.find(b"f_20000"), None);
        assert_eq!(t.find(b"f_1\0"), None);
    }

    #[test]
    fn the_tail_word_is_the_last_bytes_zero_padded() {
        let bytes: Vec<u8> = (1..=40u8).map(|b| b.wrapping_mul(37) | 0x80).collect();
        for len in 1..=24 {
            let name = &bytes[..len];
            let n = len % 8;
            if n == 0 {
                continue;
            }
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&name[len - n..]);
            assert_eq!(tail_word(name, n), u64::from_le_bytes(b), "length {len}");
        }
    }

    #[test]
    fn stronger_definitions_win_whatever_the_order() {
        let mut t = SymbolTable::default();
        let id = t.intern(b"pick");
        let def = |object, strength| Definition {
            object,
            section: None,
            value: u64::from(object),
            size: 0,
            strength,
            is_function: true,
            is_ifunc: false,
            is_tls: false,
        };
        assert!(t.define(id, def(0, Strength::Weak)));
        assert!(!t.define(id, def(1, Strength::Weak)), "the first of equals stays");
        assert!(t.define(id, def(2, Strength::Strong)));
        assert!(!t.define(id, def(3, Strength::Common)));
        assert_eq!(t.get(id).definition().map(|d| d.object), Some(2));
        assert_eq!(t.clash(id, Strength::Strong), Some(2));
        assert_eq!(t.clash(id, Strength::Weak), None);
        let other = t.intern(b"other");
        assert_eq!(t.clash(other, Strength::Strong), None);
        // Of common definitions, the largest; a strong one beats any.
        let c = t.intern(b"common");
        let sized = |object, size, strength| Definition { size, ..def(object, strength) };
        assert!(t.define(c, sized(0, 16, Strength::Common)));
        assert!(!t.define(c, sized(1, 16, Strength::Common)), "the first of equals stays");
        assert!(!t.define(c, sized(2, 8, Strength::Common)));
        assert!(t.define(c, sized(3, 32, Strength::Common)));
        assert!(!t.define(c, sized(4, 64, Strength::Weak)));
        assert!(t.define(c, sized(5, 4, Strength::Strong)));
        assert!(!t.define(c, sized(6, 128, Strength::Common)));
        assert_eq!(t.get(c).definition().map(|d| d.object), Some(5));
    }

    #[test]
    fn a_definition_reads_back_as_stored_and_replaces_what_was_found_outside() {
        let mut t = SymbolTable::default();
        let id = t.intern(b"packed");
        t.get_mut(id).set_external(Some(0x7f00_1234_5678));
        assert_eq!(t.get(id).external(), Some(0x7f00_1234_5678));
        for (section, strength, f, i, tls) in [
            (Some(7), Strength::Weak, true, false, false),
            (None, Strength::Common, false, false, true),
            (Some(u32::MAX - 1), Strength::Strong, true, true, false),
        ] {
            let def =
                Definition { object: 3, section, value: u64::MAX - 5, size: 1 << 40, strength, is_function: f, is_ifunc: i, is_tls: tls };
            t.set_definition(id, Some(def));
            assert_eq!(t.get(id).definition(), Some(def));
            assert_eq!(t.get(id).external(), None, "a definition hides any address found outside");
        }
        // An IFUNC answer is forgotten with the definition it was asked of.
        t.set_ifunc_value(id, Some(0x1000));
        assert_eq!(t.ifunc_value(id), Some(0x1000));
        t.set_definition(id, None);
        assert_eq!(t.ifunc_value(id), None);
        assert_eq!(t.get(id).definition(), None);
        assert_eq!(t.get(id).external(), None, "nothing found outside since the definition went");
        t.get_mut(id).set_external(Some(42));
        assert_eq!(t.get(id).external(), Some(42));
        t.get_mut(id).set_external(None);
        assert_eq!(t.get(id).external(), None);
        // Only an IFUNC definition takes an answer.
        t.set_ifunc_value(id, Some(5));
        assert_eq!(t.ifunc_value(id), None);
    }
}
