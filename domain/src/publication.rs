//! Publication spaces and publications, with the moderation duties of the publication director.
//!
//! Two aggregates live here, each with its own stream:
//!
//! - A space (`space-<uuid>`): establishment news, a class space, or a space of personal
//!   contributions (a student's blog, a partner's space), which is marked as such because the
//!   director is not liable as author for what he did not know before it went online (loi 82-652
//!   art. 93-3). Each space says whether it is pre-moderated: a deliberate choice of the director,
//!   since validating content before publication makes him liable as its author.
//! - A publication (`publication-<uuid>`): drafted, then either published directly (space not
//!   pre-moderated) or submitted and approved by the director or a moderator of the space (which
//!   publishes it); amended with every version kept; withdrawn by the director with a ground.
//!   Users report a publication: the first report is when the director's knowledge starts, and
//!   the withdrawal records when the takedown happened.
//!
//! The publication director is the actor acting as `PublicationDirector` in the establishment; the
//! application layer grants that profile to the designated director (see `legal`). Commands about
//! a publication carry the current facts of its space (`SpaceFacts`, from the space's state),
//! since pre-moderation and moderators may change after the publication was drafted.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Context, Profile};
use crate::error::DomainError;
use crate::ids::{AccountId, ClassId, EstablishmentId, PublicationId, ReportId, SpaceId};
use crate::values::{Body, Reason, Title};

/// At most this many moderators per space.
pub const MODERATORS_MAX: usize = 50;
/// At most this many versions of one publication.
pub const VERSIONS_MAX: usize = 1_000;
/// At most this many reports kept per publication; later ones are refused as a conflict (the
/// director knows already).
pub const REPORTS_MAX: usize = 1_000;

/// What a space is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpaceKind {
    /// The establishment's news, written by its staff and direction.
    EstablishmentNews,
    /// A class's space, written by its teachers, and by its students when allowed.
    ClassSpace {
        class: ClassId,
        students_may_post: bool,
    },
    /// A student's blog: personal contributions.
    StudentBlog { owner: AccountId },
    /// A partner organisation's space: personal contributions.
    PartnerSpace { partner: AccountId },
}

impl SpaceKind {
    /// Whether the space holds personal contributions, which must be identified as such.
    pub fn is_personal_contribution(&self) -> bool {
        matches!(
            self,
            SpaceKind::StudentBlog { .. } | SpaceKind::PartnerSpace { .. }
        )
    }
}

/// The facts about a space a publication command needs, taken from the space's current state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpaceFacts {
    pub space: SpaceId,
    pub establishment: EstablishmentId,
    pub kind: SpaceKind,
    pub pre_moderated: bool,
    pub moderators: Vec<AccountId>,
}

/// Whether `actor`, acting under its current profile, may post in `space`: staff, the director
/// and admins in the establishment's news; the teachers of the class in a class space, its
/// students when the space allows it, and staff and the director; the owner alone in a student
/// blog; the partner alone in its partner space.
pub fn may_post(actor: &Actor, space: &SpaceFacts) -> bool {
    if !actor.acts_as_in(actor.acting_as, space.establishment) {
        return false;
    }
    let profile = actor.acting_as;
    match space.kind {
        SpaceKind::EstablishmentNews => matches!(
            profile,
            Profile::Staff | Profile::PublicationDirector | Profile::EstablishmentAdmin
        ),
        SpaceKind::ClassSpace {
            class,
            students_may_post,
        } => match profile {
            Profile::Teacher => actor.teaches_class(class),
            Profile::Student => students_may_post && actor.is_enrolled_in(class),
            Profile::Staff | Profile::PublicationDirector => true,
            _ => false,
        },
        SpaceKind::StudentBlog { owner } => profile == Profile::Student && actor.account == owner,
        SpaceKind::PartnerSpace { partner } => {
            profile == Profile::Partner && actor.account == partner
        }
    }
}

/// Whether `actor` acts as the publication director of `establishment`.
pub fn is_director(actor: &Actor, establishment: EstablishmentId) -> bool {
    actor.acts_as_in(Profile::PublicationDirector, establishment)
}

/// Whether `actor` may approve, reject or amend as a moderator in `space`: the director, or a
/// moderator the director appointed, who belongs to the establishment.
pub fn may_moderate(actor: &Actor, space: &SpaceFacts) -> bool {
    is_director(actor, space.establishment)
        || (space.moderators.contains(&actor.account)
            && actor.acts_as_in(actor.acting_as, space.establishment))
}

// ---------------------------------------------------------------------------------------------
// Spaces
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpaceState {
    pub space: Option<SpaceId>,
    pub establishment: Option<EstablishmentId>,
    pub kind: Option<SpaceKind>,
    pub title: Option<Title>,
    pub pre_moderated: bool,
    pub moderators: BTreeSet<AccountId>,
}

impl SpaceState {
    /// The facts a publication command needs, once the space exists.
    pub fn facts(&self) -> Option<SpaceFacts> {
        Some(SpaceFacts {
            space: self.space?,
            establishment: self.establishment?,
            kind: self.kind?,
            pre_moderated: self.pre_moderated,
            moderators: self.moderators.iter().copied().collect(),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SpaceCommand {
    /// Creates a space. `owner_profiles` are the profiles the blog owner or the partner holds in
    /// the establishment (empty for news and class spaces), filled by the application layer.
    CreateSpace {
        space: SpaceId,
        establishment: EstablishmentId,
        kind: SpaceKind,
        title: Title,
        pre_moderated: bool,
        owner_profiles: Vec<Profile>,
    },
    SetPreModeration {
        space: SpaceId,
        pre_moderated: bool,
    },
    AppointModerator {
        space: SpaceId,
        moderator: AccountId,
    },
    RemoveModerator {
        space: SpaceId,
        moderator: AccountId,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SpaceEvent {
    SpaceCreated {
        space: SpaceId,
        establishment: EstablishmentId,
        kind: SpaceKind,
        title: Title,
        pre_moderated: bool,
        /// Whether the space is marked as holding personal contributions.
        personal_contributions: bool,
    },
    PreModerationChanged {
        space: SpaceId,
        pre_moderated: bool,
    },
    ModeratorAppointed {
        space: SpaceId,
        moderator: AccountId,
    },
    ModeratorRemoved {
        space: SpaceId,
        moderator: AccountId,
    },
}

/// The stream of one space.
pub fn space_stream_id(space: SpaceId) -> String {
    format!("space-{space}")
}

/// The stream a space event belongs to.
pub fn space_event_stream_id(event: &SpaceEvent) -> String {
    match event {
        SpaceEvent::SpaceCreated { space, .. }
        | SpaceEvent::PreModerationChanged { space, .. }
        | SpaceEvent::ModeratorAppointed { space, .. }
        | SpaceEvent::ModeratorRemoved { space, .. } => space_stream_id(*space),
    }
}

fn may_create_space(actor: &Actor, establishment: EstablishmentId, kind: &SpaceKind) -> bool {
    if actor.acts_as_in(Profile::EstablishmentAdmin, establishment)
        || is_director(actor, establishment)
    {
        return true;
    }
    match kind {
        SpaceKind::ClassSpace { class, .. } => {
            actor.acts_as_in(Profile::Teacher, establishment) && actor.teaches_class(*class)
        }
        _ => false,
    }
}

fn existing_space(state: &SpaceState, space: SpaceId) -> Result<EstablishmentId, DomainError> {
    match (state.space, state.establishment) {
        (Some(known), Some(establishment)) if known == space => Ok(establishment),
        _ => Err(DomainError::not_found(format!(
            "space {space} does not exist"
        ))),
    }
}

pub fn decide_space(
    state: &SpaceState,
    command: &SpaceCommand,
    ctx: &Context,
) -> Result<Vec<SpaceEvent>, DomainError> {
    match command {
        SpaceCommand::CreateSpace {
            space,
            establishment,
            kind,
            title,
            pre_moderated,
            owner_profiles,
        } => {
            if state.space.is_some() {
                return Err(DomainError::conflict(format!(
                    "space {space} already exists"
                )));
            }
            if !may_create_space(&ctx.actor, *establishment, kind) {
                return Err(DomainError::forbidden(
                    "only an establishment admin, the publication director or (for their class) a teacher creates a space",
                ));
            }
            let owner_ok = match kind {
                SpaceKind::StudentBlog { .. } => owner_profiles.contains(&Profile::Student),
                SpaceKind::PartnerSpace { .. } => owner_profiles.contains(&Profile::Partner),
                SpaceKind::EstablishmentNews | SpaceKind::ClassSpace { .. } => true,
            };
            if !owner_ok {
                return Err(DomainError::invalid(
                    "a blog belongs to a student and a partner space to a partner of the establishment",
                ));
            }
            Ok(vec![SpaceEvent::SpaceCreated {
                space: *space,
                establishment: *establishment,
                kind: *kind,
                title: title.clone(),
                pre_moderated: *pre_moderated,
                personal_contributions: kind.is_personal_contribution(),
            }])
        }
        SpaceCommand::SetPreModeration {
            space,
            pre_moderated,
        } => {
            let establishment = existing_space(state, *space)?;
            if !is_director(&ctx.actor, establishment) {
                return Err(DomainError::forbidden(
                    "pre-moderation is the publication director's choice",
                ));
            }
            if state.pre_moderated == *pre_moderated {
                return Ok(Vec::new());
            }
            Ok(vec![SpaceEvent::PreModerationChanged {
                space: *space,
                pre_moderated: *pre_moderated,
            }])
        }
        SpaceCommand::AppointModerator { space, moderator } => {
            let establishment = existing_space(state, *space)?;
            if !is_director(&ctx.actor, establishment) {
                return Err(DomainError::forbidden(
                    "only the publication director appoints moderators",
                ));
            }
            if state.moderators.contains(moderator) {
                return Err(DomainError::conflict(format!(
                    "{moderator} already moderates this space"
                )));
            }
            if state.moderators.len() >= MODERATORS_MAX {
                return Err(DomainError::invalid(format!(
                    "a space has at most {MODERATORS_MAX} moderators"
                )));
            }
            Ok(vec![SpaceEvent::ModeratorAppointed {
                space: *space,
                moderator: *moderator,
            }])
        }
        SpaceCommand::RemoveModerator { space, moderator } => {
            let establishment = existing_space(state, *space)?;
            if !is_director(&ctx.actor, establishment) {
                return Err(DomainError::forbidden(
                    "only the publication director removes moderators",
                ));
            }
            if !state.moderators.contains(moderator) {
                return Err(DomainError::not_found(format!(
                    "{moderator} does not moderate this space"
                )));
            }
            Ok(vec![SpaceEvent::ModeratorRemoved {
                space: *space,
                moderator: *moderator,
            }])
        }
    }
}

pub fn evolve_space(mut state: SpaceState, event: &SpaceEvent) -> SpaceState {
    match event {
        SpaceEvent::SpaceCreated {
            space,
            establishment,
            kind,
            title,
            pre_moderated,
            ..
        } => {
            state.space = Some(*space);
            state.establishment = Some(*establishment);
            state.kind = Some(*kind);
            state.title = Some(title.clone());
            state.pre_moderated = *pre_moderated;
        }
        SpaceEvent::PreModerationChanged { pre_moderated, .. } => {
            state.pre_moderated = *pre_moderated;
        }
        SpaceEvent::ModeratorAppointed { moderator, .. } => {
            state.moderators.insert(*moderator);
        }
        SpaceEvent::ModeratorRemoved { moderator, .. } => {
            state.moderators.remove(moderator);
        }
    }
    state
}

// ---------------------------------------------------------------------------------------------
// Publications
// ---------------------------------------------------------------------------------------------

/// Where a publication is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublicationStatus {
    Draft,
    /// Waiting for the approval of the director or a moderator (pre-moderated space).
    Submitted,
    Published,
    Withdrawn,
}

/// The ground a director withdraws a publication on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WithdrawalGround {
    Illicit,
    Injurious,
    Defamatory,
    /// Any other ground; the withdrawal must then explain it.
    Other,
}

/// One published version: the first publication is version 1, each amendment adds one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub number: u32,
    pub title: Title,
    pub body: Body,
    pub at: Timestamp,
    pub by: AccountId,
    /// For an amendment, what was changed and why.
    pub note: Option<Reason>,
}

impl Version {
    /// The length of this version in characters (title and body), the measure a reply is held
    /// to.
    pub fn length_chars(&self) -> usize {
        self.title.as_str().chars().count() + self.body.as_str().chars().count()
    }
}

/// A report of a publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicationReport {
    pub report: ReportId,
    pub reporter: AccountId,
    pub at: Timestamp,
    pub reason: Option<Reason>,
}

/// The withdrawal of a publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withdrawal {
    pub ground: WithdrawalGround,
    pub note: Option<Reason>,
    pub at: Timestamp,
    pub by: AccountId,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublicationState {
    pub publication: Option<PublicationId>,
    pub space: Option<SpaceId>,
    pub establishment: Option<EstablishmentId>,
    pub author: Option<AccountId>,
    pub personal_contribution: bool,
    pub status: Option<PublicationStatus>,
    /// The text being prepared, before the first publication.
    pub draft: Option<(Title, Body)>,
    /// Published versions, oldest first.
    pub versions: Vec<Version>,
    /// Who approved it before publication, in a pre-moderated space.
    pub approved_by: Option<AccountId>,
    pub reports: Vec<PublicationReport>,
    pub withdrawal: Option<Withdrawal>,
}

impl PublicationState {
    /// The version online now (or last online, once withdrawn).
    pub fn current_version(&self) -> Option<&Version> {
        self.versions.last()
    }

    /// When the publication was first made available to the public (starts the right-of-reply
    /// window).
    pub fn made_public_at(&self) -> Option<Timestamp> {
        self.versions.first().map(|v| v.at)
    }

    pub fn is_public(&self) -> bool {
        self.status == Some(PublicationStatus::Published)
    }
}

/// When the director's knowledge of the publication's content starts: the first report.
pub fn director_knowledge_since(state: &PublicationState) -> Option<Timestamp> {
    state.reports.iter().map(|r| r.at).min()
}

/// How long the publication stayed online after the director knew of it: from the first report
/// to the withdrawal. `None` when there was no report or no withdrawal.
pub fn takedown_delay(state: &PublicationState) -> Option<SignedDuration> {
    let known = director_knowledge_since(state)?;
    let withdrawal = state.withdrawal.as_ref()?;
    Some(known.duration_until(withdrawal.at))
}

#[derive(Clone, Debug, PartialEq)]
pub enum PublicationCommand {
    Draft {
        publication: PublicationId,
        space: SpaceFacts,
        title: Title,
        body: Body,
    },
    EditDraft {
        publication: PublicationId,
        title: Title,
        body: Body,
    },
    /// The author asks for approval in a pre-moderated space.
    Submit {
        publication: PublicationId,
        space: SpaceFacts,
    },
    /// The director or a moderator approves a submitted publication, which publishes it.
    Approve {
        publication: PublicationId,
        space: SpaceFacts,
    },
    /// The director or a moderator sends a submitted publication back to its author.
    RejectSubmission {
        publication: PublicationId,
        space: SpaceFacts,
        reason: Reason,
    },
    /// The author publishes a draft in a space that is not pre-moderated.
    Publish {
        publication: PublicationId,
        space: SpaceFacts,
    },
    /// A new version of a published publication: by its author where the space is not
    /// pre-moderated, by the director or a moderator anywhere.
    Amend {
        publication: PublicationId,
        space: SpaceFacts,
        title: Title,
        body: Body,
        note: Option<Reason>,
    },
    Withdraw {
        publication: PublicationId,
        ground: WithdrawalGround,
        note: Option<Reason>,
    },
    Report {
        publication: PublicationId,
        report: ReportId,
        reason: Option<Reason>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PublicationEvent {
    Drafted {
        publication: PublicationId,
        space: SpaceId,
        establishment: EstablishmentId,
        author: AccountId,
        personal_contribution: bool,
        title: Title,
        body: Body,
    },
    DraftEdited {
        publication: PublicationId,
        title: Title,
        body: Body,
    },
    Submitted {
        publication: PublicationId,
    },
    /// The director or a moderator validated the content before publication (the director is
    /// then liable as author).
    Approved {
        publication: PublicationId,
        approved_by: AccountId,
        by_director: bool,
    },
    SubmissionRejected {
        publication: PublicationId,
        reason: Reason,
    },
    Published {
        publication: PublicationId,
        version: Version,
    },
    Amended {
        publication: PublicationId,
        version: Version,
    },
    Withdrawn {
        publication: PublicationId,
        ground: WithdrawalGround,
        note: Option<Reason>,
        withdrawn_at: Timestamp,
        withdrawn_by: AccountId,
        /// When the director's knowledge started (first report), if it was reported.
        director_knowledge_since: Option<Timestamp>,
    },
    Reported {
        publication: PublicationId,
        establishment: EstablishmentId,
        report: ReportId,
        reporter: AccountId,
        reason: Option<Reason>,
        reported_at: Timestamp,
        /// When the director's knowledge started: this report's time if it is the first.
        director_knowledge_since: Timestamp,
    },
}

/// The stream of one publication.
pub fn stream_id(publication: PublicationId) -> String {
    format!("publication-{publication}")
}

/// The stream a publication event belongs to.
pub fn event_stream_id(event: &PublicationEvent) -> String {
    match event {
        PublicationEvent::Drafted { publication, .. }
        | PublicationEvent::DraftEdited { publication, .. }
        | PublicationEvent::Submitted { publication }
        | PublicationEvent::Approved { publication, .. }
        | PublicationEvent::SubmissionRejected { publication, .. }
        | PublicationEvent::Published { publication, .. }
        | PublicationEvent::Amended { publication, .. }
        | PublicationEvent::Withdrawn { publication, .. }
        | PublicationEvent::Reported { publication, .. } => stream_id(*publication),
    }
}

/// The existing publication's status, or `NotFound`.
fn existing(
    state: &PublicationState,
    publication: PublicationId,
) -> Result<PublicationStatus, DomainError> {
    match (state.publication, state.status) {
        (Some(known), Some(status)) if known == publication => Ok(status),
        _ => Err(DomainError::not_found(format!(
            "publication {publication} does not exist"
        ))),
    }
}

fn ensure_status(
    status: PublicationStatus,
    expected: PublicationStatus,
    action: &str,
) -> Result<(), DomainError> {
    if status != expected {
        return Err(DomainError::conflict(format!(
            "cannot {action} a publication that is {status:?}, it must be {expected:?}"
        )));
    }
    Ok(())
}

fn ensure_same_space(state: &PublicationState, space: &SpaceFacts) -> Result<(), DomainError> {
    if state.space != Some(space.space) || state.establishment != Some(space.establishment) {
        return Err(DomainError::invalid(
            "the space facts do not describe this publication's space",
        ));
    }
    Ok(())
}

fn ensure_author(state: &PublicationState, ctx: &Context, action: &str) -> Result<(), DomainError> {
    if state.author != Some(ctx.actor.account) {
        return Err(DomainError::forbidden(format!(
            "only the author may {action} this publication"
        )));
    }
    Ok(())
}

fn next_version_number(state: &PublicationState) -> Result<u32, DomainError> {
    if state.versions.len() >= VERSIONS_MAX {
        return Err(DomainError::conflict(format!(
            "a publication has at most {VERSIONS_MAX} versions"
        )));
    }
    u32::try_from(state.versions.len() + 1).map_err(|_| DomainError::invalid("too many versions"))
}

fn draft_text(state: &PublicationState) -> Result<(Title, Body), DomainError> {
    state
        .draft
        .clone()
        .ok_or_else(|| DomainError::conflict("the publication has no draft text"))
}

pub fn decide(
    state: &PublicationState,
    command: &PublicationCommand,
    ctx: &Context,
) -> Result<Vec<PublicationEvent>, DomainError> {
    let me = ctx.actor.account;
    match command {
        PublicationCommand::Draft {
            publication,
            space,
            title,
            body,
        } => {
            if state.publication.is_some() {
                return Err(DomainError::conflict(format!(
                    "publication {publication} already exists"
                )));
            }
            if !may_post(&ctx.actor, space) {
                return Err(DomainError::forbidden(format!(
                    "a {} may not post in this space",
                    ctx.actor.acting_as.as_str()
                )));
            }
            Ok(vec![PublicationEvent::Drafted {
                publication: *publication,
                space: space.space,
                establishment: space.establishment,
                author: me,
                personal_contribution: space.kind.is_personal_contribution(),
                title: title.clone(),
                body: body.clone(),
            }])
        }
        PublicationCommand::EditDraft {
            publication,
            title,
            body,
        } => {
            let status = existing(state, *publication)?;
            ensure_author(state, ctx, "edit")?;
            ensure_status(status, PublicationStatus::Draft, "edit the draft of")?;
            Ok(vec![PublicationEvent::DraftEdited {
                publication: *publication,
                title: title.clone(),
                body: body.clone(),
            }])
        }
        PublicationCommand::Submit { publication, space } => {
            let status = existing(state, *publication)?;
            ensure_same_space(state, space)?;
            ensure_author(state, ctx, "submit")?;
            ensure_status(status, PublicationStatus::Draft, "submit")?;
            if !space.pre_moderated {
                return Err(DomainError::conflict(
                    "this space is not pre-moderated: publish the draft directly",
                ));
            }
            if !may_post(&ctx.actor, space) {
                return Err(DomainError::forbidden(
                    "the author may no longer post in this space",
                ));
            }
            Ok(vec![PublicationEvent::Submitted {
                publication: *publication,
            }])
        }
        PublicationCommand::Approve { publication, space } => {
            let status = existing(state, *publication)?;
            ensure_same_space(state, space)?;
            if !may_moderate(&ctx.actor, space) {
                return Err(DomainError::forbidden(
                    "only the publication director or a moderator of the space approves",
                ));
            }
            ensure_status(status, PublicationStatus::Submitted, "approve")?;
            let (title, body) = draft_text(state)?;
            Ok(vec![
                PublicationEvent::Approved {
                    publication: *publication,
                    approved_by: me,
                    by_director: is_director(&ctx.actor, space.establishment),
                },
                PublicationEvent::Published {
                    publication: *publication,
                    version: Version {
                        number: next_version_number(state)?,
                        title,
                        body,
                        at: ctx.now,
                        by: me,
                        note: None,
                    },
                },
            ])
        }
        PublicationCommand::RejectSubmission {
            publication,
            space,
            reason,
        } => {
            let status = existing(state, *publication)?;
            ensure_same_space(state, space)?;
            if !may_moderate(&ctx.actor, space) {
                return Err(DomainError::forbidden(
                    "only the publication director or a moderator of the space rejects a submission",
                ));
            }
            ensure_status(status, PublicationStatus::Submitted, "reject")?;
            Ok(vec![PublicationEvent::SubmissionRejected {
                publication: *publication,
                reason: reason.clone(),
            }])
        }
        PublicationCommand::Publish { publication, space } => {
            let status = existing(state, *publication)?;
            ensure_same_space(state, space)?;
            ensure_author(state, ctx, "publish")?;
            ensure_status(status, PublicationStatus::Draft, "publish")?;
            if space.pre_moderated {
                return Err(DomainError::conflict(
                    "this space is pre-moderated: submit the draft for approval",
                ));
            }
            if !may_post(&ctx.actor, space) {
                return Err(DomainError::forbidden(
                    "the author may no longer post in this space",
                ));
            }
            let (title, body) = draft_text(state)?;
            Ok(vec![PublicationEvent::Published {
                publication: *publication,
                version: Version {
                    number: next_version_number(state)?,
                    title,
                    body,
                    at: ctx.now,
                    by: me,
                    note: None,
                },
            }])
        }
        PublicationCommand::Amend {
            publication,
            space,
            title,
            body,
            note,
        } => {
            let status = existing(state, *publication)?;
            ensure_same_space(state, space)?;
            let as_moderator = may_moderate(&ctx.actor, space);
            let as_author = state.author == Some(me) && may_post(&ctx.actor, space);
            if !as_moderator {
                if !as_author {
                    return Err(DomainError::forbidden(
                        "only the author, the publication director or a moderator amends a publication",
                    ));
                }
                if space.pre_moderated {
                    return Err(DomainError::forbidden(
                        "in a pre-moderated space, amendments are made by the director or a moderator",
                    ));
                }
            }
            ensure_status(status, PublicationStatus::Published, "amend")?;
            if let Some(current) = state.current_version()
                && current.title == *title
                && current.body == *body
            {
                return Err(DomainError::conflict(
                    "the amendment changes nothing in the current version",
                ));
            }
            Ok(vec![PublicationEvent::Amended {
                publication: *publication,
                version: Version {
                    number: next_version_number(state)?,
                    title: title.clone(),
                    body: body.clone(),
                    at: ctx.now,
                    by: me,
                    note: note.clone(),
                },
            }])
        }
        PublicationCommand::Withdraw {
            publication,
            ground,
            note,
        } => {
            let status = existing(state, *publication)?;
            let establishment = state
                .establishment
                .ok_or_else(|| DomainError::not_found("the publication has no establishment"))?;
            if !is_director(&ctx.actor, establishment) {
                return Err(DomainError::forbidden(
                    "only the publication director withdraws a publication",
                ));
            }
            ensure_status(status, PublicationStatus::Published, "withdraw")?;
            if *ground == WithdrawalGround::Other && note.is_none() {
                return Err(DomainError::invalid(
                    "a withdrawal on another ground must say which",
                ));
            }
            Ok(vec![PublicationEvent::Withdrawn {
                publication: *publication,
                ground: *ground,
                note: note.clone(),
                withdrawn_at: ctx.now,
                withdrawn_by: me,
                director_knowledge_since: director_knowledge_since(state),
            }])
        }
        PublicationCommand::Report {
            publication,
            report,
            reason,
        } => {
            let status = existing(state, *publication)?;
            let establishment = state
                .establishment
                .ok_or_else(|| DomainError::not_found("the publication has no establishment"))?;
            if !ctx.actor.belongs_to(establishment) {
                return Err(DomainError::forbidden(
                    "only a member of the establishment reports its publications",
                ));
            }
            ensure_status(status, PublicationStatus::Published, "report")?;
            if state.reports.iter().any(|r| r.report == *report) {
                return Err(DomainError::conflict(format!(
                    "report {report} already exists"
                )));
            }
            if state.reports.iter().any(|r| r.reporter == me) {
                return Err(DomainError::conflict(
                    "this publication has already been reported by this person",
                ));
            }
            if state.reports.len() >= REPORTS_MAX {
                return Err(DomainError::conflict(
                    "this publication has reached its maximum number of reports",
                ));
            }
            Ok(vec![PublicationEvent::Reported {
                publication: *publication,
                establishment,
                report: *report,
                reporter: me,
                reason: reason.clone(),
                reported_at: ctx.now,
                director_knowledge_since: director_knowledge_since(state).unwrap_or(ctx.now),
            }])
        }
    }
}

pub fn evolve(mut state: PublicationState, event: &PublicationEvent) -> PublicationState {
    match event {
        PublicationEvent::Drafted {
            publication,
            space,
            establishment,
            author,
            personal_contribution,
            title,
            body,
        } => {
            state.publication = Some(*publication);
            state.space = Some(*space);
            state.establishment = Some(*establishment);
            state.author = Some(*author);
            state.personal_contribution = *personal_contribution;
            state.status = Some(PublicationStatus::Draft);
            state.draft = Some((title.clone(), body.clone()));
        }
        PublicationEvent::DraftEdited { title, body, .. } => {
            state.draft = Some((title.clone(), body.clone()));
        }
        PublicationEvent::Submitted { .. } => state.status = Some(PublicationStatus::Submitted),
        PublicationEvent::Approved { approved_by, .. } => state.approved_by = Some(*approved_by),
        PublicationEvent::SubmissionRejected { .. } => {
            state.status = Some(PublicationStatus::Draft);
        }
        PublicationEvent::Published { version, .. } => {
            state.status = Some(PublicationStatus::Published);
            state.draft = None;
            state.versions.push(version.clone());
        }
        PublicationEvent::Amended { version, .. } => state.versions.push(version.clone()),
        PublicationEvent::Withdrawn {
            ground,
            note,
            withdrawn_at,
            withdrawn_by,
            ..
        } => {
            state.status = Some(PublicationStatus::Withdrawn);
            state.withdrawal = Some(Withdrawal {
                ground: *ground,
                note: note.clone(),
                at: *withdrawn_at,
                by: *withdrawn_by,
            });
        }
        PublicationEvent::Reported {
            report,
            reporter,
            reason,
            reported_at,
            ..
        } => state.reports.push(PublicationReport {
            report: *report,
            reporter: *reporter,
            at: *reported_at,
            reason: reason.clone(),
        }),
    }
    state
}
