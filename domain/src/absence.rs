//! Absences and lateness: recorded by the establishment's staff or a teacher of the class;
//! justified by a parent of the student with a reason; the justification accepted or refused by
//! staff. A refused justification may be followed by a new one.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::actor::Context;
use crate::error::DomainError;
use crate::ids::{AbsenceId, AccountId, ClassId, EstablishmentId};
use crate::policy::{self, require};
use crate::values::Reason;

/// The longest lateness recorded as such; beyond, it is an absence.
pub const LATENESS_MINUTES_MAX: u16 = 240;

/// An absence over a period, or a lateness of some minutes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum AbsenceKind {
    Absence { from: Timestamp, to: Timestamp },
    Lateness { at: Timestamp, minutes: u16 },
}

impl AbsenceKind {
    fn starts_at(&self) -> Timestamp {
        match self {
            AbsenceKind::Absence { from, .. } => *from,
            AbsenceKind::Lateness { at, .. } => *at,
        }
    }
}

/// What happened to an absence record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AbsenceEvent {
    Recorded {
        absence: AbsenceId,
        establishment: EstablishmentId,
        class: ClassId,
        student: AccountId,
        kind: AbsenceKind,
        note: Option<Reason>,
    },
    /// A parent gave a reason (the parent is the event's `by`).
    Justified {
        absence: AbsenceId,
        reason: Reason,
    },
    JustificationAccepted {
        absence: AbsenceId,
    },
    JustificationRefused {
        absence: AbsenceId,
        reason: Reason,
    },
}

/// Where an absence stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum AbsenceStatus {
    #[default]
    Unjustified,
    /// Justified, awaiting staff review.
    Justified,
    Accepted,
    Refused,
}

/// What the log says about one absence.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AbsenceState {
    pub id: Option<AbsenceId>,
    pub establishment: Option<EstablishmentId>,
    pub student: Option<AccountId>,
    pub status: AbsenceStatus,
}

/// What may be asked of an absence record.
#[derive(Clone, Debug, PartialEq)]
pub enum AbsenceCommand {
    Record {
        absence: AbsenceId,
        establishment: EstablishmentId,
        class: ClassId,
        student: AccountId,
        kind: AbsenceKind,
        note: Option<Reason>,
        /// Fact from the class read model: `student` is enrolled in `class`.
        student_in_class: bool,
    },
    Justify {
        absence: AbsenceId,
        reason: Reason,
    },
    Accept {
        absence: AbsenceId,
    },
    Refuse {
        absence: AbsenceId,
        reason: Reason,
    },
}

/// Decides a command against the absence's state.
pub fn decide(
    state: &AbsenceState,
    command: &AbsenceCommand,
    ctx: &Context,
) -> Result<Vec<AbsenceEvent>, DomainError> {
    let actor = &ctx.actor;
    match command {
        AbsenceCommand::Record {
            absence,
            establishment,
            class,
            student,
            kind,
            note,
            student_in_class,
        } => {
            require(
                policy::may_record_absence(actor, *establishment, *class),
                "only staff or a teacher of the class record absences",
            )?;
            if state.id.is_some() {
                return Err(DomainError::conflict("absence already recorded"));
            }
            if !student_in_class {
                return Err(DomainError::invalid("the student is not in the class"));
            }
            match kind {
                AbsenceKind::Absence { from, to } if from >= to => {
                    return Err(DomainError::invalid("an absence ends after it starts"));
                }
                AbsenceKind::Lateness { minutes, .. }
                    if *minutes == 0 || *minutes > LATENESS_MINUTES_MAX =>
                {
                    return Err(DomainError::invalid(format!(
                        "a lateness lasts 1 to {LATENESS_MINUTES_MAX} minutes"
                    )));
                }
                _ => {}
            }
            if kind.starts_at() > ctx.now {
                return Err(DomainError::invalid(
                    "an absence is recorded once it has begun",
                ));
            }
            Ok(vec![AbsenceEvent::Recorded {
                absence: *absence,
                establishment: *establishment,
                class: *class,
                student: *student,
                kind: *kind,
                note: note.clone(),
            }])
        }
        AbsenceCommand::Justify { absence, reason } => {
            let (_, student) = require_recorded(state)?;
            require(
                policy::may_justify_absence(actor, student),
                "only a parent of the student justifies an absence",
            )?;
            match state.status {
                AbsenceStatus::Unjustified | AbsenceStatus::Refused => {}
                AbsenceStatus::Justified => {
                    return Err(DomainError::conflict("a justification awaits review"));
                }
                AbsenceStatus::Accepted => {
                    return Err(DomainError::conflict("the absence is already justified"));
                }
            }
            Ok(vec![AbsenceEvent::Justified {
                absence: *absence,
                reason: reason.clone(),
            }])
        }
        AbsenceCommand::Accept { absence } => {
            require_review(state, ctx)?;
            Ok(vec![AbsenceEvent::JustificationAccepted {
                absence: *absence,
            }])
        }
        AbsenceCommand::Refuse { absence, reason } => {
            require_review(state, ctx)?;
            Ok(vec![AbsenceEvent::JustificationRefused {
                absence: *absence,
                reason: reason.clone(),
            }])
        }
    }
}

fn require_recorded(state: &AbsenceState) -> Result<(EstablishmentId, AccountId), DomainError> {
    match (state.establishment, state.student) {
        (Some(establishment), Some(student)) => Ok((establishment, student)),
        _ => Err(DomainError::not_found("no such absence")),
    }
}

fn require_review(state: &AbsenceState, ctx: &Context) -> Result<(), DomainError> {
    let (establishment, _) = require_recorded(state)?;
    require(
        policy::may_review_absence(&ctx.actor, establishment),
        "only staff of the establishment review justifications",
    )?;
    if state.status != AbsenceStatus::Justified {
        return Err(DomainError::conflict("no justification awaits review"));
    }
    Ok(())
}

/// Applies an event to the state.
pub fn evolve(mut state: AbsenceState, event: &AbsenceEvent) -> AbsenceState {
    match event {
        AbsenceEvent::Recorded {
            absence,
            establishment,
            student,
            ..
        } => {
            state.id = Some(*absence);
            state.establishment = Some(*establishment);
            state.student = Some(*student);
            state.status = AbsenceStatus::Unjustified;
        }
        AbsenceEvent::Justified { .. } => state.status = AbsenceStatus::Justified,
        AbsenceEvent::JustificationAccepted { .. } => state.status = AbsenceStatus::Accepted,
        AbsenceEvent::JustificationRefused { .. } => state.status = AbsenceStatus::Refused,
    }
    state
}

/// The stream of one absence record.
pub fn stream_id(id: AbsenceId) -> String {
    format!("absence-{id}")
}

/// The stream an absence event belongs to.
pub fn event_stream_id(event: &AbsenceEvent) -> String {
    match event {
        AbsenceEvent::Recorded { absence, .. }
        | AbsenceEvent::Justified { absence, .. }
        | AbsenceEvent::JustificationAccepted { absence }
        | AbsenceEvent::JustificationRefused { absence, .. } => stream_id(*absence),
    }
}
