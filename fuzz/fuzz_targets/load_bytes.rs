//! Target (a): arbitrary bytes as an object. Load, then finalize with a
//! resolver that answers every name, using the default memory manager (so
//! the real mmap/mprotect/memfd paths and `.eh_frame` registration run).
//! Nothing loaded is ever executed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtdyld::Linker;

fuzz_target!(|data: &[u8]| {
    if rtdyld_fuzz::mutate::skip(data) {
        return;
    }
    let mut linker = Linker::new();
    linker.set_resolver(Some(rtdyld_fuzz::answer_everything()));
    // Also builds the debugger's patched copy of the object (GDB JIT interface).
    linker.set_debugger_registration(true);
    if linker.load_object(data, "fuzz.o").is_ok() {
        let _ = linker.finalize();
        rtdyld_fuzz::query_everything(&linker);
        // A second finalize re-applies nothing but walks the same paths.
        let _ = linker.finalize();
    }
});
