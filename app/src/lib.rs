//! Likeness, the desktop app: the window (`gui`) as a library so its tests,
//! benchmarks and the `likeness` binary share it.

pub mod gui;
