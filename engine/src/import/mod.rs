//! Import: folders of photos into the library. `scan` finds photos; `job`
//! runs the phases and commits each photo in one transaction.

pub mod job;
pub mod scan;
pub mod vision_finder;
pub mod watch;

pub use job::{
    FaceFinder, FindError, FoundFaces, ImportPhase, ImportProgress, ImportSink, ImportSummary,
    JobControl, PHOTOS_IN_FLIGHT, run_import,
};
pub use scan::{FileError, ScanOptions};
pub use vision_finder::vision_finder_factory;
