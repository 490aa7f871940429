//! The query functions of the school life read model: what the student, the parent, the teacher
//! and the staff see. Every one is a handful of gets and prefix scans over the records folded by
//! the parent module; none reads a clock (the caller passes the week or the date it wants).

use std::collections::{BTreeMap, BTreeSet};

use domain::evaluation::{self, Average, GradedItem, Mark};
use domain::homework::Submitter;
use domain::ids::{AbsenceId, AccountId, AssignmentId, ClassId, EstablishmentId, EvaluationId};
use domain::values::{
    Coefficient, Comment, GradeValue, Reason, Room, Scale, Subject, TimeRange, Title,
};
use jiff::civil::Date;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Serialize};

use super::facts::{self, ClassFacts};
use super::{
    Absence, AbsenceStatus, Assignment, Evaluation, Grade, OccurrenceChange, Slot, Submission,
    absence_key, assignment_key, evaluation_key, grade_key, load_evaluation, submission_key,
};
use crate::store::{Key, ReadStore, ReadStoreExt, StoreError};

/// Why a school query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the week of {0} is out of the calendar's range")]
    DateOutOfRange(Date),
}

/// A student's standing on one assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubmissionStatus {
    /// Nothing handed in (yet).
    Missing,
    /// Handed in, the current version on time.
    HandedIn,
    /// Handed in, the current version after the due time.
    Late,
}

impl SubmissionStatus {
    fn of(submission: Option<&Submission>) -> SubmissionStatus {
        match submission.and_then(Submission::latest) {
            None => SubmissionStatus::Missing,
            Some(v) if v.late => SubmissionStatus::Late,
            Some(_) => SubmissionStatus::HandedIn,
        }
    }
}

/// An assignment as a student sees it: with their own (or their group's) submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeworkItem {
    pub assignment: Assignment,
    pub status: SubmissionStatus,
    pub submission: Option<Submission>,
}

/// A published grade as the student and their parents see it: the current mark only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentGrade {
    pub evaluation: EvaluationId,
    pub class: ClassId,
    pub subject: Subject,
    pub title: Title,
    pub date: Date,
    pub scale: Scale,
    pub coefficient: Coefficient,
    pub mark: Mark,
    pub comment: Option<Comment>,
    /// Whether the mark was corrected (the history is the teacher's).
    pub corrected: bool,
    pub published_at: Timestamp,
}

/// A student's published grades with their averages on 20.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// By date, then evaluation id.
    pub grades: Vec<StudentGrade>,
    pub subject_averages: BTreeMap<Subject, Average>,
    pub overall_average: Option<Average>,
}

/// What happens to one occurrence of a slot in the week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LessonStatus {
    AsPlanned,
    Changed { reason: Option<Reason> },
    Cancelled { reason: Option<Reason> },
}

/// One lesson of a week, with its changes applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lesson {
    pub class: ClassId,
    pub slot: domain::ids::SlotId,
    pub date: Date,
    pub subject: Subject,
    pub teacher: AccountId,
    pub room: Option<Room>,
    pub time: TimeRange,
    pub status: LessonStatus,
}

/// Everything a student sees of their school life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentView {
    pub student: AccountId,
    /// The classes enrolled in now.
    pub classes: Vec<ClassId>,
    /// Not cancelled, by due time.
    pub homework: Vec<HomeworkItem>,
    /// Every submission of theirs (also in classes they left), by assignment id.
    pub submissions: Vec<(Assignment, Submission)>,
    pub report: Report,
    /// The week asked for, by date and time.
    pub week: Vec<Lesson>,
    /// By absence id (recording order).
    pub absences: Vec<Absence>,
}

/// What a parent sees for one child.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildView {
    pub view: StudentView,
    /// Absences not justified yet, or whose justification was refused.
    pub to_justify: Vec<Absence>,
}

/// A class a teacher teaches, with the subjects they teach in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaughtClass {
    pub class: ClassFacts,
    pub subjects: Vec<Subject>,
}

/// One student's standing on an assignment, for the teacher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentStanding {
    pub student: AccountId,
    pub status: SubmissionStatus,
    /// How many versions were handed in.
    pub versions: u32,
}

/// An assignment with each concerned student's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentReport {
    pub assignment: Assignment,
    /// The class's students now (or the group's members), in id order.
    pub students: Vec<StudentStanding>,
}

/// One evaluation's grades with the class's statistics, for the teacher: unpublished grades
/// included, corrections with their history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gradebook {
    pub evaluation: Evaluation,
    /// The mean of the graded values, on the evaluation's scale, rounded half up to the
    /// hundredth; `None` when no value was given (absent and exempt marks do not count).
    pub average: Option<GradeValue>,
    pub min: Option<GradeValue>,
    pub max: Option<GradeValue>,
    /// How many values count in the statistics.
    pub counted: u32,
}

// ---------------------------------------------------------------------------------------------
// Student
// ---------------------------------------------------------------------------------------------

fn assignment(store: &dyn ReadStore, id: AssignmentId) -> Result<Option<Assignment>, StoreError> {
    store.get_value(&assignment_key(id))
}

/// The homework of a student's current classes and groups (cancelled ones left out), with their
/// own or their group's submission; only those due at or after `due_from` when given. By due
/// time, then assignment id.
pub fn student_homework(
    store: &dyn ReadStore,
    student: AccountId,
    due_from: Option<Timestamp>,
) -> Result<Vec<HomeworkItem>, StoreError> {
    let groups: BTreeSet<_> = facts::groups_of_student(store, student)?
        .into_iter()
        .map(|(g, _)| g)
        .collect();
    let mut out = Vec::new();
    for class in facts::classes_of_student(store, student)? {
        let prefix = Key::new("hw.cls").uuid(class.as_uuid()).into_vec();
        for (_, id) in store.scan_values::<AssignmentId>(&prefix)? {
            let Some(assignment) = assignment(store, id)? else {
                continue;
            };
            let submitter = match assignment.group {
                None => Submitter::Student(student),
                Some(g) if groups.contains(&g) => Submitter::Group(g),
                Some(_) => continue,
            };
            if assignment.cancelled || due_from.is_some_and(|from| assignment.due_at < from) {
                continue;
            }
            let submission: Option<Submission> =
                store.get_value(&submission_key(id, &submitter))?;
            out.push(HomeworkItem {
                status: SubmissionStatus::of(submission.as_ref()),
                assignment,
                submission,
            });
        }
    }
    out.sort_by(|a, b| {
        (a.assignment.due_at, a.assignment.assignment)
            .cmp(&(b.assignment.due_at, b.assignment.assignment))
    });
    Ok(out)
}

/// Every submission a student handed in or that their group handed in while they were a
/// member, with its assignment, by assignment id.
pub fn student_submissions(
    store: &dyn ReadStore,
    student: AccountId,
) -> Result<Vec<(Assignment, Submission)>, StoreError> {
    let prefix = Key::new("sub.st").uuid(student.as_uuid()).into_vec();
    let mut out = Vec::new();
    for (key, submitter) in store.scan_values::<Submitter>(&prefix)? {
        let Some(id) = facts::tail_uuid(&key).map(AssignmentId::from_uuid) else {
            continue;
        };
        if let (Some(a), Some(s)) = (
            assignment(store, id)?,
            store.get_value::<Submission>(&submission_key(id, &submitter))?,
        ) {
            out.push((a, s));
        }
    }
    Ok(out)
}

/// A student's PUBLISHED grades, with the current (corrected) marks and the averages per subject
/// and overall computed by the domain. Unpublished evaluations never appear.
pub fn student_report(store: &dyn ReadStore, student: AccountId) -> Result<Report, StoreError> {
    let prefix = Key::new("ev.st").uuid(student.as_uuid()).into_vec();
    let mut grades = Vec::new();
    let mut items = Vec::new();
    for (_, id) in store.scan_values::<EvaluationId>(&prefix)? {
        let Some(evaluation) = store.get_value::<Evaluation>(&evaluation_key(id))? else {
            continue;
        };
        let Some(published_at) = evaluation.published_at else {
            continue;
        };
        let Some(grade) = store.get_value::<Grade>(&grade_key(id, student))? else {
            continue;
        };
        items.push(GradedItem {
            subject: evaluation.subject.clone(),
            scale: evaluation.scale,
            coefficient: evaluation.coefficient,
            mark: grade.mark,
        });
        grades.push(StudentGrade {
            evaluation: id,
            class: evaluation.class,
            subject: evaluation.subject.clone(),
            title: evaluation.title.clone(),
            date: evaluation.date,
            scale: evaluation.scale,
            coefficient: evaluation.coefficient,
            mark: grade.mark,
            comment: grade.comment.clone(),
            corrected: !grade.corrections.is_empty(),
            published_at,
        });
    }
    grades.sort_by_key(|g| (g.date, g.evaluation));
    let subject_averages = evaluation::subject_averages(&items);
    let overall_average = evaluation::overall_average(&subject_averages, &BTreeMap::new());
    Ok(Report {
        grades,
        subject_averages,
        overall_average,
    })
}

/// The Monday of the week holding `date`, and the 7 dates of that week.
fn week_of(date: Date) -> Result<[Date; 7], QueryError> {
    let offset = i64::from(date.weekday().to_monday_zero_offset());
    let monday = date
        .checked_sub(Span::new().days(offset))
        .map_err(|_| QueryError::DateOutOfRange(date))?;
    let mut days = [monday; 7];
    for (i, day) in days.iter_mut().enumerate().skip(1) {
        *day = monday
            .checked_add(Span::new().days(i as i64))
            .map_err(|_| QueryError::DateOutOfRange(date))?;
    }
    Ok(days)
}

/// A class's lessons in the week holding `date` (Monday to Sunday), with that week's changes
/// and cancellations applied, by date then start time.
pub fn class_week(
    store: &dyn ReadStore,
    class: ClassId,
    date: Date,
) -> Result<Vec<Lesson>, QueryError> {
    let days = week_of(date)?;
    let slots = store.scan_values::<Slot>(&Key::new("tt.slot").uuid(class.as_uuid()).into_vec())?;
    let mut out = Vec::new();
    for (_, slot) in slots {
        let day = days[usize::from(slot.day.weekday().to_monday_zero_offset().unsigned_abs())];
        let change: Option<OccurrenceChange> =
            store.get_value(&super::occurrence_key(class, day, slot.slot))?;
        let mut lesson = Lesson {
            class,
            slot: slot.slot,
            date: day,
            subject: slot.subject,
            teacher: slot.teacher,
            room: slot.room,
            time: slot.time,
            status: LessonStatus::AsPlanned,
        };
        match change {
            None => {}
            Some(OccurrenceChange::Cancelled { reason }) => {
                lesson.status = LessonStatus::Cancelled { reason };
            }
            Some(OccurrenceChange::Changed {
                teacher,
                room,
                time,
                reason,
            }) => {
                lesson.teacher = teacher.unwrap_or(lesson.teacher);
                lesson.room = room.or(lesson.room);
                lesson.time = time.unwrap_or(lesson.time);
                lesson.status = LessonStatus::Changed { reason };
            }
        }
        out.push(lesson);
    }
    out.sort_by_key(|l| (l.date, l.time.start(), l.slot));
    Ok(out)
}

/// A student's lessons in the week holding `date`, over their current classes.
pub fn student_week(
    store: &dyn ReadStore,
    student: AccountId,
    date: Date,
) -> Result<Vec<Lesson>, QueryError> {
    let mut out = Vec::new();
    for class in facts::classes_of_student(store, student)? {
        out.extend(class_week(store, class, date)?);
    }
    out.sort_by_key(|l| (l.date, l.time.start(), l.slot));
    Ok(out)
}

/// A teacher's lessons in the week holding `date`, over the classes they teach: the lessons
/// they give, including those moved or cancelled, and not those a replacement took over.
pub fn teacher_week(
    store: &dyn ReadStore,
    teacher: AccountId,
    date: Date,
) -> Result<Vec<Lesson>, QueryError> {
    let classes: BTreeSet<ClassId> = facts::teachings_of(store, teacher)?
        .into_iter()
        .map(|t| t.class)
        .collect();
    let mut out = Vec::new();
    for class in classes {
        out.extend(
            class_week(store, class, date)?
                .into_iter()
                .filter(|lesson| lesson.teacher == teacher),
        );
    }
    out.sort_by_key(|l| (l.date, l.time.start(), l.slot));
    Ok(out)
}

/// A student's absences and lateness, in recording order.
pub fn student_absences(
    store: &dyn ReadStore,
    student: AccountId,
) -> Result<Vec<Absence>, StoreError> {
    absences_under(
        store,
        &Key::new("abs.st").uuid(student.as_uuid()).into_vec(),
    )
}

fn absences_under(store: &dyn ReadStore, prefix: &[u8]) -> Result<Vec<Absence>, StoreError> {
    let mut out = Vec::new();
    for (_, id) in store.scan_values::<AbsenceId>(prefix)? {
        out.extend(store.get_value::<Absence>(&absence_key(id))?);
    }
    Ok(out)
}

/// Everything a student sees, with the timetable of the week holding `week_of_date`.
pub fn student_view(
    store: &dyn ReadStore,
    student: AccountId,
    week_of_date: Date,
) -> Result<StudentView, QueryError> {
    Ok(StudentView {
        student,
        classes: facts::classes_of_student(store, student)?,
        homework: student_homework(store, student, None)?,
        submissions: student_submissions(store, student)?,
        report: student_report(store, student)?,
        week: student_week(store, student, week_of_date)?,
        absences: student_absences(store, student)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------------------

/// For each child of `parent` (by child id), what the child sees plus the absences to justify.
pub fn parent_view(
    store: &dyn ReadStore,
    parent: AccountId,
    week_of_date: Date,
) -> Result<Vec<ChildView>, QueryError> {
    let mut out = Vec::new();
    for child in facts::children_of(store, parent)? {
        let view = student_view(store, child, week_of_date)?;
        let to_justify = view
            .absences
            .iter()
            .filter(|a| {
                matches!(
                    a.status,
                    AbsenceStatus::Unjustified | AbsenceStatus::Refused
                )
            })
            .cloned()
            .collect();
        out.push(ChildView { view, to_justify });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Teacher
// ---------------------------------------------------------------------------------------------

/// The classes a teacher teaches, with the subjects, in class id order.
pub fn teacher_classes(
    store: &dyn ReadStore,
    teacher: AccountId,
) -> Result<Vec<TaughtClass>, StoreError> {
    let mut by_class: BTreeMap<ClassId, Vec<Subject>> = BTreeMap::new();
    for teaching in facts::teachings_of(store, teacher)? {
        by_class
            .entry(teaching.class)
            .or_default()
            .push(teaching.subject);
    }
    let mut out = Vec::new();
    for (class, subjects) in by_class {
        if let Some(class) = facts::class_facts(store, class)? {
            out.push(TaughtClass { class, subjects });
        }
    }
    Ok(out)
}

/// The assignments of a class (cancelled ones included, flagged), each with the status of every
/// student concerned now, in assignment id order.
pub fn class_assignments(
    store: &dyn ReadStore,
    class: ClassId,
) -> Result<Vec<AssignmentReport>, StoreError> {
    let facts = facts::class_facts(store, class)?;
    let prefix = Key::new("hw.cls").uuid(class.as_uuid()).into_vec();
    let mut out = Vec::new();
    for (_, id) in store.scan_values::<AssignmentId>(&prefix)? {
        let Some(assignment) = assignment(store, id)? else {
            continue;
        };
        let mut students = Vec::new();
        if let Some(facts) = &facts {
            let (members, submitter_of): (Vec<AccountId>, Box<dyn Fn(AccountId) -> Submitter>) =
                match assignment.group {
                    None => (
                        facts.students.iter().copied().collect(),
                        Box::new(Submitter::Student),
                    ),
                    Some(g) => (
                        facts
                            .groups
                            .get(&g)
                            .map(|g| g.members.iter().copied().collect())
                            .unwrap_or_default(),
                        Box::new(move |_| Submitter::Group(g)),
                    ),
                };
            for student in members {
                let submission: Option<Submission> =
                    store.get_value(&submission_key(id, &submitter_of(student)))?;
                students.push(StudentStanding {
                    student,
                    status: SubmissionStatus::of(submission.as_ref()),
                    versions: submission.map_or(0, |s| s.versions.len() as u32),
                });
            }
        }
        out.push(AssignmentReport {
            assignment,
            students,
        });
    }
    Ok(out)
}

/// The assignments a teacher published in the classes they teach, with each student's status.
pub fn teacher_assignments(
    store: &dyn ReadStore,
    teacher: AccountId,
) -> Result<Vec<AssignmentReport>, StoreError> {
    let mut out = Vec::new();
    for taught in teacher_classes(store, teacher)? {
        out.extend(
            class_assignments(store, taught.class.class)?
                .into_iter()
                .filter(|r| r.assignment.teacher == teacher),
        );
    }
    Ok(out)
}

/// Rounds `numerator / denominator` half up.
fn divide_rounded(numerator: u64, denominator: u64) -> u64 {
    (2 * numerator + denominator) / (2 * denominator)
}

fn gradebook_of(evaluation: Evaluation) -> Gradebook {
    let values: Vec<GradeValue> = evaluation
        .grades
        .values()
        .filter_map(|g: &Grade| match g.mark {
            Mark::Value(v) => Some(v),
            Mark::Absent | Mark::Exempt => None,
        })
        .collect();
    let counted = values.len() as u32;
    let average = if values.is_empty() {
        None
    } else {
        let sum: u64 = values.iter().map(|v| u64::from(v.centi_points())).sum();
        let centi = divide_rounded(sum, u64::from(counted));
        // The mean of values within the scale is within the scale.
        u32::try_from(centi)
            .ok()
            .and_then(|c| GradeValue::new(c, evaluation.scale).ok())
    };
    let min = values.iter().min_by_key(|v| v.centi_points()).copied();
    let max = values.iter().max_by_key(|v| v.centi_points()).copied();
    Gradebook {
        evaluation,
        average,
        min,
        max,
        counted,
    }
}

/// One evaluation's gradebook, unpublished grades and corrections included: for the teacher.
pub fn gradebook(
    store: &dyn ReadStore,
    evaluation: EvaluationId,
) -> Result<Option<Gradebook>, StoreError> {
    Ok(load_evaluation(store, evaluation)?.map(gradebook_of))
}

/// Every evaluation of a class with its gradebook, by date then evaluation id: for the teacher.
pub fn class_gradebooks(
    store: &dyn ReadStore,
    class: ClassId,
) -> Result<Vec<Gradebook>, StoreError> {
    let prefix = Key::new("ev.cls").uuid(class.as_uuid()).into_vec();
    let mut out = Vec::new();
    for (_, id) in store.scan_values::<EvaluationId>(&prefix)? {
        out.extend(gradebook(store, id)?);
    }
    out.sort_by(|a, b| {
        (a.evaluation.date, a.evaluation.evaluation)
            .cmp(&(b.evaluation.date, b.evaluation.evaluation))
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Staff
// ---------------------------------------------------------------------------------------------

/// The absences and lateness of an establishment to follow up: not justified, or whose
/// justification was refused, in recording order.
pub fn absences_to_follow_up(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
) -> Result<Vec<Absence>, StoreError> {
    absences_under(
        store,
        &Key::new("abs.todo")
            .uuid(establishment.as_uuid())
            .into_vec(),
    )
}

/// The justifications of an establishment awaiting the staff's review, in recording order.
pub fn justifications_to_review(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
) -> Result<Vec<Absence>, StoreError> {
    absences_under(
        store,
        &Key::new("abs.review")
            .uuid(establishment.as_uuid())
            .into_vec(),
    )
}
