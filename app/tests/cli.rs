//! The command line over a real library file: scripted person management,
//! typed one-line errors with a non-zero exit, `check` and `export`.

use std::process::{Command, Output};

fn likeness(library: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_likeness"))
        .arg("--library")
        .arg(library)
        .args(args)
        .output()
        .expect("run likeness")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn scripted_person_management() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lib = dir.path().join("sub/dir/lib.redb");
    let alice = likeness(&lib, &["persons", "create", "Alice"]);
    assert!(alice.status.success());
    assert_eq!(stdout(&alice).trim(), "1");
    assert_eq!(
        stdout(&likeness(&lib, &["persons", "create", "Bob"])).trim(),
        "2"
    );

    for (args, reason) in [
        (
            vec!["persons", "create", "ALICE"],
            "there is already a person named \"Alice\" (id 1)",
        ),
        (
            vec!["persons", "create", "  "],
            "a person's name cannot be empty",
        ),
        (
            vec!["persons", "merge", "1", "1"],
            "cannot merge person 1 into itself",
        ),
        (vec!["persons", "rename", "9", "Zed"], "no person with id 9"),
        (vec!["persons", "assign", "5", "1"], "no face with id 5"),
    ] {
        let out = likeness(&lib, &args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim(), format!("likeness: {reason}"), "{args:?}");
        assert_eq!(err.lines().count(), 1, "one-line reason");
    }

    assert!(
        likeness(&lib, &["persons", "merge", "2", "1"])
            .status
            .success()
    );
    let people = likeness(&lib, &["people", "--json"]);
    let people: serde_json::Value = serde_json::from_slice(&people.stdout).expect("people JSON");
    let names: Vec<&str> = people
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["person"]["name"].as_str())
        .collect();
    assert_eq!(names, ["Alice"]);

    assert_eq!(
        stdout(&likeness(&lib, &["undo"])).trim(),
        "undone: merge \"Bob\" into \"Alice\""
    );
    let check = likeness(&lib, &["check"]);
    assert!(check.status.success(), "{}", stdout(&check));
    assert!(stdout(&check).contains("persons 2"), "{}", stdout(&check));

    let export = likeness(&lib, &["export", "--json"]);
    let export: serde_json::Value = serde_json::from_slice(&export.stdout).expect("export JSON");
    assert_eq!(export["persons"].as_array().map(Vec::len), Some(2));
    assert!(export["photos"].as_array().is_some_and(Vec::is_empty));
}
