//! rtdyld: a runtime dynamic linker for JIT compilers.
//!
//! It loads ELF x86-64 relocatable objects into memory provided by a
//! [`MemoryManager`], resolves their symbols across objects, through a
//! client resolver and the host process, applies relocations against the
//! addresses where the code will run, and can do it again after sections are
//! moved ([`Linker::map_section_address`]) or symbols change: relocations
//! are retained in 16-byte records and every [`Linker::finalize`] re-applies
//! whatever changed.
//!
//! ```no_run
//! let mut linker = rtdyld::Linker::new();
//! linker.set_process_symbols(true);
//! let obj = std::fs::read("prog.o").unwrap();
//! linker.load_object(&obj, "prog.o").unwrap();
//! linker.finalize().unwrap();
//! let main = linker.lookup("main").unwrap();
//! ```

mod debugger;
mod error;
pub mod ffi;
pub mod host;
mod linker;
mod load;
pub mod memory;
mod pages;
pub mod reloc;
mod runtime;
mod symbols;
mod tls;
mod unwind;

pub use error::{Error, ErrorKind, Result};
pub use linker::{Linker, Resolver, SectionInfo, SymbolInfo, COMMON_SECTION, GOT_SECTION, STUB_SECTION};
pub use memory::{AllocationRequest, DefaultMemoryManager, MemoryManager, ReserveRequest, SectionKind};

/// The library version, `MAJOR.MINOR.PATCH`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
