//! Errors: every failure is a value with a message that names what and where.

use std::fmt;

/// The broad class of a failure. The C API maps each class to a fixed result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A NULL pointer, an unknown handle, or an argument out of range.
    InvalidArgument,
    /// The object file is truncated, garbage, or internally inconsistent.
    MalformedObject,
    /// Well-formed input that rtdyld does not handle: another architecture or
    /// file type, an unsupported relocation type or symbol type.
    Unsupported,
    /// Two strong definitions of one symbol.
    DuplicateSymbol,
    /// Symbols that nothing could resolve at finalize.
    UnresolvedSymbol,
    /// A relocation value that does not fit its field.
    RelocationOverflow,
    /// The memory manager refused a reservation, allocation, protection change or finalize.
    MemoryManager,
    /// An unknown symbol name, section id or object id.
    NotFound,
    /// The operation is not possible in the linker's current state.
    InvalidState,
}

/// An rtdyld error: a kind plus a message naming the object, section, symbol
/// and relocation involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub(crate) fn malformed(object: &str, message: impl fmt::Display) -> Self {
        Error::new(ErrorKind::MalformedObject, format!("{object}: malformed object: {message}"))
    }
    pub(crate) fn unsupported(object: &str, message: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Unsupported, format!("{object}: {message}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
