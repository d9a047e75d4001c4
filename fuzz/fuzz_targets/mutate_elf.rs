//! Target (b): structure-aware. The input is a mutation script followed by a
//! (normally valid) seed object; the script edits ELF header fields, section
//! headers, symbol entries and relocation entries of the object with values
//! chosen by the input (see `rtdyld_fuzz::mutate`), then the result is
//! loaded and finalized as in target (a). libFuzzer's own byte mutations
//! also reach the object bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtdyld::Linker;

fuzz_target!(|data: &[u8]| {
    let object = rtdyld_fuzz::mutate::apply_script(data);
    if rtdyld_fuzz::mutate::skip(&object) {
        return;
    }
    let mut linker = Linker::new();
    linker.set_resolver(Some(rtdyld_fuzz::answer_everything()));
    // Also builds the debugger's patched copy of the object (GDB JIT interface).
    linker.set_debugger_registration(true);
    if linker.load_object(&object, "mutated.o").is_ok() {
        let _ = linker.finalize();
        rtdyld_fuzz::query_everything(&linker);
    }
});
