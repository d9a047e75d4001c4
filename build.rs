fn main() {
    // The rtdyld command is linked without PIE so that the C library's data
    // gets copy relocations into it (see src/bin/host_data.rs).
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
