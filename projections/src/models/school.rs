//! School life, as each role sees it: the student (homework due with their own submission
//! status, their submissions with versions, their published grades with averages, the week's
//! timetable with changes and cancellations, their absences), the parent (the same for each
//! child, plus the absences to justify), the teacher (classes, assignments with each student's
//! status, gradebooks with class average, min and max, unpublished grades included) and the
//! staff (absences and lateness to follow up, justifications to review).
//!
//! Grades reach the student and parent queries only once their evaluation is published, and
//! then with their current value: a correction replaces the mark, its history stays with the
//! teacher's gradebook. Views hold account ids, not names: names come from the directory, so
//! an erased person's name disappears everywhere at once. On erasure, the texts the person
//! wrote (submission texts and attachments, absence notes and justifications, grade comments
//! about them) are blanked here too.
//!
//! Key layout (tree `school@v<version>`), besides the class and family facts of [`facts`]
//! (`m.*`):
//!
//! | key                                   | value                                  |
//! |---------------------------------------|----------------------------------------|
//! | `hw/<assignment>`                     | [`Assignment`]                         |
//! | `hw.cls/<class><assignment>`          | the `AssignmentId`                     |
//! | `sub/<assignment><submitter>`         | [`Submission`] with every version      |
//! | `sub.st/<student><assignment>`        | the [`Submitter`] (own submissions)    |
//! | `ev/<evaluation>`                     | [`Evaluation`], its `grades` empty     |
//! | `ev.g/<evaluation><student>`          | [`Grade`]                              |
//! | `ev.cls/<class><evaluation>`          | the `EvaluationId`                     |
//! | `ev.st/<student><evaluation>`         | the `EvaluationId` (graded students)   |
//! | `tt.slot/<class><slot>`               | [`Slot`]                               |
//! | `tt.occ/<class><date>\0<slot>`        | [`OccurrenceChange`]                   |
//! | `abs/<absence>`                       | [`Absence`]                            |
//! | `abs.st/<student><absence>`           | the `AbsenceId`                        |
//! | `abs.todo/<establishment><absence>`   | the `AbsenceId` (to follow up)         |
//! | `abs.review/<establishment><absence>` | the `AbsenceId` (to review)            |
//!
//! Each grade is a record of its own: recording one grade in a class of 30 neither reads nor
//! rewrites the 29 others (version 1 kept them in the evaluation's record, whose decoding and
//! encoding at each grade were a tenth of this read model's rebuild).
//!
//! A `<submitter>` is one byte (0 for a student, 1 for a work group) and the 16-byte id; a
//! `<date>` is the ISO date text, so a week of occurrences is one ordered range.

use std::collections::BTreeMap;
use std::sync::Arc;

use domain::absence::{AbsenceEvent, AbsenceKind};
use domain::account::AccountEvent;
use domain::evaluation::{EvaluationEvent, Mark};
use domain::event::EventBody;
use domain::homework::{HomeworkEvent, Submitter};
use domain::ids::{
    AbsenceId, AccountId, AssignmentId, ClassId, EstablishmentId, EvaluationId, GroupId, SlotId,
    SubmissionId,
};
use domain::timetable::TimetableEvent;
use domain::values::{
    Attachment, Body, Coefficient, Comment, Day, Reason, Room, Scale, Subject, TimeRange, Title,
};
use eventlog::RecordedEvent;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt};
use crate::{Projection, ProjectionError};

pub mod facts;
pub mod fixture;
mod views;

pub use views::*;

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(School)]
}

/// The school life read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct School;

/// The event families the school view reads.
const FAMILIES: &[&str] = &[
    "class.",
    "account.child_",
    "account.personal_data_",
    "homework.",
    "evaluation.",
    "timetable.",
    "absence.",
];

impl Projection for School {
    fn name(&self) -> &'static str {
        "school"
    }

    fn version(&self) -> u32 {
        2
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        if !facts::in_families(&event.event_type, FAMILIES) {
            return Ok(());
        }
        let decoded = facts::decode(event)?;
        let at = decoded.at;
        let by = decoded.by.map(|a| a.account);
        match &decoded.body {
            EventBody::Account(AccountEvent::PersonalDataErased { account, .. }) => {
                erase(store, *account)?;
            }
            EventBody::Homework(e) => apply_homework(store, e, at)?,
            EventBody::Evaluation(e) => apply_evaluation(store, e, at)?,
            EventBody::Timetable(e) => apply_timetable(store, e)?,
            EventBody::Absence(e) => apply_absence(store, e, at, by)?,
            _ => {}
        }
        facts::apply_facts(store, &decoded.body)
    }
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// A homework assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub assignment: AssignmentId,
    pub establishment: EstablishmentId,
    pub class: ClassId,
    /// The work group it is for, or `None` for the whole class.
    pub group: Option<GroupId>,
    pub teacher: AccountId,
    pub subject: Subject,
    pub title: Title,
    pub instructions: Body,
    /// The due time in force (amendments move it).
    pub due_at: Timestamp,
    pub published_at: Timestamp,
    /// When it was last amended, if it was.
    pub amended_at: Option<Timestamp>,
    pub cancelled: bool,
}

/// One version of a submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionVersion {
    /// 1 for the first hand-in, one more for each resubmission.
    pub version: u32,
    pub handed_in_by: AccountId,
    pub handed_in_at: Timestamp,
    /// Handed in after the due time in force at that moment.
    pub late: bool,
    /// `None` when none was given, or once the author's personal data was erased.
    pub text: Option<Body>,
    pub attachments: Vec<Attachment>,
}

/// A submission with all its versions, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub submission: SubmissionId,
    pub assignment: AssignmentId,
    pub submitter: Submitter,
    pub versions: Vec<SubmissionVersion>,
}

impl Submission {
    /// The current version (the last one handed in).
    pub fn latest(&self) -> Option<&SubmissionVersion> {
        self.versions.last()
    }
}

/// A correction of a grade, as the teacher's gradebook keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    pub previous: Mark,
    pub mark: Mark,
    pub reason: Reason,
    pub corrected_at: Timestamp,
}

/// A student's grade in an evaluation: the current mark, and its corrections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    pub student: AccountId,
    pub mark: Mark,
    pub comment: Option<Comment>,
    pub recorded_at: Timestamp,
    pub corrections: Vec<Correction>,
}

/// An evaluation with every grade recorded in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    pub evaluation: EvaluationId,
    pub establishment: EstablishmentId,
    pub class: ClassId,
    pub teacher: AccountId,
    pub subject: Subject,
    pub title: Title,
    pub scale: Scale,
    pub coefficient: Coefficient,
    pub date: Date,
    pub assignment: Option<AssignmentId>,
    /// When the grades were published to students and parents, if they were.
    pub published_at: Option<Timestamp>,
    pub grades: BTreeMap<AccountId, Grade>,
}

/// A weekly timetable slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub slot: SlotId,
    pub class: ClassId,
    pub establishment: EstablishmentId,
    pub subject: Subject,
    pub teacher: AccountId,
    pub room: Option<Room>,
    pub day: Day,
    pub time: TimeRange,
}

/// What became of one occurrence of a slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OccurrenceChange {
    /// `None` fields keep the weekly value.
    Changed {
        teacher: Option<AccountId>,
        room: Option<Room>,
        time: Option<TimeRange>,
        reason: Option<Reason>,
    },
    Cancelled {
        reason: Option<Reason>,
    },
}

/// Where an absence stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AbsenceStatus {
    /// Not justified yet: to follow up, and for the parents to justify.
    Unjustified,
    /// Justified by a parent, awaiting the staff's review.
    Justified,
    Accepted,
    /// The justification was refused: to follow up, and a new one may be given.
    Refused,
}

/// A recorded absence or lateness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Absence {
    pub absence: AbsenceId,
    pub establishment: EstablishmentId,
    pub class: ClassId,
    pub student: AccountId,
    pub kind: AbsenceKind,
    pub note: Option<Reason>,
    pub recorded_at: Timestamp,
    pub status: AbsenceStatus,
    /// The last justification given, by whom and when.
    pub justification: Option<Reason>,
    pub justified_by: Option<AccountId>,
    pub justified_at: Option<Timestamp>,
    /// Why the last justification was refused.
    pub refusal: Option<Reason>,
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

fn assignment_key(assignment: AssignmentId) -> Vec<u8> {
    Key::new("hw").uuid(assignment.as_uuid()).into_vec()
}

fn class_assignment_key(class: ClassId, assignment: AssignmentId) -> Vec<u8> {
    Key::new("hw.cls")
        .uuid(class.as_uuid())
        .uuid(assignment.as_uuid())
        .into_vec()
}

fn submitter_bytes(submitter: &Submitter) -> [u8; 17] {
    let (tag, id) = match submitter {
        Submitter::Student(s) => (0u8, s.as_uuid()),
        Submitter::Group(g) => (1u8, g.as_uuid()),
    };
    let mut out = [0u8; 17];
    out[0] = tag;
    out[1..].copy_from_slice(id.as_bytes());
    out
}

fn submission_key(assignment: AssignmentId, submitter: &Submitter) -> Vec<u8> {
    Key::new("sub")
        .uuid(assignment.as_uuid())
        .bytes(&submitter_bytes(submitter))
        .into_vec()
}

fn student_submission_key(student: AccountId, assignment: AssignmentId) -> Vec<u8> {
    Key::new("sub.st")
        .uuid(student.as_uuid())
        .uuid(assignment.as_uuid())
        .into_vec()
}

fn evaluation_key(evaluation: EvaluationId) -> Vec<u8> {
    Key::new("ev").uuid(evaluation.as_uuid()).into_vec()
}

fn grade_key(evaluation: EvaluationId, student: AccountId) -> Vec<u8> {
    Key::new("ev.g")
        .uuid(evaluation.as_uuid())
        .uuid(student.as_uuid())
        .into_vec()
}

/// The prefix of an evaluation's grades.
fn grades_key(evaluation: EvaluationId) -> Vec<u8> {
    Key::new("ev.g").uuid(evaluation.as_uuid()).into_vec()
}

fn class_evaluation_key(class: ClassId, evaluation: EvaluationId) -> Vec<u8> {
    Key::new("ev.cls")
        .uuid(class.as_uuid())
        .uuid(evaluation.as_uuid())
        .into_vec()
}

fn student_evaluation_key(student: AccountId, evaluation: EvaluationId) -> Vec<u8> {
    Key::new("ev.st")
        .uuid(student.as_uuid())
        .uuid(evaluation.as_uuid())
        .into_vec()
}

fn slot_key(class: ClassId, slot: SlotId) -> Vec<u8> {
    Key::new("tt.slot")
        .uuid(class.as_uuid())
        .uuid(slot.as_uuid())
        .into_vec()
}

fn occurrence_key(class: ClassId, date: Date, slot: SlotId) -> Vec<u8> {
    Key::new("tt.occ")
        .uuid(class.as_uuid())
        .str(&date.to_string())
        .uuid(slot.as_uuid())
        .into_vec()
}

fn absence_key(absence: AbsenceId) -> Vec<u8> {
    Key::new("abs").uuid(absence.as_uuid()).into_vec()
}

fn student_absence_key(student: AccountId, absence: AbsenceId) -> Vec<u8> {
    Key::new("abs.st")
        .uuid(student.as_uuid())
        .uuid(absence.as_uuid())
        .into_vec()
}

fn follow_up_key(establishment: EstablishmentId, absence: AbsenceId) -> Vec<u8> {
    Key::new("abs.todo")
        .uuid(establishment.as_uuid())
        .uuid(absence.as_uuid())
        .into_vec()
}

fn review_key(establishment: EstablishmentId, absence: AbsenceId) -> Vec<u8> {
    Key::new("abs.review")
        .uuid(establishment.as_uuid())
        .uuid(absence.as_uuid())
        .into_vec()
}

// ---------------------------------------------------------------------------------------------
// Folding
// ---------------------------------------------------------------------------------------------

fn missing(what: &str, id: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Inconsistent(format!("{what} {id} is not in the view"))
}

/// Fails unless a record is stored under `key` (read in place, not decoded): the `what` `id`
/// an event refers to.
fn require_exists(
    store: &dyn Store,
    key: &[u8],
    what: &str,
    id: impl std::fmt::Display,
) -> Result<(), ProjectionError> {
    match store.contains(key)? {
        true => Ok(()),
        false => Err(missing(what, id)),
    }
}

fn require_assignment(
    store: &dyn Store,
    assignment: AssignmentId,
) -> Result<Assignment, ProjectionError> {
    store
        .get_value(&assignment_key(assignment))?
        .ok_or_else(|| missing("assignment", assignment))
}

fn apply_homework(
    store: &mut dyn Store,
    event: &HomeworkEvent,
    at: Timestamp,
) -> Result<(), ProjectionError> {
    match event {
        HomeworkEvent::Published {
            assignment,
            establishment,
            class,
            group,
            teacher,
            subject,
            title,
            instructions,
            due_at,
        } => {
            let record = Assignment {
                assignment: *assignment,
                establishment: *establishment,
                class: *class,
                group: *group,
                teacher: *teacher,
                subject: subject.clone(),
                title: title.clone(),
                instructions: instructions.clone(),
                due_at: *due_at,
                published_at: at,
                amended_at: None,
                cancelled: false,
            };
            store.put_value(assignment_key(*assignment), &record)?;
            store.put_value(class_assignment_key(*class, *assignment), assignment)?;
        }
        HomeworkEvent::Amended {
            assignment,
            title,
            instructions,
            due_at,
        } => {
            let mut record = require_assignment(store, *assignment)?;
            if let Some(title) = title {
                record.title = title.clone();
            }
            if let Some(instructions) = instructions {
                record.instructions = instructions.clone();
            }
            if let Some(due_at) = due_at {
                record.due_at = *due_at;
            }
            record.amended_at = Some(at);
            store.put_value(assignment_key(*assignment), &record)?;
        }
        HomeworkEvent::Cancelled { assignment, .. } => {
            let mut record = require_assignment(store, *assignment)?;
            record.cancelled = true;
            store.put_value(assignment_key(*assignment), &record)?;
        }
        HomeworkEvent::SubmissionReceived {
            assignment,
            submission,
            submitter,
            handed_in_by,
            version,
            text,
            attachments,
            late,
        } => {
            // Its record (instructions included) is decoded only for a work group's class.
            require_exists(
                store,
                &assignment_key(*assignment),
                "assignment",
                assignment,
            )?;
            let key = submission_key(*assignment, submitter);
            let mut stored = store
                .get_value::<Submission>(&key)?
                .unwrap_or_else(|| Submission {
                    submission: *submission,
                    assignment: *assignment,
                    submitter: *submitter,
                    versions: Vec::new(),
                });
            stored.versions.push(SubmissionVersion {
                version: *version,
                handed_in_by: *handed_in_by,
                handed_in_at: at,
                late: *late,
                text: text.clone(),
                attachments: attachments.clone(),
            });
            store.put_value(key, &stored)?;
            // Index it as their own for the student, or for every member of the group now.
            let mut owners = vec![*handed_in_by];
            match submitter {
                Submitter::Student(student) => owners.push(*student),
                Submitter::Group(group) => {
                    let class = require_assignment(store, *assignment)?.class;
                    if let Some(class) = facts::class_facts(store, class)?
                        && let Some(g) = class.groups.get(group)
                    {
                        owners.extend(g.members.iter().copied());
                    }
                }
            }
            owners.sort();
            owners.dedup();
            for owner in owners {
                store.put_value(student_submission_key(owner, *assignment), submitter)?;
            }
        }
    }
    Ok(())
}

/// The evaluation's record, without its grades.
fn require_evaluation(
    store: &dyn Store,
    evaluation: EvaluationId,
) -> Result<Evaluation, ProjectionError> {
    store
        .get_value(&evaluation_key(evaluation))?
        .ok_or_else(|| missing("evaluation", evaluation))
}

/// The evaluation with every grade recorded in it.
fn load_evaluation(
    store: &dyn ReadStore,
    evaluation: EvaluationId,
) -> Result<Option<Evaluation>, StoreError> {
    let Some(mut record) = store.get_value::<Evaluation>(&evaluation_key(evaluation))? else {
        return Ok(None);
    };
    for (_, grade) in store.scan_values::<Grade>(&grades_key(evaluation))? {
        record.grades.insert(grade.student, grade);
    }
    Ok(Some(record))
}

fn apply_evaluation(
    store: &mut dyn Store,
    event: &EvaluationEvent,
    at: Timestamp,
) -> Result<(), ProjectionError> {
    match event {
        EvaluationEvent::Created {
            evaluation,
            establishment,
            class,
            teacher,
            subject,
            title,
            scale,
            coefficient,
            date,
            assignment,
        } => {
            let record = Evaluation {
                evaluation: *evaluation,
                establishment: *establishment,
                class: *class,
                teacher: *teacher,
                subject: subject.clone(),
                title: title.clone(),
                scale: *scale,
                coefficient: *coefficient,
                date: *date,
                assignment: *assignment,
                published_at: None,
                grades: BTreeMap::new(),
            };
            store.put_value(evaluation_key(*evaluation), &record)?;
            store.put_value(class_evaluation_key(*class, *evaluation), evaluation)?;
        }
        EvaluationEvent::GradeRecorded {
            evaluation,
            student,
            mark,
            comment,
        } => {
            require_exists(
                store,
                &evaluation_key(*evaluation),
                "evaluation",
                evaluation,
            )?;
            let grade = Grade {
                student: *student,
                mark: *mark,
                comment: comment.clone(),
                recorded_at: at,
                corrections: Vec::new(),
            };
            store.put_value(grade_key(*evaluation, *student), &grade)?;
            store.put_value(student_evaluation_key(*student, *evaluation), evaluation)?;
        }
        EvaluationEvent::GradeCorrected {
            evaluation,
            student,
            previous,
            mark,
            comment,
            reason,
        } => {
            require_exists(
                store,
                &evaluation_key(*evaluation),
                "evaluation",
                evaluation,
            )?;
            let key = grade_key(*evaluation, *student);
            let mut grade: Grade = store
                .get_value(&key)?
                .ok_or_else(|| missing("grade of student", student))?;
            grade.corrections.push(Correction {
                previous: *previous,
                mark: *mark,
                reason: reason.clone(),
                corrected_at: at,
            });
            grade.mark = *mark;
            grade.comment = comment.clone();
            store.put_value(key, &grade)?;
        }
        EvaluationEvent::GradesPublished { evaluation } => {
            let mut record = require_evaluation(store, *evaluation)?;
            record.published_at.get_or_insert(at);
            store.put_value(evaluation_key(*evaluation), &record)?;
        }
    }
    Ok(())
}

fn apply_timetable(store: &mut dyn Store, event: &TimetableEvent) -> Result<(), ProjectionError> {
    match event {
        TimetableEvent::SlotAdded {
            class,
            establishment,
            slot,
            subject,
            teacher,
            room,
            day,
            time,
        } => {
            let record = Slot {
                slot: *slot,
                class: *class,
                establishment: *establishment,
                subject: subject.clone(),
                teacher: *teacher,
                room: room.clone(),
                day: *day,
                time: *time,
            };
            store.put_value(slot_key(*class, *slot), &record)?;
        }
        TimetableEvent::SlotRemoved { class, slot } => {
            store.delete(&slot_key(*class, *slot))?;
        }
        TimetableEvent::OccurrenceChanged {
            class,
            slot,
            date,
            teacher,
            room,
            time,
            reason,
        } => {
            let change = OccurrenceChange::Changed {
                teacher: *teacher,
                room: room.clone(),
                time: *time,
                reason: reason.clone(),
            };
            store.put_value(occurrence_key(*class, *date, *slot), &change)?;
        }
        TimetableEvent::OccurrenceCancelled {
            class,
            slot,
            date,
            reason,
        } => {
            let change = OccurrenceChange::Cancelled {
                reason: reason.clone(),
            };
            store.put_value(occurrence_key(*class, *date, *slot), &change)?;
        }
    }
    Ok(())
}

/// Writes an absence and keeps the staff's two work lists in step with its status.
fn put_absence(store: &mut dyn Store, record: &Absence) -> Result<(), ProjectionError> {
    store.put_value(absence_key(record.absence), record)?;
    let todo = follow_up_key(record.establishment, record.absence);
    let review = review_key(record.establishment, record.absence);
    match record.status {
        AbsenceStatus::Unjustified | AbsenceStatus::Refused => {
            store.put_value(todo, &record.absence)?;
            store.delete(&review)?;
        }
        AbsenceStatus::Justified => {
            store.delete(&todo)?;
            store.put_value(review, &record.absence)?;
        }
        AbsenceStatus::Accepted => {
            store.delete(&todo)?;
            store.delete(&review)?;
        }
    }
    Ok(())
}

fn apply_absence(
    store: &mut dyn Store,
    event: &AbsenceEvent,
    at: Timestamp,
    by: Option<AccountId>,
) -> Result<(), ProjectionError> {
    let require = |store: &dyn Store, absence: AbsenceId| -> Result<Absence, ProjectionError> {
        store
            .get_value(&absence_key(absence))?
            .ok_or_else(|| missing("absence", absence))
    };
    match event {
        AbsenceEvent::Recorded {
            absence,
            establishment,
            class,
            student,
            kind,
            note,
        } => {
            let record = Absence {
                absence: *absence,
                establishment: *establishment,
                class: *class,
                student: *student,
                kind: *kind,
                note: note.clone(),
                recorded_at: at,
                status: AbsenceStatus::Unjustified,
                justification: None,
                justified_by: None,
                justified_at: None,
                refusal: None,
            };
            put_absence(store, &record)?;
            store.put_value(student_absence_key(*student, *absence), absence)?;
        }
        AbsenceEvent::Justified { absence, reason } => {
            let mut record = require(store, *absence)?;
            record.status = AbsenceStatus::Justified;
            record.justification = Some(reason.clone());
            record.justified_by = by;
            record.justified_at = Some(at);
            put_absence(store, &record)?;
        }
        AbsenceEvent::JustificationAccepted { absence } => {
            let mut record = require(store, *absence)?;
            record.status = AbsenceStatus::Accepted;
            record.refusal = None;
            put_absence(store, &record)?;
        }
        AbsenceEvent::JustificationRefused { absence, reason } => {
            let mut record = require(store, *absence)?;
            record.status = AbsenceStatus::Refused;
            record.refusal = Some(reason.clone());
            put_absence(store, &record)?;
        }
    }
    Ok(())
}

/// Blanks the texts about or by an erased person: their submission texts and attachments,
/// their absence notes and justifications, the comments on their grades.
fn erase(store: &mut dyn Store, person: AccountId) -> Result<(), ProjectionError> {
    let own = Key::new("sub.st").uuid(person.as_uuid()).into_vec();
    for (key, submitter) in store.scan_values::<Submitter>(&own)? {
        let Some(assignment) = facts::tail_uuid(&key).map(AssignmentId::from_uuid) else {
            continue;
        };
        let sub_key = submission_key(assignment, &submitter);
        if let Some(mut submission) = store.get_value::<Submission>(&sub_key)? {
            for version in &mut submission.versions {
                if version.handed_in_by == person {
                    version.text = None;
                    version.attachments.clear();
                }
            }
            store.put_value(sub_key, &submission)?;
        }
    }
    let absences = Key::new("abs.st").uuid(person.as_uuid()).into_vec();
    for (_, absence) in store.scan_values::<AbsenceId>(&absences)? {
        if let Some(mut record) = store.get_value::<Absence>(&absence_key(absence))? {
            record.note = None;
            record.justification = None;
            record.refusal = None;
            store.put_value(absence_key(absence), &record)?;
        }
    }
    let graded = Key::new("ev.st").uuid(person.as_uuid()).into_vec();
    for (_, evaluation) in store.scan_values::<EvaluationId>(&graded)? {
        let key = grade_key(evaluation, person);
        if let Some(mut grade) = store.get_value::<Grade>(&key)? {
            grade.comment = None;
            store.put_value(key, &grade)?;
        }
    }
    Ok(())
}
