//! The right-of-reply register and the legal notices.
//!
//! The register is for the establishment's publication director only
//! (`domain::publication::is_director`, which holds only for the designated director): every
//! request with its reception, its deadline, its status and the time left or how long overdue,
//! computed by the domain at the server clock's `now` (the app's `Clock`), the earliest
//! deadline first. A request "draws near" its deadline when less than
//! [`DEADLINE_NEAR_SECONDS`] are left.
//!
//! The legal notices are public to every logged-in user (the law requires them to be easy to
//! reach); the designation history and the review state are the director's.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use domain::publication::is_director;
use domain::reply::{LapseCause as DomainLapse, NoticeIntent, RefusalGround as DomainGround};
use projections::models::register::{self as model, RegisterLine, Status as ModelStatus};

use super::{Reads, connection, gid, key_time, names, store_error, ts};
use crate::errors::ApiError;
use crate::schema::mutations::replies::{Intent, LapseCause, RefusalGround};

const PAGE_DEFAULT: i32 = 20;

/// A pending request "draws near" its deadline below this many seconds left (a day).
pub const DEADLINE_NEAR_SECONDS: i64 = 24 * 3600;

/// Where a request stands at the time of the query.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReplyStatus {
    Pending,
    PublishedOnTime,
    PublishedLate,
    Refused,
    Lapsed,
}

/// Who asked.
#[derive(SimpleObject, Clone, Debug)]
pub struct RequesterView {
    /// For an account holder.
    pub account_id: Option<ID>,
    /// For a person outside the service, as recorded from their letter.
    pub identity: Option<String>,
    pub postal_address: Option<String>,
}

/// The director's notice to the requester.
#[derive(SimpleObject, Clone, Debug)]
pub struct NoticeView {
    pub intent: Intent,
    /// With `WILL_REFUSE`.
    pub ground: Option<RefusalGround>,
    pub message: Option<String>,
    pub at: String,
    pub late: bool,
}

/// One line of the register.
#[derive(SimpleObject, Clone, Debug)]
pub struct RegisterEntry {
    pub request_id: ID,
    pub publication_id: ID,
    pub establishment_id: ID,
    pub requester: RequesterView,
    /// Who recorded the letter, when it came outside the service.
    pub recorded_by_id: Option<ID>,
    pub received_at: String,
    /// 24:00 Paris of the third calendar day after reception.
    pub due_at: String,
    pub contested_version: u32,
    pub author_name: Option<String>,
    pub message_reference: String,
    pub contested_passages: Vec<String>,
    pub reply_text: String,
    pub addressed_to_director: bool,
    pub in_time: bool,
    pub reply_chars: u64,
    pub reply_lines: u64,
    pub contested_chars: u64,
    pub reply_within_limits: bool,
    pub status: ReplyStatus,
    /// When the reply was published, refused or declared lapsed.
    pub decided_at: Option<String>,
    /// For a late publication, by how much.
    pub late_by_seconds: Option<i64>,
    /// For a refusal.
    pub refusal_ground: Option<RefusalGround>,
    pub refusal_note: Option<String>,
    /// Whether the decision came after the deadline.
    pub decided_late: bool,
    pub lapse_cause: Option<LapseCause>,
    pub notice: Option<NoticeView>,
    /// While pending and on time: seconds left before the deadline.
    pub time_left_seconds: Option<i64>,
    /// While pending past the deadline: seconds since it passed.
    pub overdue_by_seconds: Option<i64>,
    /// Pending with less than a day left.
    pub deadline_near: bool,
    /// The requester has still not been told what will be done, past the deadline.
    pub notice_overdue: bool,
    pub offline_at: Option<String>,
}

pub fn refusal_ground(g: DomainGround) -> RefusalGround {
    match g {
        DomainGround::ContraryToLawPublicOrderOrMorals => {
            RefusalGround::ContraryToLawPublicOrderOrMorals
        }
        DomainGround::HarmsThirdParties => RefusalGround::HarmsThirdParties,
        DomainGround::AttacksAuthorsHonour => RefusalGround::AttacksAuthorsHonour,
        DomainGround::NoLinkToMessage => RefusalGround::NoLinkToMessage,
        DomainGround::OutOfTime => RefusalGround::OutOfTime,
        DomainGround::NotAddressedToDirector => RefusalGround::NotAddressedToDirector,
        DomainGround::ReplyTooLong => RefusalGround::ReplyTooLong,
        DomainGround::Other => RefusalGround::Other,
    }
}

fn lapse_cause(c: DomainLapse) -> LapseCause {
    match c {
        DomainLapse::MessageWithdrawn => LapseCause::MessageWithdrawn,
        DomainLapse::MessageCorrected => LapseCause::MessageCorrected,
    }
}

/// The status of a line, as the API names it.
pub fn status_of(line: &RegisterLine) -> ReplyStatus {
    match line.status {
        ModelStatus::Pending => ReplyStatus::Pending,
        ModelStatus::PublishedOnTime { .. } => ReplyStatus::PublishedOnTime,
        ModelStatus::PublishedLate { .. } => ReplyStatus::PublishedLate,
        ModelStatus::Refused { .. } => ReplyStatus::Refused,
        ModelStatus::Lapsed { .. } => ReplyStatus::Lapsed,
    }
}

/// Whether a pending line has less than a day left (and is not overdue yet).
pub fn deadline_near(line: &RegisterLine) -> bool {
    line.time_left_secs
        .is_some_and(|left| left < DEADLINE_NEAR_SECONDS)
}

impl From<RegisterLine> for RegisterEntry {
    fn from(line: RegisterLine) -> Self {
        let status = status_of(&line);
        let near = deadline_near(&line);
        let r = line.received;
        let (requester, recorded_by) = match r.requester {
            domain::reply::Requester::Account { account } => (
                RequesterView {
                    account_id: Some(gid(account)),
                    identity: None,
                    postal_address: None,
                },
                r.recorded_by,
            ),
            domain::reply::Requester::Outside {
                identity,
                postal_address,
            } => (
                RequesterView {
                    account_id: None,
                    identity: Some(identity.to_string()),
                    postal_address: postal_address.map(|a| a.to_string()),
                },
                r.recorded_by,
            ),
        };
        let mut entry = RegisterEntry {
            request_id: gid(r.request),
            publication_id: gid(r.publication),
            establishment_id: gid(r.establishment),
            requester,
            recorded_by_id: recorded_by.map(gid),
            received_at: ts(r.received_at),
            due_at: ts(r.due_at),
            contested_version: r.contested_version,
            author_name: r.contents.author_name.map(|n| n.to_string()),
            message_reference: r.contents.message_reference.to_string(),
            contested_passages: r
                .contents
                .contested_passages
                .as_slice()
                .iter()
                .map(|p| p.to_string())
                .collect(),
            reply_text: r.contents.reply_text.to_string(),
            addressed_to_director: r.addressed_to_director,
            in_time: r.in_time,
            reply_chars: r.reply_chars as u64,
            reply_lines: r.reply_lines as u64,
            contested_chars: r.contested_chars as u64,
            reply_within_limits: r.reply_within_limits,
            status,
            decided_at: None,
            late_by_seconds: None,
            refusal_ground: None,
            refusal_note: None,
            decided_late: false,
            lapse_cause: None,
            notice: line.notice.map(|n| {
                let (intent, ground) = match n.intent {
                    NoticeIntent::WillPublish => (Intent::WillPublish, None),
                    NoticeIntent::WillRefuse { ground } => {
                        (Intent::WillRefuse, Some(refusal_ground(ground)))
                    }
                    NoticeIntent::MessageWithdrawnOrCorrected => {
                        (Intent::MessageWithdrawnOrCorrected, None)
                    }
                };
                NoticeView {
                    intent,
                    ground,
                    message: n.message,
                    at: ts(n.at),
                    late: n.late,
                }
            }),
            time_left_seconds: line.time_left_secs,
            overdue_by_seconds: line.overdue_by_secs,
            deadline_near: near,
            notice_overdue: line.notice_overdue,
            offline_at: line.offline_at.map(ts),
        };
        match line.status {
            ModelStatus::Pending => {}
            ModelStatus::PublishedOnTime { at } => entry.decided_at = Some(ts(at)),
            ModelStatus::PublishedLate { at, late_by_secs } => {
                entry.decided_at = Some(ts(at));
                entry.late_by_seconds = Some(late_by_secs);
                entry.decided_late = true;
            }
            ModelStatus::Refused {
                ground,
                note,
                at,
                late,
            } => {
                entry.decided_at = Some(ts(at));
                entry.refusal_ground = Some(refusal_ground(ground));
                entry.refusal_note = note;
                entry.decided_late = late;
            }
            ModelStatus::Lapsed {
                cause, declared_at, ..
            } => {
                entry.decided_at = Some(ts(declared_at));
                entry.lapse_cause = Some(lapse_cause(cause));
            }
        }
        entry
    }
}

/// A designation of the publication director.
#[derive(SimpleObject, Clone, Debug)]
pub struct DesignationView {
    pub id: ID,
    pub director_id: ID,
    pub director_name: String,
    pub co_director_id: Option<ID>,
    pub co_director_name: Option<String>,
    /// `2026-09-01`.
    pub effective_from: String,
}

impl From<domain::legal::Designation> for DesignationView {
    fn from(d: domain::legal::Designation) -> Self {
        DesignationView {
            id: gid(d.designation),
            director_id: gid(d.director.account),
            director_name: d.director.name.to_string(),
            co_director_id: d.co_director.as_ref().map(|c| gid(c.account)),
            co_director_name: d.co_director.map(|c| c.name.to_string()),
            effective_from: d.effective_from.to_string(),
        }
    }
}

/// One version of the legal notices (LCEN art. 6-III).
#[derive(SimpleObject, Clone, Debug)]
pub struct LegalNoticesView {
    pub id: ID,
    pub version: u32,
    pub published_on: String,
    pub publisher_name: String,
    pub registered_office: String,
    pub publisher_phone: String,
    pub director_name: String,
    pub co_director_name: Option<String>,
    pub host_name: String,
    pub host_address: String,
    pub host_phone: String,
}

impl From<domain::legal::LegalNoticeVersion> for LegalNoticesView {
    fn from(v: domain::legal::LegalNoticeVersion) -> Self {
        let f = v.fields;
        LegalNoticesView {
            id: gid(v.notice),
            version: v.version,
            published_on: v.published_on.to_string(),
            publisher_name: f.publisher_name.to_string(),
            registered_office: f.registered_office.to_string(),
            publisher_phone: f.publisher_phone.as_str().to_owned(),
            director_name: f.director_name.to_string(),
            co_director_name: f.co_director_name.map(|n| n.to_string()),
            host_name: f.host_name.to_string(),
            host_address: f.host_address.to_string(),
            host_phone: f.host_phone.as_str().to_owned(),
        }
    }
}

/// An establishment's legal identity.
#[derive(SimpleObject, Clone, Debug)]
pub struct LegalIdentityView {
    pub establishment_id: ID,
    /// The notices online now, for everyone.
    pub current: Option<LegalNoticesView>,
    /// The director in force today.
    pub director: Option<DesignationView>,
    /// For the director: every version of the notices, oldest first.
    pub history: Option<Vec<LegalNoticesView>>,
    /// For the director: every designation, oldest first.
    pub designations: Option<Vec<DesignationView>>,
    /// For the director: whether the notices must be published again or checked this school
    /// year.
    pub needs_review: Option<bool>,
}

#[derive(Default)]
pub struct RegisterQuery;

#[Object]
impl RegisterQuery {
    /// The right-of-reply register of an establishment (the session's by default), the
    /// earliest deadline first, as of the server's clock: for its publication director.
    /// `status` keeps only the lines in that status; `overdueOnly` only pending ones past the
    /// deadline.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn reply_register(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
        status: Option<ReplyStatus>,
        overdue_only: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, RegisterEntry>> {
        let reads = Reads::of(ctx, read_after)?;
        let establishment = reads.establishment(establishment_id.as_ref())?;
        if !is_director(&reads.actor, establishment) {
            return Err(ApiError::Forbidden(
                "the register is for the establishment's publication director".into(),
            )
            .into());
        }
        let now = reads.now();
        let view = reads.view(names::REGISTER).await?;
        let lines = if overdue_only.unwrap_or(false) {
            model::overdue(&view, establishment, now)
        } else {
            model::register(&view, establishment, now)
        }
        .map_err(store_error)?;
        Ok(connection(
            lines
                .into_iter()
                .filter(|l| status.is_none_or(|s| status_of(l) == s))
                .map(|l| {
                    let key = format!("{}.{}", key_time(l.received.due_at), l.request);
                    (key, l.into())
                })
                .collect(),
            first,
            after,
        )?)
    }

    /// The legal notices of an establishment (the session's by default): the current notices
    /// and director for every logged-in user; the history, the designations and the review
    /// state for its director.
    async fn legal_notices(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<LegalIdentityView> {
        let reads = Reads::of(ctx, read_after)?;
        let establishment = match &establishment_id {
            // Public: any logged-in user may read any establishment's notices.
            Some(id) => super::parse_id("establishmentId", id)?,
            None => reads.establishment(None)?,
        };
        let known = reads.facts(|f| f.establishment(establishment).is_some())?;
        if !known {
            return Err(
                ApiError::NotFound(format!("establishment {establishment} is unknown")).into(),
            );
        }
        let today = reads.today()?;
        let view = reads.view(names::REGISTER).await?;
        let identity = model::legal_identity(&view, establishment, today).map_err(store_error)?;
        let director = is_director(&reads.actor, establishment);
        Ok(match identity {
            None => LegalIdentityView {
                establishment_id: gid(establishment),
                current: None,
                director: None,
                history: director.then(Vec::new),
                designations: director.then(Vec::new),
                needs_review: director.then_some(true),
            },
            Some(identity) => LegalIdentityView {
                establishment_id: gid(establishment),
                current: identity.current_notices.map(Into::into),
                director: identity.director.map(Into::into),
                history: director.then(|| {
                    identity
                        .notices_history
                        .into_iter()
                        .map(Into::into)
                        .collect()
                }),
                designations: director
                    .then(|| identity.designations.into_iter().map(Into::into).collect()),
                needs_review: director.then_some(identity.notices_need_review),
            },
        })
    }
}
