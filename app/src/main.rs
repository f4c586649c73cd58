//! The `likeness` binary.

fn main() {}
