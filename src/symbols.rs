//! The linker-wide table of global symbols: one entry per name, interned once.
//!
//! Definitions from loaded objects beat everything else; a strong definition
//! beats a weak or common one whatever the load order; two strong definitions
//! are an error. Names that no object defines are resolved at finalize, by
//! the client's resolver or the host process, and remembered per finalize.

use std::collections::HashMap;
use std::ffi::CString;

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

#[derive(Debug)]
pub struct GlobalSymbol {
    pub name: CString,
    pub definition: Option<Definition>,
    /// The address found outside the loaded objects at the last finalize.
    pub external: Option<u64>,
    /// Live objects that refer to the name with a non-weak undefined symbol.
    pub strong_references: u32,
    /// Live objects that refer to the name with an undefined symbol.
    pub references: u32,
    /// The address relocations were last applied with.
    pub applied_value: Option<u64>,
    /// The answer of its IFUNC resolver, once asked.
    pub ifunc_value: Option<u64>,
}

impl GlobalSymbol {
    pub fn name_str(&self) -> &str {
        self.name.to_str().unwrap_or("<non-UTF-8 name>")
    }
}

#[derive(Debug, Default)]
pub struct SymbolTable {
    ids: HashMap<Box<[u8]>, u32>,
    symbols: Vec<GlobalSymbol>,
}

impl SymbolTable {
    /// The id of `name`, creating an entry when new.
    pub fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.symbols.len() as u32;
        // Names come from a string table, so they hold no NUL.
        let cname = CString::new(name).unwrap_or_default();
        self.symbols.push(GlobalSymbol {
            name: cname,
            definition: None,
            external: None,
            strong_references: 0,
            references: 0,
            applied_value: None,
            ifunc_value: None,
        });
        self.ids.insert(name.into(), id);
        id
    }

    pub fn find(&self, name: &[u8]) -> Option<u32> {
        self.ids.get(name).copied()
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

    /// Would a new definition of `name` with `strength` clash with a strong
    /// one already present? Returns the defining object of the clash.
    pub fn clash(&self, name: &[u8], strength: Strength) -> Option<u32> {
        let def = self.symbols[*self.ids.get(name)? as usize].definition?;
        (strength == Strength::Strong && def.strength == Strength::Strong).then_some(def.object)
    }

    /// Records a definition, keeping the stronger of old and new (the first
    /// of equals). Returns whether the new one took effect.
    pub fn define(&mut self, id: u32, def: Definition) -> bool {
        let sym = &mut self.symbols[id as usize];
        match sym.definition {
            Some(old) if old.strength >= def.strength => false,
            _ => {
                sym.definition = Some(def);
                sym.ifunc_value = None;
                true
            }
        }
    }
}
