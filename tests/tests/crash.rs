//! Crash test: a child process doing writes (user actions, photo commits, and
//! index segment flushes and merges) is killed with `SIGKILL` at random moments;
//! after every kill the library opens, passes `check`, and holds every action
//! the child reported committed.

use likeness_engine::Library;
use likeness_tests::crash::verify;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How many times the writer is killed (CI-sized).
const KILLS: usize = 60;

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.redb");
    let mut rng = StdRng::seed_from_u64(5);
    let mut last: Option<(u64, char)> = None;
    let mut total_lines = 0;
    for kill in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn crash-writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(5..120)));
        child.kill().expect("SIGKILL the writer");
        child.wait().expect("reap the writer");
        let lines = reader.join().expect("reader thread");
        total_lines += lines.len();
        if let Some(line) = lines.last() {
            let tag = line
                .strip_prefix("committed ")
                .expect("writer prints only commits");
            let (num, sub) = tag.split_at(tag.len() - 1);
            last = Some((
                num.parse().expect("step number"),
                sub.chars().next().expect("sub-step"),
            ));
        }
        let lib =
            Library::open(&path).unwrap_or_else(|e| panic!("kill {kill}: reopen failed: {e}"));
        let report = lib.check().expect("check runs");
        assert!(report.is_consistent(), "kill {kill}: {:?}", report.problems);
        if let Some((step, sub)) = last {
            verify(&lib, step, sub)
                .unwrap_or_else(|e| panic!("kill {kill}: committed action lost: {e}"));
        }
    }
    assert!(
        total_lines > KILLS,
        "the writer committed too little to test anything ({total_lines} commits)"
    );
}
