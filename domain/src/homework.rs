//! Homework: a teacher of a class publishes an assignment to the class or to one of its work
//! groups (subject, title, instructions, due time), amends it, cancels it. Students hand in work
//! alone or as their work group: a text and attachment descriptors. Each resubmission is a new
//! version (all are kept in the log); work handed in after the due time is accepted and marked
//! late; nobody hands in work in someone else's name.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::actor::Context;
use crate::error::DomainError;
use crate::ids::{AccountId, AssignmentId, ClassId, EstablishmentId, GroupId, SubmissionId};
use crate::policy::{self, require};
use crate::values::{Attachment, Body, Reason, Subject, Title};

/// The most attachments one submission version carries.
pub const ATTACHMENTS_MAX: usize = 20;

/// Who hands in a submission: one student, or a work group.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Submitter {
    Student(AccountId),
    Group(GroupId),
}

/// What happened to an assignment and its submissions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HomeworkEvent {
    Published {
        assignment: AssignmentId,
        establishment: EstablishmentId,
        class: ClassId,
        /// The work group it is for, or the whole class.
        group: Option<GroupId>,
        teacher: AccountId,
        subject: Subject,
        title: Title,
        instructions: Body,
        due_at: Timestamp,
    },
    /// Only the fields that changed are set.
    Amended {
        assignment: AssignmentId,
        title: Option<Title>,
        instructions: Option<Body>,
        due_at: Option<Timestamp>,
    },
    Cancelled {
        assignment: AssignmentId,
        reason: Option<Reason>,
    },
    /// One version of a submission: version 1 is the first hand-in, each resubmission adds one.
    SubmissionReceived {
        assignment: AssignmentId,
        submission: SubmissionId,
        submitter: Submitter,
        /// The student who pressed the button (for a group, one of its members).
        handed_in_by: AccountId,
        version: u32,
        text: Option<Body>,
        attachments: Vec<Attachment>,
        /// Handed in after the due time in force at that moment.
        late: bool,
    },
}

/// One submission as the assignment knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct SubmissionRecord {
    pub id: SubmissionId,
    pub versions: u32,
    pub late: bool,
}

/// What the log says about one assignment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HomeworkState {
    pub id: Option<AssignmentId>,
    pub establishment: Option<EstablishmentId>,
    pub class: Option<ClassId>,
    pub group: Option<GroupId>,
    pub subject: Option<Subject>,
    pub due_at: Option<Timestamp>,
    pub cancelled: bool,
    pub submissions: BTreeMap<Submitter, SubmissionRecord>,
}

/// What may be asked of an assignment.
#[derive(Clone, Debug, PartialEq)]
pub enum HomeworkCommand {
    Publish {
        assignment: AssignmentId,
        establishment: EstablishmentId,
        class: ClassId,
        group: Option<GroupId>,
        subject: Subject,
        title: Title,
        instructions: Body,
        due_at: Timestamp,
        /// Fact from the class read model: `group`, if set, is a work group of `class`.
        group_in_class: bool,
    },
    Amend {
        assignment: AssignmentId,
        title: Option<Title>,
        instructions: Option<Body>,
        due_at: Option<Timestamp>,
    },
    Cancel {
        assignment: AssignmentId,
        reason: Option<Reason>,
    },
    Submit {
        assignment: AssignmentId,
        /// A new id for a first hand-in; the existing one for a resubmission.
        submission: SubmissionId,
        submitter: Submitter,
        text: Option<Body>,
        attachments: Vec<Attachment>,
        /// Fact from the class read model: for a group submission, the group belongs to the
        /// assignment's class.
        group_in_class: bool,
    },
}

/// Decides a command against the assignment's state.
pub fn decide(
    state: &HomeworkState,
    command: &HomeworkCommand,
    ctx: &Context,
) -> Result<Vec<HomeworkEvent>, DomainError> {
    let actor = &ctx.actor;
    match command {
        HomeworkCommand::Publish {
            assignment,
            establishment,
            class,
            group,
            subject,
            title,
            instructions,
            due_at,
            group_in_class,
        } => {
            require(
                policy::may_teach(actor, *establishment, *class),
                "only a teacher of the class publishes homework to it",
            )?;
            require(
                actor.teaches_subject(*class, subject),
                "the teacher does not teach this subject in this class",
            )?;
            if state.id.is_some() {
                return Err(DomainError::conflict("assignment already published"));
            }
            if group.is_some() && !group_in_class {
                return Err(DomainError::invalid(
                    "the group is not a work group of the class",
                ));
            }
            if *due_at <= ctx.now {
                return Err(DomainError::invalid("the due time must be in the future"));
            }
            Ok(vec![HomeworkEvent::Published {
                assignment: *assignment,
                establishment: *establishment,
                class: *class,
                group: *group,
                teacher: actor.account,
                subject: subject.clone(),
                title: title.clone(),
                instructions: instructions.clone(),
                due_at: *due_at,
            }])
        }
        HomeworkCommand::Amend {
            assignment,
            title,
            instructions,
            due_at,
        } => {
            require_teacher_of_assignment(state, ctx)?;
            require_live(state)?;
            if title.is_none() && instructions.is_none() && due_at.is_none() {
                return Err(DomainError::invalid("an amendment changes something"));
            }
            if let Some(due) = due_at
                && *due <= ctx.now
            {
                return Err(DomainError::invalid("the due time must be in the future"));
            }
            Ok(vec![HomeworkEvent::Amended {
                assignment: *assignment,
                title: title.clone(),
                instructions: instructions.clone(),
                due_at: *due_at,
            }])
        }
        HomeworkCommand::Cancel { assignment, reason } => {
            require_teacher_of_assignment(state, ctx)?;
            require_live(state)?;
            Ok(vec![HomeworkEvent::Cancelled {
                assignment: *assignment,
                reason: reason.clone(),
            }])
        }
        HomeworkCommand::Submit {
            assignment,
            submission,
            submitter,
            text,
            attachments,
            group_in_class,
        } => {
            let (Some(class), Some(due_at)) = (state.class, state.due_at) else {
                return Err(DomainError::not_found("no such assignment"));
            };
            require_live(state)?;
            let (student, group) = match submitter {
                Submitter::Student(s) => (Some(*s), None),
                Submitter::Group(g) => (None, Some(*g)),
            };
            require(
                policy::may_submit_as(actor, student, group),
                "work is handed in only in one's own name or one's own group's",
            )?;
            require(
                actor.is_enrolled_in(class),
                "only students of the class hand in work",
            )?;
            if let Some(target) = state.group {
                require(
                    actor.is_member_of(target) && group.is_none_or(|g| g == target),
                    "this assignment is for another work group",
                )?;
            }
            if group.is_some() && !group_in_class {
                return Err(DomainError::invalid(
                    "the group is not a work group of the class",
                ));
            }
            if text.is_none() && attachments.is_empty() {
                return Err(DomainError::invalid(
                    "a submission has a text or an attachment",
                ));
            }
            if attachments.len() > ATTACHMENTS_MAX {
                return Err(DomainError::invalid(format!(
                    "a submission has at most {ATTACHMENTS_MAX} attachments"
                )));
            }
            let version = match state.submissions.get(submitter) {
                Some(existing) if existing.id != *submission => {
                    return Err(DomainError::conflict(format!(
                        "a resubmission continues submission {}",
                        existing.id
                    )));
                }
                Some(existing) => existing.versions + 1,
                None => {
                    if state.submissions.values().any(|s| s.id == *submission) {
                        return Err(DomainError::conflict("submission id already used"));
                    }
                    1
                }
            };
            Ok(vec![HomeworkEvent::SubmissionReceived {
                assignment: *assignment,
                submission: *submission,
                submitter: *submitter,
                handed_in_by: actor.account,
                version,
                text: text.clone(),
                attachments: attachments.clone(),
                late: ctx.now > due_at,
            }])
        }
    }
}

fn require_teacher_of_assignment(state: &HomeworkState, ctx: &Context) -> Result<(), DomainError> {
    let (Some(establishment), Some(class)) = (state.establishment, state.class) else {
        return Err(DomainError::not_found("no such assignment"));
    };
    require(
        policy::may_teach(&ctx.actor, establishment, class),
        "only a teacher of the class changes its homework",
    )
}

fn require_live(state: &HomeworkState) -> Result<(), DomainError> {
    if state.cancelled {
        return Err(DomainError::conflict("the assignment is cancelled"));
    }
    Ok(())
}

/// Applies an event to the state.
pub fn evolve(mut state: HomeworkState, event: &HomeworkEvent) -> HomeworkState {
    match event {
        HomeworkEvent::Published {
            assignment,
            establishment,
            class,
            group,
            subject,
            due_at,
            ..
        } => {
            state.id = Some(*assignment);
            state.establishment = Some(*establishment);
            state.class = Some(*class);
            state.group = *group;
            state.subject = Some(subject.clone());
            state.due_at = Some(*due_at);
        }
        HomeworkEvent::Amended { due_at, .. } => {
            if let Some(due) = due_at {
                state.due_at = Some(*due);
            }
        }
        HomeworkEvent::Cancelled { .. } => state.cancelled = true,
        HomeworkEvent::SubmissionReceived {
            submission,
            submitter,
            version,
            late,
            ..
        } => {
            state.submissions.insert(
                *submitter,
                SubmissionRecord {
                    id: *submission,
                    versions: *version,
                    late: *late,
                },
            );
        }
    }
    state
}

/// The stream of one assignment (with its submissions).
pub fn stream_id(id: AssignmentId) -> String {
    format!("assignment-{id}")
}

/// The stream a homework event belongs to.
pub fn event_stream_id(event: &HomeworkEvent) -> String {
    match event {
        HomeworkEvent::Published { assignment, .. }
        | HomeworkEvent::Amended { assignment, .. }
        | HomeworkEvent::Cancelled { assignment, .. }
        | HomeworkEvent::SubmissionReceived { assignment, .. } => stream_id(*assignment),
    }
}
