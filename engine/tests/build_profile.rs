//! Regression test: the dev profile (what `scripts/run.sh` runs the app in,
//! and what the benchmarks use) builds dependencies optimised and without
//! debug assertions. With them, the `gemm` crate checks assertions inside
//! its kernels and multiplied 5× slower (30 against 160 GFLOP/s on one
//! core), which went unnoticed for two sessions of kernel work.

/// The `key = value` lines of `[section]` in a TOML file's text.
fn section<'a>(toml: &'a str, header: &str) -> Vec<&'a str> {
    toml.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn dev_profile_builds_dependencies_optimised_without_debug_assertions() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let toml = std::fs::read_to_string(path).expect("workspace Cargo.toml");
    let deps = section(&toml, "[profile.dev.package.\"*\"]");
    for setting in [
        "opt-level = 3",
        "debug-assertions = false",
        "overflow-checks = false",
    ] {
        assert!(
            deps.contains(&setting),
            "[profile.dev.package.\"*\"] lacks `{setting}`: {deps:?}"
        );
    }
    let engine = section(&toml, "[profile.dev.package.likeness-engine]");
    assert!(engine.contains(&"opt-level = 3"), "engine: {engine:?}");
}
