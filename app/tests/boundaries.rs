//! **Architecture Invariant:** the app reaches storage, inference and the
//! vector index only through the engine's channels, so it never depends on
//! redb, burn or instant-distance directly.

use std::process::Command;

const FORBIDDEN: [&str; 4] = ["redb", "burn", "instant-distance", "onnx-ir"];

#[test]
fn app_does_not_depend_on_engine_internals() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let app = packages
        .iter()
        .find(|p| p["name"] == "likeness")
        .expect("the likeness package is in the workspace");
    let deps: Vec<&str> = app["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(
        deps.contains(&"likeness-engine"),
        "the app talks to the engine: {deps:?}"
    );
    for name in FORBIDDEN {
        assert!(
            !deps
                .iter()
                .any(|d| *d == name || d.starts_with(&format!("{name}-"))),
            "app depends on {name} directly: {deps:?}"
        );
    }
}
