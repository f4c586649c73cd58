//! Child process of the crash test: performs a deterministic sequence of user
//! actions on a library, printing `committed N` after each commit, until it
//! is killed. Restarted, it continues from the state the library is in.

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: crash-writer LIBRARY");
    likeness_tests::crash::write_forever(std::path::Path::new(&path));
}
