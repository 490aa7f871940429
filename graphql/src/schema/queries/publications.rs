//! Publication queries: the spaces of an establishment, the items online in a space with their
//! labelled right-of-reply replies, one publication's full history, the moderation queue
//! (drafts submitted in pre-moderated spaces) and the reports queue.
//!
//! Who reads what:
//! - a space's items: the establishment's members acting there, a class space only for who
//!   may see the class (`domain::policy::may_see_class`), its moderators and the director; a
//!   partner only their own partner space; an analyst nothing;
//! - a publication's history (drafts, rejections, versions, withdrawal, reports): its author,
//!   the director, and the space's moderators (`domain::publication::may_moderate`);
//! - the moderation and reports queues: the director (`domain::publication::is_director`)
//!   whole, a moderator for the spaces they moderate.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use domain::Profile;
use domain::ids::{EstablishmentId, PublicationId, SpaceId};
use domain::publication::{
    self as rules, PublicationStatus as DomainStatus, SpaceFacts, SpaceKind as DomainKind,
    WithdrawalGround as DomainGround,
};
use projections::models::publications::{self as model, SpaceRecord};

use super::{Reads, connection, gid, key_time, names, parse_id, store_error, ts};
use crate::errors::ApiError;
use crate::schema::mutations::publications::{SpaceKind, WithdrawalGround};

const PAGE_DEFAULT: i32 = 20;

/// A publication space.
#[derive(SimpleObject, Clone, Debug)]
pub struct Space {
    pub id: ID,
    pub establishment_id: ID,
    pub kind: SpaceKind,
    /// For a class space.
    pub class_id: Option<ID>,
    /// For a class space: whether its students may post.
    pub students_may_post: bool,
    /// The blog's student or the partner, for a personal space.
    pub owner_id: Option<ID>,
    pub title: String,
    pub pre_moderated: bool,
    /// Whether it holds personal contributions (student blog, partner space).
    pub personal_contributions: bool,
    pub moderator_ids: Vec<ID>,
}

impl From<SpaceRecord> for Space {
    fn from(s: SpaceRecord) -> Self {
        let (kind, class_id, students_may_post, owner_id) = match s.kind {
            DomainKind::EstablishmentNews => (SpaceKind::EstablishmentNews, None, false, None),
            DomainKind::ClassSpace {
                class,
                students_may_post,
            } => (
                SpaceKind::ClassSpace,
                Some(gid(class)),
                students_may_post,
                None,
            ),
            DomainKind::StudentBlog { owner } => {
                (SpaceKind::StudentBlog, None, false, Some(gid(owner)))
            }
            DomainKind::PartnerSpace { partner } => {
                (SpaceKind::PartnerSpace, None, false, Some(gid(partner)))
            }
        };
        Space {
            id: gid(s.space),
            establishment_id: gid(s.establishment),
            kind,
            class_id,
            students_may_post,
            owner_id,
            title: s.title,
            pre_moderated: s.pre_moderated,
            personal_contributions: s.personal_contributions,
            moderator_ids: s.moderators.into_iter().map(gid).collect(),
        }
    }
}

/// A right-of-reply reply shown with its publication, labelled as such.
#[derive(SimpleObject, Clone, Debug)]
pub struct AttachedReply {
    pub request_id: ID,
    /// The legal label shown above the reply.
    pub label: String,
    pub text: String,
    pub published_at: String,
    /// Published after the deadline.
    pub late: bool,
    pub offline_at: Option<String>,
}

impl From<model::AttachedReply> for AttachedReply {
    fn from(r: model::AttachedReply) -> Self {
        AttachedReply {
            request_id: gid(r.request),
            label: r.label,
            text: r.text,
            published_at: ts(r.published_at),
            late: r.late,
            offline_at: r.offline_at.map(ts),
        }
    }
}

/// One published version.
#[derive(SimpleObject, Clone, Debug)]
pub struct PublicationVersion {
    pub number: u32,
    pub title: String,
    pub body: String,
    pub at: String,
    pub by_id: ID,
    pub note: Option<String>,
}

impl From<model::VersionLine> for PublicationVersion {
    fn from(v: model::VersionLine) -> Self {
        PublicationVersion {
            number: v.number,
            title: v.title,
            body: v.body,
            at: ts(v.at),
            by_id: gid(v.by),
            note: v.note,
        }
    }
}

/// An item online in a space.
#[derive(SimpleObject, Clone, Debug)]
pub struct PublishedItem {
    pub id: ID,
    pub author_id: ID,
    /// A personal contribution, identified as such.
    pub personal_contribution: bool,
    pub first_published_at: String,
    /// The version online.
    pub current: PublicationVersion,
    pub version_count: u32,
    /// Right-of-reply replies still online.
    pub replies: Vec<AttachedReply>,
}

/// Where a publication is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PublicationStatus {
    Draft,
    Submitted,
    Published,
    Withdrawn,
}

/// A rejection of a submitted draft.
#[derive(SimpleObject, Clone, Debug)]
pub struct Rejection {
    pub at: String,
    pub reason: String,
}

/// How a publication was withdrawn.
#[derive(SimpleObject, Clone, Debug)]
pub struct Withdrawal {
    pub ground: WithdrawalGround,
    pub note: Option<String>,
    pub at: String,
    pub by_id: ID,
    /// When the director first learnt of it (the first report), if it was reported.
    pub director_knowledge_since: Option<String>,
}

/// A report received about a publication.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReportMark {
    pub report_id: ID,
    pub at: String,
}

/// Everything about one publication.
#[derive(SimpleObject, Clone, Debug)]
pub struct Publication {
    pub id: ID,
    pub space_id: ID,
    pub establishment_id: ID,
    pub author_id: ID,
    pub personal_contribution: bool,
    pub status: PublicationStatus,
    pub draft_title: Option<String>,
    pub draft_body: Option<String>,
    pub submitted_at: Option<String>,
    pub rejections: Vec<Rejection>,
    pub approved_by_id: Option<ID>,
    /// Approved by the director (then liable as its author).
    pub approved_as_director: bool,
    /// Oldest first.
    pub versions: Vec<PublicationVersion>,
    pub withdrawal: Option<Withdrawal>,
    pub reports: Vec<ReportMark>,
    pub director_knowledge_since: Option<String>,
    pub replies: Vec<AttachedReply>,
}

/// A draft waiting for moderation.
#[derive(SimpleObject, Clone, Debug)]
pub struct QueuedItem {
    pub publication_id: ID,
    pub space_id: ID,
    pub author_id: ID,
    pub title: String,
    pub body: String,
    pub submitted_at: String,
}

/// A report about a publication, with the director's knowledge start and the takedown.
#[derive(SimpleObject, Clone, Debug)]
pub struct PublicationReport {
    pub report_id: ID,
    pub publication_id: ID,
    pub space_id: ID,
    pub reporter_id: ID,
    pub reason: Option<String>,
    pub reported_at: String,
    pub director_knowledge_since: String,
    pub withdrawn_at: Option<String>,
    pub withdrawal_ground: Option<WithdrawalGround>,
    /// How long the publication stayed online after the director knew of it.
    pub takedown_delay_seconds: Option<i64>,
}

fn ground(g: DomainGround) -> WithdrawalGround {
    match g {
        DomainGround::Illicit => WithdrawalGround::Illicit,
        DomainGround::Injurious => WithdrawalGround::Injurious,
        DomainGround::Defamatory => WithdrawalGround::Defamatory,
        DomainGround::Other => WithdrawalGround::Other,
    }
}

fn facts_of(space: &SpaceRecord) -> SpaceFacts {
    SpaceFacts {
        space: space.space,
        establishment: space.establishment,
        kind: space.kind,
        pre_moderated: space.pre_moderated,
        moderators: space.moderators.iter().copied().collect(),
    }
}

/// Whether the viewer may read the items of `space` (see the module comment).
fn may_read_space(reads: &Reads<'_>, space: &SpaceRecord) -> Result<bool, ApiError> {
    let actor = &reads.actor;
    if rules::may_moderate(actor, &facts_of(space)) {
        return Ok(true);
    }
    if !actor.acts_as_in(actor.acting_as, space.establishment) {
        return Ok(false);
    }
    Ok(match (actor.acting_as, space.kind) {
        (Profile::Analyst, _) => false,
        (Profile::Partner, DomainKind::PartnerSpace { partner }) => partner == actor.account,
        (Profile::Partner, _) => false,
        (_, DomainKind::ClassSpace { class, .. }) => {
            let children_in_class = reads.facts(|f| {
                f.class(class).is_some_and(|c| {
                    actor
                        .children
                        .iter()
                        .any(|child| c.students.contains(child))
                })
            })?;
            domain::policy::may_see_class(actor, space.establishment, class, children_in_class)
        }
        _ => true,
    })
}

/// The spaces of an establishment the viewer moderates (all of them for the director).
fn moderated_spaces(
    reads: &Reads<'_>,
    spaces: &[SpaceRecord],
    establishment: EstablishmentId,
) -> Result<Option<Vec<SpaceId>>, ApiError> {
    if rules::is_director(&reads.actor, establishment) {
        return Ok(None);
    }
    let mine: Vec<SpaceId> = spaces
        .iter()
        .filter(|s| rules::may_moderate(&reads.actor, &facts_of(s)))
        .map(|s| s.space)
        .collect();
    if mine.is_empty() {
        return Err(ApiError::Forbidden(
            "only the publication director and the moderators see this queue".into(),
        ));
    }
    Ok(Some(mine))
}

#[derive(Default)]
pub struct PublicationQuery;

#[Object]
impl PublicationQuery {
    /// The spaces of an establishment (the session's by default) the viewer may read.
    async fn spaces(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Vec<Space>> {
        let reads = Reads::of(ctx, read_after)?;
        let establishment = reads.establishment(establishment_id.as_ref())?;
        let view = reads.view(names::PUBLICATIONS).await?;
        let mut out = Vec::new();
        for space in model::spaces(&view, establishment).map_err(store_error)? {
            if may_read_space(&reads, &space)? {
                out.push(space.into());
            }
        }
        Ok(out)
    }

    /// The items online in a space, oldest first, with their replies.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn publications(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, PublishedItem>> {
        let reads = Reads::of(ctx, read_after)?;
        let space = parse_id::<SpaceId>("spaceId", &space_id)?;
        let view = reads.view(names::PUBLICATIONS).await?;
        let record = model::space_record(&view, space)
            .map_err(store_error)?
            .ok_or_else(|| ApiError::NotFound(format!("space {space} is unknown")))?;
        if !may_read_space(&reads, &record)? {
            return Err(ApiError::Forbidden("the viewer may not read this space".into()).into());
        }
        let items = model::space_items(&view, space).map_err(store_error)?;
        Ok(connection(
            items
                .into_iter()
                .map(|item| {
                    let key = format!("{}.{}", key_time(item.first_published_at), item.publication);
                    let node = PublishedItem {
                        id: gid(item.publication),
                        author_id: gid(item.author),
                        personal_contribution: item.personal_contribution,
                        first_published_at: ts(item.first_published_at),
                        current: item.current.into(),
                        version_count: item.versions,
                        replies: item.replies.into_iter().map(Into::into).collect(),
                    };
                    (key, node)
                })
                .collect(),
            first,
            after,
        )?)
    }

    /// One publication's full history: for its author, the director and the space's
    /// moderators.
    async fn publication(
        &self,
        ctx: &Context<'_>,
        id: ID,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Publication> {
        let reads = Reads::of(ctx, read_after)?;
        let publication = parse_id::<PublicationId>("id", &id)?;
        let view = reads.view(names::PUBLICATIONS).await?;
        let record = model::publication(&view, publication)
            .map_err(store_error)?
            .ok_or_else(|| ApiError::NotFound(format!("publication {publication} is unknown")))?;
        let space = model::space_record(&view, record.space).map_err(store_error)?;
        let allowed = record.author == reads.actor.account
            || rules::is_director(&reads.actor, record.establishment)
            || space.is_some_and(|s| rules::may_moderate(&reads.actor, &facts_of(&s)));
        if !allowed {
            return Err(ApiError::Forbidden(
                "a publication's history is for its author, the director and the moderators".into(),
            )
            .into());
        }
        let (draft_title, draft_body) = record.draft.unzip();
        Ok(Publication {
            id: gid(record.publication),
            space_id: gid(record.space),
            establishment_id: gid(record.establishment),
            author_id: gid(record.author),
            personal_contribution: record.personal_contribution,
            status: match record.status {
                DomainStatus::Draft => PublicationStatus::Draft,
                DomainStatus::Submitted => PublicationStatus::Submitted,
                DomainStatus::Published => PublicationStatus::Published,
                DomainStatus::Withdrawn => PublicationStatus::Withdrawn,
            },
            draft_title,
            draft_body,
            submitted_at: record.submitted_at.map(ts),
            rejections: record
                .rejections
                .into_iter()
                .map(|(at, reason)| Rejection { at: ts(at), reason })
                .collect(),
            approved_by_id: record.approved_by.map(|(by, _)| gid(by)),
            approved_as_director: record.approved_by.is_some_and(|(_, d)| d),
            versions: record.versions.into_iter().map(Into::into).collect(),
            withdrawal: record.withdrawal.map(|w| Withdrawal {
                ground: ground(w.ground),
                note: w.note,
                at: ts(w.at),
                by_id: gid(w.by),
                director_knowledge_since: w.director_knowledge_since.map(ts),
            }),
            reports: record
                .reports
                .into_iter()
                .map(|(at, report)| ReportMark {
                    report_id: gid(report),
                    at: ts(at),
                })
                .collect(),
            director_knowledge_since: record.director_knowledge_since.map(ts),
            replies: record.replies.into_iter().map(Into::into).collect(),
        })
    }

    /// The drafts submitted in pre-moderated spaces, oldest first: the director sees them all,
    /// a moderator those of the spaces they moderate.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn moderation_queue(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, QueuedItem>> {
        let reads = Reads::of(ctx, read_after)?;
        let establishment = reads.establishment(establishment_id.as_ref())?;
        let view = reads.view(names::PUBLICATIONS).await?;
        let spaces = model::spaces(&view, establishment).map_err(store_error)?;
        let mine = moderated_spaces(&reads, &spaces, establishment)?;
        let queue = model::moderation_queue(&view, establishment).map_err(store_error)?;
        Ok(connection(
            queue
                .into_iter()
                .filter(|q| mine.as_ref().is_none_or(|m| m.contains(&q.space)))
                .map(|q| {
                    let key = format!("{}.{}", key_time(q.submitted_at), q.publication);
                    let node = QueuedItem {
                        publication_id: gid(q.publication),
                        space_id: gid(q.space),
                        author_id: gid(q.author),
                        title: q.title,
                        body: q.body,
                        submitted_at: ts(q.submitted_at),
                    };
                    (key, node)
                })
                .collect(),
            first,
            after,
        )?)
    }

    /// The reports on publications, in the order they arrived, with the director's knowledge
    /// start and the takedown time: the director sees them all, a moderator those of the
    /// spaces they moderate.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn reports_queue(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, PublicationReport>> {
        let reads = Reads::of(ctx, read_after)?;
        let establishment = reads.establishment(establishment_id.as_ref())?;
        let view = reads.view(names::PUBLICATIONS).await?;
        let spaces = model::spaces(&view, establishment).map_err(store_error)?;
        let mine = moderated_spaces(&reads, &spaces, establishment)?;
        let reports = model::reports_queue(&view, establishment).map_err(store_error)?;
        Ok(connection(
            reports
                .into_iter()
                .filter(|r| mine.as_ref().is_none_or(|m| m.contains(&r.space)))
                .map(|r| {
                    let key = format!("{}.{}", key_time(r.reported_at), r.report);
                    let node = PublicationReport {
                        takedown_delay_seconds: r.takedown_delay_secs(),
                        report_id: gid(r.report),
                        publication_id: gid(r.publication),
                        space_id: gid(r.space),
                        reporter_id: gid(r.reporter),
                        reason: r.reason,
                        reported_at: ts(r.reported_at),
                        director_knowledge_since: ts(r.director_knowledge_since),
                        withdrawn_at: r.withdrawn_at.map(ts),
                        withdrawal_ground: r.withdrawal_ground.map(ground),
                    };
                    (key, node)
                })
                .collect(),
            first,
            after,
        )?)
    }
}
