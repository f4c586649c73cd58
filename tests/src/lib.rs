//! End-to-end tests of Likeness; see `tests/tests/`.
