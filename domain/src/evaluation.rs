//! Evaluations and grades: a teacher of the class creates an evaluation (subject, title, scale,
//! coefficient, date, optionally the assignment it grades) and records one grade per student — a
//! value within the scale, or absent, or exempt — with a comment. Corrections keep the previous
//! value and give a reason. Grades become visible to students and parents only once the teacher
//! publishes the evaluation.
//!
//! Averages are pure functions: per subject, the coefficient-weighted mean of the grades brought
//! to a 20-point scale (absent and exempt marks do not count); overall, the mean of the subject
//! averages weighted by subject coefficients (1 unless given). Arithmetic is exact (fractions of
//! integers), rounded half up to the hundredth at the end.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::actor::Context;
use crate::error::DomainError;
use crate::ids::{AccountId, AssignmentId, ClassId, EstablishmentId, EvaluationId};
use crate::policy::{self, require};
use crate::values::{Coefficient, Comment, GradeValue, Reason, Scale, Subject, Title};

/// A student's mark in one evaluation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Mark {
    Value(GradeValue),
    Absent,
    Exempt,
}

/// What happened to an evaluation and its grades.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EvaluationEvent {
    Created {
        evaluation: EvaluationId,
        establishment: EstablishmentId,
        class: ClassId,
        teacher: AccountId,
        subject: Subject,
        title: Title,
        scale: Scale,
        coefficient: Coefficient,
        date: Date,
        assignment: Option<AssignmentId>,
    },
    GradeRecorded {
        evaluation: EvaluationId,
        student: AccountId,
        mark: Mark,
        comment: Option<Comment>,
    },
    /// A correction: the previous mark is kept in the event, with the reason.
    GradeCorrected {
        evaluation: EvaluationId,
        student: AccountId,
        previous: Mark,
        mark: Mark,
        comment: Option<Comment>,
        reason: Reason,
    },
    /// From now on the grades of this evaluation are visible to students and parents.
    GradesPublished { evaluation: EvaluationId },
}

/// A grade as the evaluation knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct GradeRecord {
    pub mark: Mark,
    pub comment: Option<Comment>,
    /// How many times it was corrected.
    pub corrections: u32,
}

/// What the log says about one evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvaluationState {
    pub id: Option<EvaluationId>,
    pub establishment: Option<EstablishmentId>,
    pub class: Option<ClassId>,
    pub subject: Option<Subject>,
    pub scale: Option<Scale>,
    pub coefficient: Option<Coefficient>,
    pub grades: BTreeMap<AccountId, GradeRecord>,
    pub published: bool,
}

/// What may be asked of an evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum EvaluationCommand {
    Create {
        evaluation: EvaluationId,
        establishment: EstablishmentId,
        class: ClassId,
        subject: Subject,
        title: Title,
        scale: Scale,
        coefficient: Coefficient,
        date: Date,
        assignment: Option<AssignmentId>,
        /// Fact from the homework read model: `assignment`, if set, was published to `class`.
        assignment_in_class: bool,
    },
    RecordGrade {
        evaluation: EvaluationId,
        student: AccountId,
        mark: Mark,
        comment: Option<Comment>,
        /// Fact from the class read model: `student` is enrolled in the evaluation's class.
        student_in_class: bool,
    },
    CorrectGrade {
        evaluation: EvaluationId,
        student: AccountId,
        mark: Mark,
        comment: Option<Comment>,
        reason: Reason,
    },
    PublishGrades {
        evaluation: EvaluationId,
    },
}

/// Decides a command against the evaluation's state.
pub fn decide(
    state: &EvaluationState,
    command: &EvaluationCommand,
    ctx: &Context,
) -> Result<Vec<EvaluationEvent>, DomainError> {
    let actor = &ctx.actor;
    match command {
        EvaluationCommand::Create {
            evaluation,
            establishment,
            class,
            subject,
            title,
            scale,
            coefficient,
            date,
            assignment,
            assignment_in_class,
        } => {
            require(
                policy::may_teach(actor, *establishment, *class)
                    && actor.teaches_subject(*class, subject),
                "only a teacher of this subject in the class creates its evaluations",
            )?;
            if state.id.is_some() {
                return Err(DomainError::conflict("evaluation already created"));
            }
            if assignment.is_some() && !assignment_in_class {
                return Err(DomainError::invalid(
                    "the assignment was not given to this class",
                ));
            }
            Ok(vec![EvaluationEvent::Created {
                evaluation: *evaluation,
                establishment: *establishment,
                class: *class,
                teacher: actor.account,
                subject: subject.clone(),
                title: title.clone(),
                scale: *scale,
                coefficient: *coefficient,
                date: *date,
                assignment: *assignment,
            }])
        }
        EvaluationCommand::RecordGrade {
            evaluation,
            student,
            mark,
            comment,
            student_in_class,
        } => {
            let scale = require_grader(state, ctx)?;
            if !student_in_class {
                return Err(DomainError::invalid("the student is not in the class"));
            }
            require_fits(mark, scale)?;
            if state.grades.contains_key(student) {
                return Err(DomainError::conflict(
                    "the student already has a grade: correct it with a reason",
                ));
            }
            Ok(vec![EvaluationEvent::GradeRecorded {
                evaluation: *evaluation,
                student: *student,
                mark: *mark,
                comment: comment.clone(),
            }])
        }
        EvaluationCommand::CorrectGrade {
            evaluation,
            student,
            mark,
            comment,
            reason,
        } => {
            let scale = require_grader(state, ctx)?;
            let Some(current) = state.grades.get(student) else {
                return Err(DomainError::not_found(
                    "the student has no grade to correct",
                ));
            };
            require_fits(mark, scale)?;
            if current.mark == *mark && current.comment == *comment {
                return Err(DomainError::conflict("the correction changes nothing"));
            }
            Ok(vec![EvaluationEvent::GradeCorrected {
                evaluation: *evaluation,
                student: *student,
                previous: current.mark,
                mark: *mark,
                comment: comment.clone(),
                reason: reason.clone(),
            }])
        }
        EvaluationCommand::PublishGrades { evaluation } => {
            require_grader(state, ctx)?;
            if state.published {
                return Err(DomainError::conflict("grades already published"));
            }
            Ok(vec![EvaluationEvent::GradesPublished {
                evaluation: *evaluation,
            }])
        }
    }
}

/// The actor is a teacher of the evaluation's class; returns the evaluation's scale.
fn require_grader(state: &EvaluationState, ctx: &Context) -> Result<Scale, DomainError> {
    let (Some(establishment), Some(class), Some(subject), Some(scale)) = (
        state.establishment,
        state.class,
        state.subject.as_ref(),
        state.scale,
    ) else {
        return Err(DomainError::not_found("no such evaluation"));
    };
    require(
        policy::may_teach(&ctx.actor, establishment, class)
            && ctx.actor.teaches_subject(class, subject),
        "only a teacher of this subject in the class grades it",
    )?;
    Ok(scale)
}

fn require_fits(mark: &Mark, scale: Scale) -> Result<(), DomainError> {
    if let Mark::Value(value) = mark
        && !value.fits(scale)
    {
        return Err(DomainError::invalid(format!(
            "grade {value} is above the scale's {}",
            scale.max_points()
        )));
    }
    Ok(())
}

/// Applies an event to the state.
pub fn evolve(mut state: EvaluationState, event: &EvaluationEvent) -> EvaluationState {
    match event {
        EvaluationEvent::Created {
            evaluation,
            establishment,
            class,
            subject,
            scale,
            coefficient,
            ..
        } => {
            state.id = Some(*evaluation);
            state.establishment = Some(*establishment);
            state.class = Some(*class);
            state.subject = Some(subject.clone());
            state.scale = Some(*scale);
            state.coefficient = Some(*coefficient);
        }
        EvaluationEvent::GradeRecorded {
            student,
            mark,
            comment,
            ..
        } => {
            state.grades.insert(
                *student,
                GradeRecord {
                    mark: *mark,
                    comment: comment.clone(),
                    corrections: 0,
                },
            );
        }
        EvaluationEvent::GradeCorrected {
            student,
            mark,
            comment,
            ..
        } => {
            let corrections = state.grades.get(student).map_or(0, |g| g.corrections) + 1;
            state.grades.insert(
                *student,
                GradeRecord {
                    mark: *mark,
                    comment: comment.clone(),
                    corrections,
                },
            );
        }
        EvaluationEvent::GradesPublished { .. } => state.published = true,
    }
    state
}

/// The stream of one evaluation (with its grades).
pub fn stream_id(id: EvaluationId) -> String {
    format!("evaluation-{id}")
}

/// The stream an evaluation event belongs to.
pub fn event_stream_id(event: &EvaluationEvent) -> String {
    match event {
        EvaluationEvent::Created { evaluation, .. }
        | EvaluationEvent::GradeRecorded { evaluation, .. }
        | EvaluationEvent::GradeCorrected { evaluation, .. }
        | EvaluationEvent::GradesPublished { evaluation } => stream_id(*evaluation),
    }
}

// ---------------------------------------------------------------------------------------------
// Averages
// ---------------------------------------------------------------------------------------------

/// An average on the 20-point scale, in hundredths of a point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct Average {
    pub centi_points_on_20: u32,
}

impl fmt::Display for Average {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.centi_points_on_20 / 100;
        let fraction = self.centi_points_on_20 % 100;
        write!(f, "{whole}.{fraction:02}")
    }
}

/// One student's mark in one evaluation, with what the average needs to know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct GradedItem {
    pub subject: Subject,
    pub scale: Scale,
    pub coefficient: Coefficient,
    pub mark: Mark,
}

/// An exact non-negative fraction.
#[derive(Clone, Copy)]
struct Fraction {
    numerator: u128,
    denominator: u128,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Fraction {
    const ZERO: Fraction = Fraction {
        numerator: 0,
        denominator: 1,
    };

    fn new(numerator: u128, denominator: u128) -> Fraction {
        let g = gcd(numerator, denominator).max(1);
        Fraction {
            numerator: numerator / g,
            denominator: denominator / g,
        }
    }

    fn add(self, other: Fraction) -> Fraction {
        Fraction::new(
            self.numerator * other.denominator + other.numerator * self.denominator,
            self.denominator * other.denominator,
        )
    }

    /// `self / divisor`, rounded half up to an integer.
    fn divide_rounded(self, divisor: u128) -> u128 {
        let denominator = self.denominator * divisor;
        (2 * self.numerator + denominator) / (2 * denominator)
    }
}

/// The coefficient-weighted mean of `(value on 20 as a fraction of centi-points, weight in
/// hundredths)` pairs; `None` when there is nothing to weigh.
fn weighted_mean(items: impl Iterator<Item = (Fraction, u32)>) -> Option<Average> {
    let mut sum = Fraction::ZERO;
    let mut weight_total: u128 = 0;
    for (value, weight) in items {
        let weighted = Fraction::new(value.numerator * u128::from(weight), value.denominator);
        sum = sum.add(weighted);
        weight_total += u128::from(weight);
    }
    if weight_total == 0 {
        return None;
    }
    let centi = sum.divide_rounded(weight_total);
    Some(Average {
        centi_points_on_20: u32::try_from(centi).unwrap_or(u32::MAX),
    })
}

/// A value brought to the 20-point scale, in centi-points, exactly.
fn on_twenty(value: GradeValue, scale: Scale) -> Fraction {
    Fraction::new(
        u128::from(value.centi_points()) * 20,
        u128::from(scale.max_points()),
    )
}

/// The average of each subject: grades brought to /20, weighted by their evaluation's
/// coefficient. Absent and exempt marks do not count; a subject with no counted grade has no
/// average.
pub fn subject_averages(items: &[GradedItem]) -> BTreeMap<Subject, Average> {
    let mut by_subject: BTreeMap<&Subject, Vec<&GradedItem>> = BTreeMap::new();
    for item in items {
        by_subject.entry(&item.subject).or_default().push(item);
    }
    by_subject
        .into_iter()
        .filter_map(|(subject, items)| {
            let counted = items.into_iter().filter_map(|i| match i.mark {
                Mark::Value(v) => Some((on_twenty(v, i.scale), i.coefficient.centi())),
                Mark::Absent | Mark::Exempt => None,
            });
            weighted_mean(counted).map(|avg| (subject.clone(), avg))
        })
        .collect()
}

/// The overall average: the subject averages (as rounded) weighted by the subject coefficients,
/// 1 for a subject without one.
pub fn overall_average(
    subject_averages: &BTreeMap<Subject, Average>,
    subject_coefficients: &BTreeMap<Subject, Coefficient>,
) -> Option<Average> {
    weighted_mean(subject_averages.iter().map(|(subject, avg)| {
        let weight = subject_coefficients
            .get(subject)
            .copied()
            .unwrap_or(Coefficient::ONE);
        (
            Fraction::new(u128::from(avg.centi_points_on_20), 1),
            weight.centi(),
        )
    }))
}
