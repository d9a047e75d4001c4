//! Generates the C header from src/ffi (written to OUT_DIR; copied to
//! include/rtdyld.h when RTDYLD_UPDATE_HEADER=1, and a test checks that the
//! checked-in header is current), and sets the shared library's SONAME.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap();
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let patch = std::env::var("CARGO_PKG_VERSION_PATCH").unwrap();

    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=RTDYLD_UPDATE_HEADER");

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(format!(
        "\n/* The version of this header; rtdyld_version() returns the library's. */\n\
         #define RTDYLD_VERSION_MAJOR {major}\n\
         #define RTDYLD_VERSION_MINOR {minor}\n\
         #define RTDYLD_VERSION_PATCH {patch}\n\
         #define RTDYLD_VERSION_STRING \"{version}\"\n"
    ));
    let header = out_dir.join("rtdyld.h");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen failed to generate the C header")
        .write_to_file(&header);
    if std::env::var_os("RTDYLD_UPDATE_HEADER").is_some_and(|v| v == "1") {
        std::fs::copy(&header, crate_dir.join("include/rtdyld.h")).expect("copy header to include/");
    }

    // The shared library carries the major version in its SONAME.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librtdyld.so.{major}");
    // The rtdyld command is linked without PIE so that the C library's data
    // gets copy relocations into it (see src/bin/rtdyld/host_data.rs).
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rustc-link-arg-bins=-lstdc++");
}
