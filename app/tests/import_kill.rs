//! Kill test of the import: `likeness import` is killed with `SIGKILL` at
//! random moments and restarted; after every kill the library passes
//! `check`, and the final library equals one made by an uninterrupted import.

use likeness_testkit::{models_dir, shared_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Kills in the CI-sized form.
const KILLS: u64 = 20;

fn likeness(library: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_likeness"));
    cmd.arg("--library").arg(library);
    if std::env::var_os("LIKENESS_MODELS").is_none() {
        cmd.env("LIKENESS_MODELS", models_dir());
    }
    cmd
}

fn folders() -> Vec<PathBuf> {
    let faces = shared_dir().join("faces");
    [
        "group",
        "edge",
        "people/Aaron_Peirsol",
        "people/Al_Sharpton",
    ]
    .iter()
    .map(|f| faces.join(f))
    .collect()
}

fn export(library: &Path) -> Value {
    let out = likeness(library)
        .args(["export", "--json"])
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("export JSON")
}

fn check(library: &Path) {
    let out = likeness(library).arg("check").output().expect("check");
    assert!(
        out.status.success(),
        "check failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Photos and faces, compared exactly but for box coordinates (to 0.01 px).
fn assert_same_library(a: &Value, b: &Value) {
    assert_eq!(a["photos"], b["photos"], "photos differ");
    let (fa, fb) = (
        a["faces"].as_array().expect("faces"),
        b["faces"].as_array().expect("faces"),
    );
    assert_eq!(fa.len(), fb.len(), "face counts differ");
    for (x, y) in fa.iter().zip(fb) {
        assert_eq!(
            (&x["id"], &x["photo"], &x["person"]),
            (&y["id"], &y["photo"], &y["person"])
        );
        for (p, q) in x["bbox"]
            .as_array()
            .expect("bbox")
            .iter()
            .zip(y["bbox"].as_array().expect("bbox"))
        {
            let (p, q) = (p.as_f64().expect("number"), q.as_f64().expect("number"));
            assert!((p - q).abs() < 0.01, "face {}: box {p} vs {q}", x["id"]);
        }
    }
}

#[test]
fn killed_import_resumes_to_the_same_library() {
    let dir = tempfile::tempdir().expect("temp dir");
    let straight = dir.path().join("straight.redb");
    let out = likeness(&straight)
        .arg("import")
        .args(folders())
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = export(&straight);
    assert!(
        expected["faces"].as_array().is_some_and(|f| f.len() > 20),
        "a meaningful import"
    );

    let killed = dir.path().join("killed.redb");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for kill in 0..KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(500 + seed % 3500);
        let mut child = likeness(&killed)
            .arg("import")
            .args(folders())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn import");
        std::thread::sleep(delay);
        let finished = child.try_wait().expect("poll").is_some();
        let _ = child.kill();
        child.wait().expect("reap");
        check(&killed);
        if finished {
            eprintln!("kill {kill}: the import had already finished");
        }
    }
    let out = likeness(&killed)
        .arg("import")
        .args(folders())
        .output()
        .expect("final import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(&killed);
    assert_same_library(&export(&killed), &expected);
}
