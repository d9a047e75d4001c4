//! Target (c): link, finalize, then remap / re-finalize / lookup / load / remove /
//! resolver-change / memory-manager-failure operations chosen by the
//! input; see `rtdyld_fuzz::ops` for the input layout. Memory is ordinary
//! heap memory, never executed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rtdyld_fuzz::ops::run(data));
