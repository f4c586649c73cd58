//! `likeness import`: runs the engine's import job and shows its progress, as
//! a progress bar on a terminal and as plain lines otherwise, then a summary.

use anyhow::bail;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use likeness_engine::import::{ImportPhase, ImportSummary};
use likeness_engine::{Command, Engine, Event, Reply};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Imports `folders` and prints the summary; returns it for the exit status.
pub fn import(
    engine: &Engine,
    folders: Vec<PathBuf>,
    exclusions: Vec<String>,
) -> anyhow::Result<ImportSummary> {
    let want = engine.send(Command::Import {
        folders,
        exclusions,
    });
    let terminal = std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        None,
        if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut phase = None;
    let mut err = std::io::stderr().lock();
    loop {
        let event = engine.events().recv()?;
        match event {
            Event::ImportProgress(p) => {
                if phase != Some(p.phase) {
                    phase = Some(p.phase);
                    bar.set_prefix(phase_name(p.phase));
                    if !terminal {
                        writeln!(err, "{}…", phase_name(p.phase))?;
                    }
                }
                bar.set_length(p.total);
                bar.set_position(p.done);
                bar.set_message(p.current.unwrap_or_default());
                if !terminal && p.phase == ImportPhase::Detect && p.done > 0 && p.done % 50 == 0 {
                    writeln!(
                        err,
                        "{}/{} photos, {:.1} images/s",
                        p.done, p.total, p.rate_per_s
                    )?;
                }
            }
            Event::ImportFileFailed(f) => {
                bar.suspend(|| writeln!(err, "failed: {}: {}", f.path, f.reason))?;
            }
            Event::Reply { id, result } if id == want => {
                bar.finish_and_clear();
                return match result? {
                    Reply::Imported(summary) => Ok(*summary),
                    other => bail!("unexpected reply {other:?}"),
                };
            }
            _ => {}
        }
    }
}

fn phase_name(phase: ImportPhase) -> &'static str {
    match phase {
        ImportPhase::Scan => "scan",
        ImportPhase::Detect => "detect",
        ImportPhase::Recognise => "recognise",
        ImportPhase::Done => "done",
    }
}

/// Prints the summary of an import.
pub fn print_summary(out: &mut impl Write, s: &ImportSummary) -> std::io::Result<()> {
    writeln!(
        out,
        "photos seen {}, new {}, duplicates {}, no faces {}, failed {}, faces found {}, not images {}, {:.1} s, {:.2} images/s{}",
        s.photos_seen,
        s.new_photos,
        s.duplicates,
        s.no_faces,
        s.failed.len(),
        s.faces_found,
        s.not_images,
        s.duration_ms as f64 / 1e3,
        s.images_per_s,
        if s.cancelled { " (cancelled)" } else { "" }
    )?;
    for f in &s.failed {
        writeln!(out, "  failed: {}: {}", f.path, f.reason)?;
    }
    Ok(())
}
