//! The recognise phase: decisions (auto-assign / suggest / unknown) for
//! faces against the stored person models, then incremental clustering of
//! the unknown faces into unnamed groups. Both are system writes (not undo
//! steps) through [`Tx`], and both skip every face the user decided.
//!
//! - [`Library::recognise_new_step`] decides the next batch of faces that
//!   have not been through recognition (ids above the `recognised_face_id`
//!   mark), in one transaction that also moves the mark; batches never split
//!   a photo's faces, so a killed phase resumes with the same result.
//! - [`Library::cluster_unknown`] adds the unknown faces that are in no
//!   group yet to the stored groups (restored from the faces' `cluster`
//!   field, no neighbour search), along the kNN graph from the vector
//!   index, in one transaction: before it commits nothing changed, after it
//!   there is nothing left to do, so a rerun gives the same groups.
//! - [`Library::recognise`] re-decides every face that is not the user's
//!   (auto-assigned faces may be revised), then clusters.
//! - [`Library::recognise_changed`] is the bounded re-decide after user
//!   actions: only the faces near the models the actions changed (old and
//!   new vectors, through the index), the faces automatically given to or
//!   suggested for those persons, and the faces the actions wrote, each with
//!   its whole photo (ARCHITECTURE.md, "Re-deciding after user actions").

use super::Library;
use super::schema::{
    FACES, FaceRow, META_RECOGNISED_FACE, PERSONS, PersonRow, REDECIDE_FACES, REDECIDE_PERSONS,
    SuggestionRow,
};
use super::tx::{PairTable, Tx};
use crate::error::{ActionError, StorageError};
use crate::index;
use crate::recognize::{
    Candidate, CivilDate, Clustering, Decision, FaceRef, FaceState, KnnGraph, RecognizeError,
    decide_all,
};
use crate::types::{AssignedBy, Embedding, FaceId, PersonId, PhotoId, SuggestionStatus};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// First k of the k-NN searches of the incremental re-decide (multiplied
/// by 4 while the farthest hit is still within reach).
const REDECIDE_K: usize = 64;

/// Faces decided per transaction by the import's recognise phase.
pub const RECOGNISE_BATCH: usize = 256;

/// Above this share of new faces among the faces to cluster, the kNN graph
/// is built in one batch ([`KnnGraph::partitioned`]) instead of one index
/// search per new face.
const BATCH_GRAPH_SHARE: f64 = 0.5;

/// What the recognise phase did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecogniseReport {
    /// Faces decided (not the user's, with an embedding).
    pub decided: u64,
    /// Of those, assigned automatically.
    pub auto_assigned: u64,
    /// Of those, given a pending suggestion.
    pub suggested: u64,
    /// Unknown faces newly put into groups.
    pub clustered: u64,
}

impl RecogniseReport {
    fn add(&mut self, other: Self) {
        self.decided += other.decided;
        self.auto_assigned += other.auto_assigned;
        self.suggested += other.suggested;
        self.clustered += other.clustered;
    }
}

fn recognize_error(e: &RecognizeError) -> ActionError {
    ActionError::Storage(StorageError::new(format!("recognition: {e}")))
}

/// The next faces after `after` in id order: at least `batch` (when there
/// are), never splitting one photo's faces across batches.
fn next_batch(tx: &Tx, after: u64, batch: usize) -> Result<Vec<u64>, StorageError> {
    let table = tx.txn().open_table(FACES)?;
    let mut out = Vec::new();
    let mut last_photo = None;
    for entry in table.range(after.saturating_add(1)..)? {
        let (k, v) = entry?;
        let row: FaceRow = super::schema::decode("faces", v.value())?;
        if out.len() >= batch && last_photo != Some(row.photo) {
            break;
        }
        last_photo = Some(row.photo);
        out.push(k.value());
    }
    Ok(out)
}

/// Birth dates of every person that has one.
fn births(tx: &Tx) -> Result<BTreeMap<PersonId, CivilDate>, StorageError> {
    let mut out = BTreeMap::new();
    for entry in tx.txn().open_table(PERSONS)?.iter()? {
        let (k, v) = entry?;
        let row: PersonRow = super::schema::decode("persons", v.value())?;
        if let Some(d) = row.birth_date.as_deref().and_then(CivilDate::parse) {
            out.insert(PersonId(k.value()), d);
        }
    }
    Ok(out)
}

/// A face to decide: id, row, embedding, persons it was rejected for, and
/// when its photo was taken.
type Work = (u64, FaceRow, Vec<f32>, Vec<PersonId>, Option<CivilDate>);

/// Decides `faces` against the stored models and writes the outcome: auto
/// → the face is the person's (`AssignedBy::Auto`), out of its group, and
/// its suggestions go; suggest → a pending suggestion (an auto face demoted
/// to a suggestion loses its person); unknown → an auto face loses its
/// person. Faces the user assigned or ignored, and faces without an
/// embedding, are not touched.
pub(super) fn decide_faces(tx: &mut Tx, faces: &[u64]) -> Result<RecogniseReport, ActionError> {
    let mut rows: Vec<(u64, FaceRow)> = Vec::new();
    for &f in faces {
        if let Some(row) = tx.face(f)?
            && !row.ignored
            && !row.assigned_by.is_some_and(AssignedBy::is_confirmed)
        {
            rows.push((f, row));
        }
    }
    let ids: Vec<FaceId> = rows.iter().map(|r| FaceId(r.0)).collect();
    let embeddings = index::get_many(tx.txn(), &ids)?;
    let mut work: Vec<Work> = Vec::new();
    let mut taken: HashMap<[u8; 32], Option<CivilDate>> = HashMap::new();
    for ((f, row), e) in rows.into_iter().zip(embeddings) {
        let Some(e) = e else { continue };
        let rejected = tx
            .pairs_of_face(PairTable::Rejections, f)?
            .into_iter()
            .map(PersonId)
            .collect();
        let date = if let Some(d) = taken.get(&row.photo) {
            *d
        } else {
            let d = tx
                .photo(row.photo)?
                .and_then(|p| p.taken_at)
                .as_deref()
                .and_then(CivilDate::parse);
            taken.insert(row.photo, d);
            d
        };
        work.push((f, row, e, rejected, date));
    }
    let exclude: HashSet<u64> = work.iter().map(|w| w.0).collect();
    let photos: BTreeSet<[u8; 32]> = work.iter().map(|w| w.1.photo).collect();
    let models = super::models::load_models(tx, &exclude, &photos)?;
    let births = births(tx)?;
    let settings = *tx.settings();
    let decisions = {
        let candidates: Vec<Candidate<'_>> = work
            .iter()
            .map(|(f, row, e, rejected, date)| Candidate {
                face: FaceRef {
                    id: FaceId(*f),
                    photo: PhotoId(row.photo),
                    embedding: e,
                },
                state: match (row.person, row.assigned_by) {
                    (Some(p), Some(AssignedBy::Auto)) => FaceState::Auto(PersonId(p)),
                    _ => FaceState::Unknown,
                },
                taken: *date,
                rejected,
            })
            .collect();
        decide_all(&candidates, &models, &births, &settings)
    };
    let mut report = RecogniseReport::default();
    let by_id: HashMap<u64, FaceRow> = work.into_iter().map(|w| (w.0, w.1)).collect();
    for (face, decision) in decisions {
        let Some(row) = by_id.get(&face.0) else {
            continue;
        };
        report.decided += 1;
        let mut new_row = row.clone();
        match decision {
            Decision::Auto { person, .. } => {
                report.auto_assigned += 1;
                new_row.person = Some(person.0);
                new_row.assigned_by = Some(AssignedBy::Auto);
                new_row.cluster = None;
                for p in tx.pairs_of_face(PairTable::Suggestions, face.0)? {
                    tx.put_suggestion(face.0, p, None)?;
                }
            }
            Decision::Suggest { person, confidence } => {
                report.suggested += 1;
                new_row.person = None;
                new_row.assigned_by = None;
                let row = SuggestionRow {
                    score: confidence,
                    status: SuggestionStatus::Pending,
                };
                if tx.suggestion(face.0, person.0)? != Some(row) {
                    tx.put_suggestion(face.0, person.0, Some(&row))?;
                }
            }
            Decision::Unknown => {
                new_row.person = None;
                new_row.assigned_by = None;
            }
        }
        if &new_row != row {
            if let Some(old) = row.person
                && new_row.person != Some(old)
            {
                clear_cover(tx, old, face.0)?;
            }
            tx.put_face(face.0, Some(&new_row))?;
        }
    }
    Ok(report)
}

/// Empties the re-decide work list.
fn clear_redecide(tx: &Tx) -> Result<(), StorageError> {
    tx.txn()
        .open_table(REDECIDE_PERSONS)?
        .retain(|_, _| false)?;
    tx.txn().open_table(REDECIDE_FACES)?.retain(|_, ()| false)?;
    Ok(())
}

/// Clears `person`'s cover when it is `face` (which is leaving them).
pub(super) fn clear_cover(tx: &mut Tx, person: u64, face: u64) -> Result<(), StorageError> {
    if let Some(mut p) = tx.person(person)?
        && p.cover_face == Some(face)
    {
        p.cover_face = None;
        tx.put_person(person, Some(&p))?;
    }
    Ok(())
}

impl Library {
    /// Faces not yet through the recognise phase's decisions.
    pub fn faces_to_recognise(&self) -> Result<u64, StorageError> {
        let txn = self.read()?;
        let mark = txn
            .open_table(super::schema::META)?
            .get(META_RECOGNISED_FACE)?
            .map_or(0, |v| v.value());
        let mut n = 0;
        for entry in txn.open_table(FACES)?.range(mark.saturating_add(1)..)? {
            entry?;
            n += 1;
        }
        Ok(n)
    }

    /// Decides the next batch of about `batch` faces that have not been
    /// through recognition, in one transaction that also moves the resume
    /// mark past them. Returns what it did; `decided == 0` and no faces
    /// left means the phase is done (see [`Library::faces_to_recognise`]).
    pub fn recognise_new_step(
        &mut self,
        batch: usize,
    ) -> Result<(usize, RecogniseReport), ActionError> {
        let mut tx = self.begin(false)?;
        let mark = tx.meta(META_RECOGNISED_FACE)?;
        let faces = next_batch(&tx, mark, batch.max(1))?;
        let Some(&last) = faces.last() else {
            return Ok((0, RecogniseReport::default()));
        };
        let report = decide_faces(&mut tx, &faces)?;
        tx.set_meta(META_RECOGNISED_FACE, last)?;
        tx.commit("recognise new faces")?;
        Ok((faces.len(), report))
    }

    /// Re-runs the whole recognise phase: every face that is not the user's
    /// is decided again against the current models (in batches, one
    /// transaction each), then the unknown faces in no group are clustered.
    pub fn recognise(&mut self) -> Result<RecogniseReport, ActionError> {
        let mut report = RecogniseReport::default();
        let mut after = 0;
        loop {
            let mut tx = self.begin(false)?;
            let faces = next_batch(&tx, after, RECOGNISE_BATCH)?;
            let Some(&last) = faces.last() else { break };
            report.add(decide_faces(&mut tx, &faces)?);
            if tx.meta(META_RECOGNISED_FACE)? < last {
                tx.set_meta(META_RECOGNISED_FACE, last)?;
            }
            tx.commit("recognise")?;
            after = last;
        }
        // Every face is settled: nothing is left for the incremental re-decide.
        let tx = self.begin(false)?;
        clear_redecide(&tx)?;
        tx.commit("recognise")?;
        report.clustered = self.cluster_unknown()? as u64;
        Ok(report)
    }

    /// The incremental re-decide after user actions (see the module docs):
    /// decides again only the faces whose decision the actions recorded in
    /// the work list can have changed, clears the list, and clusters when
    /// that left unknown faces in no group. One transaction for the
    /// decisions (the clustering, when needed, is a second one). For those
    /// faces the outcome is what [`Library::recognise`] would give.
    pub fn recognise_changed(&mut self) -> Result<RecogniseReport, ActionError> {
        let mut tx = self.begin(false)?;
        let faces = self.faces_to_redecide(&tx)?;
        let mut report = decide_faces(&mut tx, &faces)?;
        let mut regroup = false;
        for &f in &faces {
            if let Some(row) = tx.face(f)?
                && row.person.is_none()
                && row.cluster.is_none()
                && !row.ignored
            {
                regroup = true;
                break;
            }
        }
        clear_redecide(&tx)?;
        tx.commit("re-decide after a change")?;
        if regroup {
            report.clustered = self.cluster_unknown()? as u64;
        }
        Ok(report)
    }

    /// The faces the re-decide work list implies, whole photos, id order:
    /// (a) faces within reach of a changed person's model vectors, before or
    /// after the change (a k-NN search from each vector, widened until the
    /// farthest hit is out of reach), (b) faces assigned automatically to
    /// or suggested for a changed person, (c) faces the actions wrote; then
    /// every face of those faces' photos (one photo is decided as a whole).
    fn faces_to_redecide(&self, tx: &Tx) -> Result<Vec<u64>, ActionError> {
        let mut persons: Vec<(u64, Vec<Embedding>)> = Vec::new();
        for entry in tx.txn().open_table(REDECIDE_PERSONS)?.iter()? {
            let (k, v) = entry?;
            let old: Vec<Embedding> = super::schema::decode("redecide_persons", v.value())?;
            persons.push((k.value(), old));
        }
        let mut faces: BTreeSet<u64> = BTreeSet::new();
        for entry in tx.txn().open_table(REDECIDE_FACES)?.iter()? {
            faces.insert(entry?.0.value());
        }
        let reach = self.settings.redecide_reach();
        let mut searcher = self.index.borrow_mut();
        for (person, mut vectors) in persons {
            if let Some(m) = tx.person_model(person)? {
                vectors.push(m.centroid);
                vectors.extend(m.prototypes);
            }
            vectors.sort_by(|a, b| {
                a.iter()
                    .map(|x| x.to_bits())
                    .cmp(b.iter().map(|x| x.to_bits()))
            });
            vectors.dedup();
            for v in &vectors {
                let mut k = REDECIDE_K;
                loop {
                    let hits = searcher.search(tx.txn(), v, k)?;
                    let full = hits.len() == k;
                    let farthest_within = hits.last().is_some_and(|h| h.1 >= reach);
                    faces.extend(hits.iter().filter(|h| h.1 >= reach).map(|h| h.0.0));
                    if !(full && farthest_within) {
                        break;
                    }
                    k = k.saturating_mul(4);
                }
            }
            faces.extend(tx.faces_of_person(person)?);
            faces.extend(tx.pairs_of_person(PairTable::Suggestions, person)?);
        }
        drop(searcher);
        let mut photos: BTreeSet<[u8; 32]> = BTreeSet::new();
        for &f in &faces {
            if let Some(row) = tx.face(f)? {
                photos.insert(row.photo);
            }
        }
        let mut out = Vec::new();
        for photo in photos {
            out.extend(tx.faces_of_photo(photo)?);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Puts the unknown faces that are in no group yet into groups (see the
    /// module docs); returns how many. One transaction.
    pub fn cluster_unknown(&mut self) -> Result<usize, ActionError> {
        let mut tx = self.begin(false)?;
        let settings = *tx.settings();
        let mut rows: Vec<(u64, FaceRow)> = Vec::new();
        for entry in tx.txn().open_table(FACES)?.iter()? {
            let (k, v) = entry?;
            let row: FaceRow = super::schema::decode("faces", v.value())?;
            if row.person.is_none() && !row.ignored {
                rows.push((k.value(), row));
            }
        }
        let ids: Vec<FaceId> = rows.iter().map(|r| FaceId(r.0)).collect();
        let embeddings = index::get_many(tx.txn(), &ids)?;
        let faces: Vec<(u64, FaceRow, Vec<f32>)> = rows
            .into_iter()
            .zip(embeddings)
            .filter_map(|((f, r), e)| e.map(|e| (f, r, e)))
            .collect();
        let new: Vec<FaceRef<'_>> = faces
            .iter()
            .filter(|f| f.1.cluster.is_none())
            .map(|(f, r, e)| FaceRef {
                id: FaceId(*f),
                photo: PhotoId(r.photo),
                embedding: e,
            })
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let stored: Vec<(FaceRef<'_>, Option<crate::types::ClusterId>)> = faces
            .iter()
            .filter(|f| f.1.cluster.is_some())
            .map(|(f, r, e)| {
                (
                    FaceRef {
                        id: FaceId(*f),
                        photo: PhotoId(r.photo),
                        embedding: e,
                    },
                    r.cluster.map(crate::types::ClusterId),
                )
            })
            .collect();
        let mut clustering =
            Clustering::restore(settings.cluster_link, &stored).map_err(|e| recognize_error(&e))?;
        let k = settings.knn_k;
        let graph = if new.len() as f64 >= BATCH_GRAPH_SHARE * faces.len() as f64 {
            let all: Vec<FaceRef<'_>> = faces
                .iter()
                .map(|(f, r, e)| FaceRef {
                    id: FaceId(*f),
                    photo: PhotoId(r.photo),
                    embedding: e,
                })
                .collect();
            KnnGraph::partitioned(&all, k)
        } else {
            // Nearest faces from the index; assigned and ignored ones are
            // skipped, so ask for a few times more than k.
            let clusterable: HashSet<u64> = faces.iter().map(|f| f.0).collect();
            let mut searcher = self.index.borrow_mut();
            let txn = tx.txn();
            KnnGraph::from_search(&new, k, |q, _| {
                let hits = searcher.search(txn, q.embedding, 4 * k + 1)?;
                Ok::<_, index::IndexError>(
                    hits.into_iter()
                        .filter(|(f, _)| clusterable.contains(&f.0))
                        .take(k + 1)
                        .collect(),
                )
            })
            .map_err(|e| recognize_error(&e))?
        };
        clustering
            .add(&new, &graph)
            .map_err(|e| recognize_error(&e))?;
        let added = new.len();
        for (f, row, _) in &faces {
            let group = clustering.group_of(FaceId(*f)).map(|g| g.0);
            if group != row.cluster {
                let mut row = row.clone();
                row.cluster = group;
                tx.put_face(*f, Some(&row))?;
            }
        }
        tx.commit("cluster unknown faces")?;
        Ok(added)
    }
}
