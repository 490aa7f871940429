//! School life queries: a parent's `children`, a `student` with their homework (with their own
//! or their group's submission status), submissions, published grades and averages, the week's
//! timetable and absences; a teacher's `assignments` with each student's status and
//! `gradebooks` (unpublished grades and corrections included); a class's `timetable`; the
//! staff's absences to follow up and justifications to review.
//!
//! Who sees what is decided by `domain::policy`: `may_follow_student` for a student's data (the
//! student, their parents, their teachers, their establishment's staff and administrators),
//! `may_see_grade` for each grade (families and staff only once published), `may_teach` for
//! gradebooks and assignments, `may_see_class` for a class's timetable, `may_review_absence`
//! for the staff's lists.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use domain::evaluation::Mark as DomainMark;
use domain::ids::{AccountId, EstablishmentId};
use domain::policy;
use domain::values::Attachment as DomainAttachment;
use jiff::civil::Date;
use projections::models::school::{
    self as model, AbsenceStatus as ModelAbsenceStatus, LessonStatus as ModelLessonStatus,
    SubmissionStatus as ModelSubmissionStatus,
};

use super::{Reads, connection, gid, key_time, names, parse_id, store_error, ts};
use crate::errors::ApiError;

/// The default page-size complexity multiplier for lists.
const PAGE_DEFAULT: i32 = 20;

// ---------------------------------------------------------------------------------------------
// Output types

/// Where a student stands on an assignment.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SubmissionStatus {
    Missing,
    HandedIn,
    Late,
}

impl From<ModelSubmissionStatus> for SubmissionStatus {
    fn from(s: ModelSubmissionStatus) -> Self {
        match s {
            ModelSubmissionStatus::Missing => SubmissionStatus::Missing,
            ModelSubmissionStatus::HandedIn => SubmissionStatus::HandedIn,
            ModelSubmissionStatus::Late => SubmissionStatus::Late,
        }
    }
}

/// A homework assignment.
#[derive(SimpleObject, Clone, Debug)]
pub struct Assignment {
    pub id: ID,
    pub establishment_id: ID,
    pub class_id: ID,
    /// The work group it is for; none for the whole class.
    pub group_id: Option<ID>,
    pub teacher_id: ID,
    pub subject: String,
    pub title: String,
    pub instructions: String,
    /// RFC 3339: the due time in force.
    pub due_at: String,
    pub published_at: String,
    pub amended_at: Option<String>,
    pub cancelled: bool,
}

impl From<model::Assignment> for Assignment {
    fn from(a: model::Assignment) -> Self {
        Assignment {
            id: gid(a.assignment),
            establishment_id: gid(a.establishment),
            class_id: gid(a.class),
            group_id: a.group.map(gid),
            teacher_id: gid(a.teacher),
            subject: a.subject.to_string(),
            title: a.title.to_string(),
            instructions: a.instructions.to_string(),
            due_at: ts(a.due_at),
            published_at: ts(a.published_at),
            amended_at: a.amended_at.map(ts),
            cancelled: a.cancelled,
        }
    }
}

/// A file handed in.
#[derive(SimpleObject, Clone, Debug)]
pub struct Attachment {
    pub name: String,
    pub media_type: String,
    pub size_bytes: u64,
    pub content_hash: String,
}

impl From<DomainAttachment> for Attachment {
    fn from(a: DomainAttachment) -> Self {
        Attachment {
            size_bytes: a.size_bytes(),
            name: a.name.to_string(),
            media_type: a.media_type.as_str().to_owned(),
            content_hash: a.content_hash.to_string(),
        }
    }
}

/// One version of a submission.
#[derive(SimpleObject, Clone, Debug)]
pub struct SubmissionVersion {
    pub version: u32,
    pub handed_in_by: ID,
    pub handed_in_at: String,
    /// Handed in after the due time in force at that moment.
    pub late: bool,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// A submission with every version, oldest first.
#[derive(SimpleObject, Clone, Debug)]
pub struct Submission {
    pub id: ID,
    pub assignment_id: ID,
    /// Handed in for a work group rather than in the student's own name.
    pub group_id: Option<ID>,
    pub versions: Vec<SubmissionVersion>,
}

impl From<model::Submission> for Submission {
    fn from(s: model::Submission) -> Self {
        Submission {
            id: gid(s.submission),
            assignment_id: gid(s.assignment),
            group_id: match s.submitter {
                domain::homework::Submitter::Group(g) => Some(gid(g)),
                domain::homework::Submitter::Student(_) => None,
            },
            versions: s
                .versions
                .into_iter()
                .map(|v| SubmissionVersion {
                    version: v.version,
                    handed_in_by: gid(v.handed_in_by),
                    handed_in_at: ts(v.handed_in_at),
                    late: v.late,
                    text: v.text.map(|t| t.to_string()),
                    attachments: v.attachments.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }
    }
}

/// An assignment with the student's own (or their group's) submission.
#[derive(SimpleObject, Clone, Debug)]
pub struct HomeworkItem {
    pub assignment: Assignment,
    pub status: SubmissionStatus,
    pub submission: Option<Submission>,
}

/// A submission with its assignment.
#[derive(SimpleObject, Clone, Debug)]
pub struct SubmittedWork {
    pub assignment: Assignment,
    pub submission: Submission,
}

/// One student's standing on an assignment, for its teacher.
#[derive(SimpleObject, Clone, Debug)]
pub struct StudentStanding {
    pub student_id: ID,
    pub status: SubmissionStatus,
    /// How many versions were handed in.
    pub versions: u32,
}

/// An assignment with each concerned student's status.
#[derive(SimpleObject, Clone, Debug)]
pub struct AssignmentReport {
    pub assignment: Assignment,
    pub students: Vec<StudentStanding>,
}

/// What a mark is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MarkType {
    Value,
    Absent,
    Exempt,
}

/// A mark: a value on the evaluation's scale, or absent, or exempt.
#[derive(SimpleObject, Clone, Debug)]
pub struct MarkView {
    pub kind: MarkType,
    /// The value in points, e.g. `15.5`, for a `VALUE` mark.
    pub value: Option<String>,
}

impl From<DomainMark> for MarkView {
    fn from(m: DomainMark) -> Self {
        match m {
            DomainMark::Value(v) => MarkView {
                kind: MarkType::Value,
                value: Some(v.to_string()),
            },
            DomainMark::Absent => MarkView {
                kind: MarkType::Absent,
                value: None,
            },
            DomainMark::Exempt => MarkView {
                kind: MarkType::Exempt,
                value: None,
            },
        }
    }
}

/// A published grade as the student and their family see it: the current mark only.
#[derive(SimpleObject, Clone, Debug)]
pub struct StudentGrade {
    pub evaluation_id: ID,
    pub class_id: ID,
    pub subject: String,
    pub title: String,
    /// `2026-03-02`.
    pub date: String,
    /// The top of the scale, in points.
    pub scale: u16,
    pub coefficient: String,
    pub mark: MarkView,
    pub comment: Option<String>,
    /// Whether the mark was corrected after it was recorded.
    pub corrected: bool,
    pub published_at: String,
}

/// An average on 20 for one subject.
#[derive(SimpleObject, Clone, Debug)]
pub struct SubjectAverage {
    pub subject: String,
    /// On 20, e.g. `14.25`.
    pub average: String,
}

/// A student's published grades with their averages on 20.
#[derive(SimpleObject, Clone, Debug)]
pub struct GradeReport {
    /// By date.
    pub grades: Vec<StudentGrade>,
    /// Absent for a teacher, who sees only the grades of the classes they teach.
    pub subject_averages: Option<Vec<SubjectAverage>>,
    pub overall_average: Option<String>,
}

/// A correction of a grade.
#[derive(SimpleObject, Clone, Debug)]
pub struct GradeCorrection {
    pub previous: MarkView,
    pub mark: MarkView,
    pub reason: String,
    pub corrected_at: String,
}

/// A grade in a teacher's gradebook.
#[derive(SimpleObject, Clone, Debug)]
pub struct GradebookLine {
    pub student_id: ID,
    pub mark: MarkView,
    pub comment: Option<String>,
    pub recorded_at: String,
    pub corrections: Vec<GradeCorrection>,
}

/// One evaluation's grades with the class statistics: for its teacher.
#[derive(SimpleObject, Clone, Debug)]
pub struct Gradebook {
    pub evaluation_id: ID,
    pub class_id: ID,
    pub teacher_id: ID,
    pub subject: String,
    pub title: String,
    pub date: String,
    pub scale: u16,
    pub coefficient: String,
    pub assignment_id: Option<ID>,
    /// When the grades were published to students and parents; none while unpublished.
    pub published_at: Option<String>,
    pub grades: Vec<GradebookLine>,
    /// On the evaluation's scale; none when no value was given.
    pub average: Option<String>,
    pub min: Option<String>,
    pub max: Option<String>,
    /// How many values count in the statistics.
    pub counted: u32,
}

impl From<model::Gradebook> for Gradebook {
    fn from(g: model::Gradebook) -> Self {
        let e = g.evaluation;
        Gradebook {
            evaluation_id: gid(e.evaluation),
            class_id: gid(e.class),
            teacher_id: gid(e.teacher),
            subject: e.subject.to_string(),
            title: e.title.to_string(),
            date: e.date.to_string(),
            scale: e.scale.max_points(),
            coefficient: e.coefficient.to_string(),
            assignment_id: e.assignment.map(gid),
            published_at: e.published_at.map(ts),
            grades: e
                .grades
                .into_values()
                .map(|grade| GradebookLine {
                    student_id: gid(grade.student),
                    mark: grade.mark.into(),
                    comment: grade.comment.map(|c| c.to_string()),
                    recorded_at: ts(grade.recorded_at),
                    corrections: grade
                        .corrections
                        .into_iter()
                        .map(|c| GradeCorrection {
                            previous: c.previous.into(),
                            mark: c.mark.into(),
                            reason: c.reason.to_string(),
                            corrected_at: ts(c.corrected_at),
                        })
                        .collect(),
                })
                .collect(),
            average: g.average.map(|v| v.to_string()),
            min: g.min.map(|v| v.to_string()),
            max: g.max.map(|v| v.to_string()),
            counted: g.counted,
        }
    }
}

/// What happens to a lesson.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LessonStatus {
    AsPlanned,
    Changed,
    Cancelled,
}

/// One lesson of a week, with that week's changes applied.
#[derive(SimpleObject, Clone, Debug)]
pub struct Lesson {
    pub class_id: ID,
    pub slot_id: ID,
    pub date: String,
    pub subject: String,
    pub teacher_id: ID,
    pub room: Option<String>,
    /// `08:30`, Paris wall-clock time.
    pub start: String,
    pub end: String,
    pub status: LessonStatus,
    pub reason: Option<String>,
}

impl From<model::Lesson> for Lesson {
    fn from(l: model::Lesson) -> Self {
        let (status, reason) = match l.status {
            ModelLessonStatus::AsPlanned => (LessonStatus::AsPlanned, None),
            ModelLessonStatus::Changed { reason } => (LessonStatus::Changed, reason),
            ModelLessonStatus::Cancelled { reason } => (LessonStatus::Cancelled, reason),
        };
        Lesson {
            class_id: gid(l.class),
            slot_id: gid(l.slot),
            date: l.date.to_string(),
            subject: l.subject.to_string(),
            teacher_id: gid(l.teacher),
            room: l.room.map(|r| r.to_string()),
            start: l.time.start().strftime("%H:%M").to_string(),
            end: l.time.end().strftime("%H:%M").to_string(),
            status,
            reason: reason.map(|r| r.to_string()),
        }
    }
}

/// Where an absence stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AbsenceStatus {
    Unjustified,
    Justified,
    Accepted,
    Refused,
}

/// An absence over a period, or a lateness.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AbsenceType {
    Absence,
    Lateness,
}

/// A recorded absence or lateness.
#[derive(SimpleObject, Clone, Debug)]
pub struct Absence {
    pub id: ID,
    pub establishment_id: ID,
    pub class_id: ID,
    pub student_id: ID,
    pub kind: AbsenceType,
    /// For an absence: from and to (RFC 3339); for a lateness: `from` is when it was noted.
    pub from: String,
    pub to: Option<String>,
    pub lateness_minutes: Option<u16>,
    pub note: Option<String>,
    pub recorded_at: String,
    pub status: AbsenceStatus,
    pub justification: Option<String>,
    pub justified_by: Option<ID>,
    pub justified_at: Option<String>,
    pub refusal: Option<String>,
}

impl From<model::Absence> for Absence {
    fn from(a: model::Absence) -> Self {
        let (kind, from, to, minutes) = match a.kind {
            domain::absence::AbsenceKind::Absence { from, to } => {
                (AbsenceType::Absence, from, Some(ts(to)), None)
            }
            domain::absence::AbsenceKind::Lateness { at, minutes } => {
                (AbsenceType::Lateness, at, None, Some(minutes))
            }
        };
        Absence {
            id: gid(a.absence),
            establishment_id: gid(a.establishment),
            class_id: gid(a.class),
            student_id: gid(a.student),
            kind,
            from: ts(from),
            to,
            lateness_minutes: minutes,
            note: a.note.map(|n| n.to_string()),
            recorded_at: ts(a.recorded_at),
            status: match a.status {
                ModelAbsenceStatus::Unjustified => AbsenceStatus::Unjustified,
                ModelAbsenceStatus::Justified => AbsenceStatus::Justified,
                ModelAbsenceStatus::Accepted => AbsenceStatus::Accepted,
                ModelAbsenceStatus::Refused => AbsenceStatus::Refused,
            },
            justification: a.justification.map(|j| j.to_string()),
            justified_by: a.justified_by.map(gid),
            justified_at: a.justified_at.map(ts),
            refusal: a.refusal.map(|r| r.to_string()),
        }
    }
}

/// A class, as a student's or child's card shows it.
#[derive(SimpleObject, Clone, Debug)]
pub struct ClassCard {
    pub id: ID,
    pub name: String,
    pub year: String,
    pub establishment_id: ID,
}

// ---------------------------------------------------------------------------------------------
// Shared readers (each checks nothing: the caller has checked the student)

/// A student, once the viewer was found allowed to follow them: their school life, field by
/// field (the parent's dashboard asks for several children's homework, grades and timetable in
/// one request).
pub struct Student {
    pub id: AccountId,
}

async fn homework_of(
    reads: &Reads<'_>,
    student: AccountId,
    due_from: Option<String>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, HomeworkItem>, ApiError> {
    let due_from = crate::schema::mutations::opt_timestamp("dueFrom", due_from.as_deref())?;
    let view = reads.view(names::SCHOOL).await?;
    let items = model::student_homework(&view, student, due_from).map_err(store_error)?;
    connection(
        items
            .into_iter()
            .map(|item| {
                let key = format!(
                    "{}.{}",
                    key_time(item.assignment.due_at),
                    item.assignment.assignment
                );
                let node = HomeworkItem {
                    status: item.status.into(),
                    submission: item.submission.map(Into::into),
                    assignment: item.assignment.into(),
                };
                (key, node)
            })
            .collect(),
        first,
        after,
    )
}

async fn submissions_of(
    reads: &Reads<'_>,
    student: AccountId,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, SubmittedWork>, ApiError> {
    let view = reads.view(names::SCHOOL).await?;
    let items = model::student_submissions(&view, student).map_err(store_error)?;
    connection(
        items
            .into_iter()
            .map(|(assignment, submission)| {
                let key = assignment.assignment.to_string();
                let node = SubmittedWork {
                    assignment: assignment.into(),
                    submission: submission.into(),
                };
                (key, node)
            })
            .collect(),
        first,
        after,
    )
}

async fn grades_of(reads: &Reads<'_>, student: AccountId) -> Result<GradeReport, ApiError> {
    let view = reads.view(names::SCHOOL).await?;
    let report = model::student_report(&view, student).map_err(store_error)?;
    let class_establishments = reads.facts(|f| {
        report
            .grades
            .iter()
            .map(|g| f.class(g.class).map(|c| c.establishment))
            .collect::<Vec<Option<EstablishmentId>>>()
    })?;
    // The report holds published grades only; each one still goes through the policy, which
    // lets a teacher see only the classes they teach.
    let mut all_visible = true;
    let mut grades = Vec::new();
    for (grade, establishment) in report.grades.into_iter().zip(class_establishments) {
        let visible = establishment
            .is_some_and(|e| policy::may_see_grade(&reads.actor, e, grade.class, student, true));
        if !visible {
            all_visible = false;
            continue;
        }
        grades.push(StudentGrade {
            evaluation_id: gid(grade.evaluation),
            class_id: gid(grade.class),
            subject: grade.subject.to_string(),
            title: grade.title.to_string(),
            date: grade.date.to_string(),
            scale: grade.scale.max_points(),
            coefficient: grade.coefficient.to_string(),
            mark: grade.mark.into(),
            comment: grade.comment.map(|c| c.to_string()),
            corrected: grade.corrected,
            published_at: ts(grade.published_at),
        });
    }
    // Averages are over every published grade: shown only to who sees them all.
    let (subject_averages, overall_average) = if all_visible {
        (
            Some(
                report
                    .subject_averages
                    .into_iter()
                    .map(|(subject, average)| SubjectAverage {
                        subject: subject.to_string(),
                        average: average.to_string(),
                    })
                    .collect(),
            ),
            report.overall_average.map(|a| a.to_string()),
        )
    } else {
        (None, None)
    };
    Ok(GradeReport {
        grades,
        subject_averages,
        overall_average,
    })
}

/// The date a week is asked for: the one given, else today in Paris.
fn week_date(reads: &Reads<'_>, week_of: Option<String>) -> Result<Date, ApiError> {
    match week_of {
        Some(text) => crate::schema::mutations::date("weekOf", &text),
        None => reads.today(),
    }
}

async fn timetable_of(
    reads: &Reads<'_>,
    student: AccountId,
    week_of: Option<String>,
) -> Result<Vec<Lesson>, ApiError> {
    let date = week_date(reads, week_of)?;
    let view = reads.view(names::SCHOOL).await?;
    let lessons = model::student_week(&view, student, date).map_err(query_error)?;
    Ok(lessons.into_iter().map(Into::into).collect())
}

async fn absences_of(
    reads: &Reads<'_>,
    student: AccountId,
    only_to_justify: bool,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, Absence>, ApiError> {
    let view = reads.view(names::SCHOOL).await?;
    let absences = model::student_absences(&view, student).map_err(store_error)?;
    absence_page(
        absences
            .into_iter()
            .filter(|a| {
                !only_to_justify
                    || matches!(
                        a.status,
                        ModelAbsenceStatus::Unjustified | ModelAbsenceStatus::Refused
                    )
            })
            .collect(),
        first,
        after,
    )
}

fn absence_page(
    absences: Vec<model::Absence>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, Absence>, ApiError> {
    connection(
        absences
            .into_iter()
            .map(|a| {
                (
                    format!("{}.{}", key_time(a.recorded_at), a.absence),
                    a.into(),
                )
            })
            .collect(),
        first,
        after,
    )
}

fn query_error(error: model::QueryError) -> ApiError {
    match error {
        model::QueryError::Store(e) => store_error(e),
        model::QueryError::DateOutOfRange(date) => {
            ApiError::Invalid(format!("weekOf: the week of {date} is out of range"))
        }
    }
}

#[Object]
impl Student {
    async fn id(&self) -> ID {
        gid(self.id)
    }

    /// Absent once the person's data was erased.
    async fn given_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let reads = Reads::of(ctx, None)?;
        Ok(reads.facts(|f| {
            f.account(self.id)
                .and_then(|a| a.given_name.as_ref().map(|n| n.to_string()))
        })?)
    }

    async fn family_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let reads = Reads::of(ctx, None)?;
        Ok(reads.facts(|f| {
            f.account(self.id)
                .and_then(|a| a.family_name.as_ref().map(|n| n.to_string()))
        })?)
    }

    /// The classes enrolled in now.
    async fn classes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ClassCard>> {
        let reads = Reads::of(ctx, None)?;
        Ok(reads.facts(|f| {
            f.enrolled_in(self.id)
                .into_iter()
                .filter_map(|c| f.class(c))
                .map(|c| ClassCard {
                    id: gid(c.id),
                    name: c.name.to_string(),
                    year: c.year.to_string(),
                    establishment_id: gid(c.establishment),
                })
                .collect()
        })?)
    }

    /// Homework of the current classes and groups (cancelled ones left out), by due time.
    /// `dueFrom` (RFC 3339) leaves out what was due before.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn homework(
        &self,
        ctx: &Context<'_>,
        due_from: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, HomeworkItem>> {
        let reads = Reads::of(ctx, None)?;
        Ok(homework_of(&reads, self.id, due_from, first, after).await?)
    }

    /// Every submission handed in (also in classes left), by assignment.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn submissions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, SubmittedWork>> {
        let reads = Reads::of(ctx, None)?;
        Ok(submissions_of(&reads, self.id, first, after).await?)
    }

    /// Published grades and averages.
    async fn grades(&self, ctx: &Context<'_>) -> async_graphql::Result<GradeReport> {
        let reads = Reads::of(ctx, None)?;
        Ok(grades_of(&reads, self.id).await?)
    }

    /// The lessons of the week holding `weekOf` (`2026-03-02`; this week by default).
    async fn timetable(
        &self,
        ctx: &Context<'_>,
        week_of: Option<String>,
    ) -> async_graphql::Result<Vec<Lesson>> {
        let reads = Reads::of(ctx, None)?;
        Ok(timetable_of(&reads, self.id, week_of).await?)
    }

    /// Absences and lateness, in recording order; `toJustify` keeps those a parent may still
    /// justify (not justified, or refused).
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn absences(
        &self,
        ctx: &Context<'_>,
        to_justify: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Absence>> {
        let reads = Reads::of(ctx, None)?;
        Ok(absences_of(&reads, self.id, to_justify.unwrap_or(false), first, after).await?)
    }
}

#[derive(Default)]
pub struct SchoolQuery;

#[Object]
impl SchoolQuery {
    /// A parent's children (FORBIDDEN for any other profile).
    async fn children(
        &self,
        ctx: &Context<'_>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Vec<Student>> {
        let reads = Reads::of(ctx, read_after)?;
        if reads.actor.acting_as != domain::Profile::Parent {
            return Err(ApiError::Forbidden("only a parent has children here".into()).into());
        }
        reads.view(names::SCHOOL).await?;
        Ok(reads
            .actor
            .children
            .iter()
            .map(|child| Student { id: *child })
            .collect())
    }

    /// A student the viewer may follow: themselves (no id needed for a student), a child, a
    /// student of a class they teach, of the establishment they work in.
    async fn student(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Student> {
        let reads = Reads::of(ctx, read_after)?;
        let id = reads.student(id.as_ref())?;
        reads.view(names::SCHOOL).await?;
        Ok(Student { id })
    }

    /// A student's homework (see `student`).
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn homework(
        &self,
        ctx: &Context<'_>,
        student_id: Option<ID>,
        due_from: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, HomeworkItem>> {
        let reads = Reads::of(ctx, read_after)?;
        let student = reads.student(student_id.as_ref())?;
        Ok(homework_of(&reads, student, due_from, first, after).await?)
    }

    /// A student's submissions (see `student`).
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn submissions(
        &self,
        ctx: &Context<'_>,
        student_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, SubmittedWork>> {
        let reads = Reads::of(ctx, read_after)?;
        let student = reads.student(student_id.as_ref())?;
        Ok(submissions_of(&reads, student, first, after).await?)
    }

    /// A student's published grades and averages (see `student`).
    async fn grades(
        &self,
        ctx: &Context<'_>,
        student_id: Option<ID>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<GradeReport> {
        let reads = Reads::of(ctx, read_after)?;
        let student = reads.student(student_id.as_ref())?;
        Ok(grades_of(&reads, student).await?)
    }

    /// A student's absences (see `student`).
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn absences(
        &self,
        ctx: &Context<'_>,
        student_id: Option<ID>,
        to_justify: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, Absence>> {
        let reads = Reads::of(ctx, read_after)?;
        let student = reads.student(student_id.as_ref())?;
        Ok(absences_of(&reads, student, to_justify.unwrap_or(false), first, after).await?)
    }

    /// The week's lessons of a student (`studentId`, or the viewer as a student) or of a class
    /// (`classId`, for who may see the class), with that week's changes.
    async fn timetable(
        &self,
        ctx: &Context<'_>,
        student_id: Option<ID>,
        class_id: Option<ID>,
        week_of: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Vec<Lesson>> {
        let reads = Reads::of(ctx, read_after)?;
        if let Some(class_id) = class_id {
            if student_id.is_some() {
                return Err(ApiError::Invalid("give studentId or classId, not both".into()).into());
            }
            let (class, _) = reads.class(&class_id)?;
            let date = week_date(&reads, week_of)?;
            let view = reads.view(names::SCHOOL).await?;
            let lessons = model::class_week(&view, class, date).map_err(query_error)?;
            return Ok(lessons.into_iter().map(Into::into).collect());
        }
        let student = reads.student(student_id.as_ref())?;
        Ok(timetable_of(&reads, student, week_of).await?)
    }

    /// A teacher's own assignments (in the classes they teach, or in `classId`), each with
    /// every concerned student's status.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn assignments(
        &self,
        ctx: &Context<'_>,
        class_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, AssignmentReport>> {
        let reads = Reads::of(ctx, read_after)?;
        let teacher = reads.actor.account;
        let class = match &class_id {
            Some(id) => Some(taught_class(&reads, id)?),
            None if reads.actor.acting_as == domain::Profile::Teacher => None,
            None => {
                return Err(ApiError::Forbidden("assignments are a teacher's list".into()).into());
            }
        };
        let view = reads.view(names::SCHOOL).await?;
        let reports = match class {
            Some(class) => model::class_assignments(&view, class)
                .map_err(store_error)?
                .into_iter()
                .filter(|r| r.assignment.teacher == teacher)
                .collect(),
            None => model::teacher_assignments(&view, teacher).map_err(store_error)?,
        };
        Ok(connection(
            reports
                .into_iter()
                .map(|r| {
                    let key = format!(
                        "{}.{}",
                        key_time(r.assignment.due_at),
                        r.assignment.assignment
                    );
                    let node = AssignmentReport {
                        students: r
                            .students
                            .into_iter()
                            .map(|s| StudentStanding {
                                student_id: gid(s.student),
                                status: s.status.into(),
                                versions: s.versions,
                            })
                            .collect(),
                        assignment: r.assignment.into(),
                    };
                    (key, node)
                })
                .collect(),
            first,
            after,
        )?)
    }

    /// The gradebooks of a class the teacher teaches: every evaluation with every grade,
    /// unpublished ones and corrections included, and the class's average, min and max.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn gradebooks(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, Gradebook>> {
        let reads = Reads::of(ctx, read_after)?;
        let class = taught_class(&reads, &class_id)?;
        let view = reads.view(names::SCHOOL).await?;
        let books = model::class_gradebooks(&view, class).map_err(store_error)?;
        Ok(connection(
            books
                .into_iter()
                .map(|b| {
                    let key = format!("{}.{}", b.evaluation.date, b.evaluation.evaluation);
                    (key, b.into())
                })
                .collect(),
            first,
            after,
        )?)
    }

    /// The staff's absences and lateness to follow up (not justified, or refused) in their
    /// establishment, in recording order.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn absences_to_follow_up(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, Absence>> {
        let reads = Reads::of(ctx, read_after)?;
        let establishment = staff_establishment(&reads, establishment_id.as_ref())?;
        let view = reads.view(names::SCHOOL).await?;
        let absences = model::absences_to_follow_up(&view, establishment).map_err(store_error)?;
        Ok(absence_page(absences, first, after)?)
    }

    /// The justifications given by parents, awaiting the staff's review.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn justifications_to_review(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, Absence>> {
        let reads = Reads::of(ctx, read_after)?;
        let establishment = staff_establishment(&reads, establishment_id.as_ref())?;
        let view = reads.view(names::SCHOOL).await?;
        let absences =
            model::justifications_to_review(&view, establishment).map_err(store_error)?;
        Ok(absence_page(absences, first, after)?)
    }
}

/// A class the viewer teaches, checked with `domain::policy::may_teach`.
fn taught_class(reads: &Reads<'_>, id: &ID) -> Result<domain::ids::ClassId, ApiError> {
    let class = parse_id::<domain::ids::ClassId>("classId", id)?;
    let establishment = reads.facts(|f| f.class(class).map(|c| c.establishment))?;
    let Some(establishment) = establishment else {
        return Err(ApiError::NotFound(format!("class {class} is unknown")));
    };
    if !policy::may_teach(&reads.actor, establishment, class) {
        return Err(ApiError::Forbidden(
            "the viewer does not teach this class".into(),
        ));
    }
    Ok(class)
}

/// The establishment whose absences the viewer reviews, checked with
/// `domain::policy::may_review_absence`.
fn staff_establishment(reads: &Reads<'_>, given: Option<&ID>) -> Result<EstablishmentId, ApiError> {
    let establishment = reads.establishment(given)?;
    if !policy::may_review_absence(&reads.actor, establishment) {
        return Err(ApiError::Forbidden(
            "only the establishment's staff follow absences up".into(),
        ));
    }
    Ok(establishment)
}
