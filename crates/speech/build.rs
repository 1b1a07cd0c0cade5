//! Links the two C libraries the speech engines call through their own small FFI
//! (`src/tts/espeak_ffi.rs`, `src/asr/sphinx_ffi.rs`): libespeak-ng and libpocketsphinx +
//! libsphinxbase (Debian bookworm: `libespeak-ng-dev`, `libpocketsphinx-dev`,
//! `libsphinxbase-dev`; `scripts/setup.sh` installs them). A missing library fails the build
//! with the package to install: the engines are not optional.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for (lib, package) in [
        ("espeak-ng", "libespeak-ng-dev"),
        ("pocketsphinx", "libpocketsphinx-dev"),
        ("sphinxbase", "libsphinxbase-dev"),
    ] {
        if let Err(e) = pkg_config::Config::new().probe(lib) {
            panic!(
                "tympan-speech needs the C library {lib} (Debian package {package}; run \
                 scripts/setup.sh): pkg-config says: {e}"
            );
        }
    }
}
