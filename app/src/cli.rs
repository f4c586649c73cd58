//! Command-line interface: parses arguments, sends engine commands, prints
//! replies (plain text, or JSON where asked).

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use likeness_engine::import::vision_finder_factory;
use likeness_engine::models::default_models_dir;
use likeness_engine::store::default_library_path;
use likeness_engine::vision::record::detect_files;
use likeness_engine::{
    Command, DeleteFaces, Engine, EngineConfig, FaceId, Page, PersonId, PersonSort, Reply,
};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Likeness: find, recognise and organise the people in your photos.
#[derive(Debug, Parser)]
#[command(name = "likeness", version, about)]
pub struct Args {
    /// Library file (default: `library.redb` in the platform data directory).
    #[arg(long, global = true, value_name = "PATH")]
    library: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List people with their face and photo counts.
    People {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Include hidden people.
        #[arg(long)]
        hidden: bool,
        /// Most faces first instead of by name.
        #[arg(long)]
        by_faces: bool,
    },
    /// Create, rename, merge, delete people and assign faces.
    #[command(subcommand)]
    Persons(PersonsCmd),
    /// Undo the last user action.
    Undo,
    /// Verify every invariant of the library; exit status 0 only when consistent.
    Check {
        /// Rebuild derived state from ground truth first.
        #[arg(long)]
        repair: bool,
    },
    /// Import folders of photos: find faces, embed them, add them to the library.
    Import {
        /// Folders to import.
        #[arg(required = true)]
        folders: Vec<PathBuf>,
        /// Folder names or paths to skip (repeatable).
        #[arg(long = "exclude", value_name = "NAME_OR_PATH")]
        exclusions: Vec<String>,
    },
    /// Find the faces in image files (no library is touched).
    Detect {
        /// One JSON line per image, in the reference file's shape.
        #[arg(long)]
        json: bool,
        /// Image files.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Export the library as one JSON object.
    Export {
        /// JSON output (the only format).
        #[arg(long, required = true)]
        json: bool,
        /// Include face embeddings (private data).
        #[arg(long)]
        with_embeddings: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PersonsCmd {
    /// Create a person; prints the new id.
    Create {
        /// Name.
        name: String,
    },
    /// Rename a person.
    Rename {
        /// Person id.
        id: u64,
        /// New name.
        name: String,
    },
    /// Merge a person into another.
    Merge {
        /// Person merged away.
        from_id: u64,
        /// Person kept.
        into_id: u64,
    },
    /// Delete a person (permanent; clears the undo history).
    Delete {
        /// Person id.
        id: u64,
        /// Delete their faces too (default: keep them, unassigned).
        #[arg(long)]
        with_faces: bool,
    },
    /// Assign a face to a person.
    Assign {
        /// Face id.
        face_id: u64,
        /// Person id.
        person_id: u64,
    },
    /// Take faces away from their persons.
    Unassign {
        /// Face ids.
        #[arg(required = true)]
        face_ids: Vec<u64>,
    },
    /// Hide a person from the people list.
    Hide {
        /// Person id.
        id: u64,
    },
    /// Show a hidden person again.
    Show {
        /// Person id.
        id: u64,
    },
}

/// Runs the parsed command line.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some(command) = args.command else {
        let library_path = args.library.unwrap_or_else(default_library_path);
        let start = match std::env::var("LIKENESS_START_VIEW") {
            Ok(text) => Some(
                likeness::gui::StartView::parse(&text)
                    .with_context(|| format!("LIKENESS_START_VIEW={text} is not a view"))?,
            ),
            Err(_) => None,
        };
        likeness::gui::run(library_path, default_models_dir(), start)?;
        return Ok(ExitCode::SUCCESS);
    };
    if let Cmd::Detect { json, images } = &command {
        return detect(*json, images);
    }
    let library_path = args.library.unwrap_or_else(default_library_path);
    let config = EngineConfig {
        library_path,
        finder: vision_finder_factory(default_models_dir()),
    };
    let engine =
        Engine::start(config, Arc::new(|| {})).context("cannot start the engine thread")?;
    let mut out = std::io::stdout().lock();
    match command {
        Cmd::People {
            json,
            hidden,
            by_faces,
        } => {
            let sort = if by_faces {
                PersonSort::FaceCount
            } else {
                PersonSort::Name
            };
            let Reply::Persons(people) = engine.call(Command::ListPersons {
                sort,
                page: Page::default(),
                include_hidden: hidden,
            })?
            else {
                bail!("unexpected reply");
            };
            if json {
                serde_json::to_writer_pretty(&mut out, &people)?;
                writeln!(out)?;
            } else {
                writeln!(out, "{:>6}  {:>6}  {:>6}  name", "id", "faces", "photos")?;
                for p in people {
                    let hidden = if p.person.hidden { "  (hidden)" } else { "" };
                    writeln!(
                        out,
                        "{:>6}  {:>6}  {:>6}  {}{hidden}",
                        p.person.id, p.face_count, p.photo_count, p.person.name
                    )?;
                }
            }
        }
        Cmd::Persons(cmd) => {
            let reply = engine.call(persons_command(cmd))?;
            match reply {
                Reply::PersonCreated(id) => writeln!(out, "{id}")?,
                Reply::FacesAffected(n) => writeln!(out, "{n} face(s) affected")?,
                _ => {}
            }
        }
        Cmd::Undo => {
            if let Reply::Undone(what) = engine.call(Command::Undo)? {
                writeln!(out, "undone: {what}")?;
            }
        }
        Cmd::Check { repair } => {
            let Reply::Check(report) = engine.call(Command::Check { repair })? else {
                bail!("unexpected reply");
            };
            writeln!(
                out,
                "photos {}, faces {}, persons {}, indexed faces {}, suggestions {}, rejections {}, undo history {}",
                report.photos,
                report.faces,
                report.persons,
                report.indexed_faces,
                report.suggestions,
                report.rejections,
                report.undo_history
            )?;
            for p in &report.problems {
                writeln!(out, "problem in {}: {}", p.table, p.message)?;
            }
            if !report.is_consistent() {
                writeln!(
                    out,
                    "inconsistent: {} problem(s); `likeness check --repair` rebuilds derived state",
                    report.problems.len()
                )?;
                return Ok(ExitCode::FAILURE);
            }
            writeln!(out, "consistent")?;
        }
        Cmd::Import {
            folders,
            exclusions,
        } => {
            let summary = crate::import_ui::import(&engine, folders, exclusions)?;
            crate::import_ui::print_summary(&mut out, &summary)?;
        }
        Cmd::Detect { .. } => unreachable!("handled before the engine starts"),
        Cmd::Export {
            json: _,
            with_embeddings,
        } => {
            let Reply::Export(export) = engine.call(Command::Export { with_embeddings })? else {
                bail!("unexpected reply");
            };
            serde_json::to_writer(&mut out, &export)?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `likeness detect`: faces of image files, one line (or JSON line) each.
fn detect(json: bool, images: &[String]) -> anyhow::Result<ExitCode> {
    let records = detect_files(&default_models_dir(), images).map_err(anyhow::Error::msg)?;
    let mut out = std::io::stdout().lock();
    for r in records {
        if json {
            writeln!(out, "{}", r.to_json_line())?;
        } else if let Some(e) = &r.error {
            writeln!(out, "{}: error: {e}", r.path)?;
        } else {
            let faces = r.faces.as_deref().unwrap_or_default();
            write!(out, "{}: {} face(s)", r.path, faces.len())?;
            for f in faces {
                let b = f.bbox;
                write!(
                    out,
                    "  [{:.0},{:.0},{:.0},{:.0}] {:.2}",
                    b[0], b[1], b[2], b[3], f.score
                )?;
            }
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn persons_command(cmd: PersonsCmd) -> Command {
    match cmd {
        PersonsCmd::Create { name } => Command::CreatePerson { name },
        PersonsCmd::Rename { id, name } => Command::RenamePerson {
            person: PersonId(id),
            name,
        },
        PersonsCmd::Merge { from_id, into_id } => Command::MergePersons {
            from: PersonId(from_id),
            into: PersonId(into_id),
        },
        PersonsCmd::Delete { id, with_faces } => Command::DeletePerson {
            person: PersonId(id),
            faces: if with_faces {
                DeleteFaces::Delete
            } else {
                DeleteFaces::Unassign
            },
        },
        PersonsCmd::Assign { face_id, person_id } => Command::AssignFaces {
            faces: vec![FaceId(face_id)],
            person: PersonId(person_id),
        },
        PersonsCmd::Unassign { face_ids } => Command::UnassignFaces {
            faces: face_ids.into_iter().map(FaceId).collect(),
        },
        PersonsCmd::Hide { id } => Command::SetPersonHidden {
            person: PersonId(id),
            hidden: true,
        },
        PersonsCmd::Show { id } => Command::SetPersonHidden {
            person: PersonId(id),
            hidden: false,
        },
    }
}
