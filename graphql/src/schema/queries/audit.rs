//! The audit trail, for the publication director of an establishment
//! (`domain::publication::is_director`): who did what and when about spaces, publications,
//! moderation, reports, right-of-reply requests, legal notices, designations and accounts,
//! filtered by entity, actor, event type and time range, page by page (oldest first). The read
//! model never holds the content of private messages, nor names, logins or credentials; the
//! search is always confined to the director's establishment.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use domain::ids::AccountId;
use domain::publication::is_director;
use projections::models::audit::{
    self as model, AUDIT_PAGE_ENTRIES_MAX, AuditCursor, AuditError, EntityKind as ModelKind,
    EntityRef,
};

use super::{Reads, gid, names, parse_id, store_error, ts};
use crate::errors::ApiError;
use crate::schema::mutations::{Profile, opt_timestamp};

const PAGE_DEFAULT: i32 = 20;

/// What kind of thing an audit entry concerns.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AuditEntityKind {
    Account,
    Establishment,
    Space,
    Publication,
    Report,
    ReplyRequest,
    Designation,
    LegalNotice,
    Conversation,
    Message,
}

impl From<AuditEntityKind> for ModelKind {
    fn from(k: AuditEntityKind) -> ModelKind {
        match k {
            AuditEntityKind::Account => ModelKind::Account,
            AuditEntityKind::Establishment => ModelKind::Establishment,
            AuditEntityKind::Space => ModelKind::Space,
            AuditEntityKind::Publication => ModelKind::Publication,
            AuditEntityKind::Report => ModelKind::Report,
            AuditEntityKind::ReplyRequest => ModelKind::ReplyRequest,
            AuditEntityKind::Designation => ModelKind::Designation,
            AuditEntityKind::LegalNotice => ModelKind::LegalNotice,
            AuditEntityKind::Conversation => ModelKind::Conversation,
            AuditEntityKind::Message => ModelKind::Message,
        }
    }
}

impl From<ModelKind> for AuditEntityKind {
    fn from(k: ModelKind) -> AuditEntityKind {
        match k {
            ModelKind::Account => AuditEntityKind::Account,
            ModelKind::Establishment => AuditEntityKind::Establishment,
            ModelKind::Space => AuditEntityKind::Space,
            ModelKind::Publication => AuditEntityKind::Publication,
            ModelKind::Report => AuditEntityKind::Report,
            ModelKind::ReplyRequest => AuditEntityKind::ReplyRequest,
            ModelKind::Designation => AuditEntityKind::Designation,
            ModelKind::LegalNotice => AuditEntityKind::LegalNotice,
            ModelKind::Conversation => AuditEntityKind::Conversation,
            ModelKind::Message => AuditEntityKind::Message,
        }
    }
}

/// An entity an entry concerns.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuditEntity {
    pub kind: AuditEntityKind,
    pub id: ID,
}

/// One line of the audit trail.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuditEntry {
    /// The log position of the event.
    pub position: u64,
    pub at: String,
    /// Who did it; none for the platform itself.
    pub actor_id: Option<ID>,
    pub actor_profile: Option<Profile>,
    /// E.g. `publication.withdrawn`.
    pub event_type: String,
    pub establishment_id: Option<ID>,
    pub entities: Vec<AuditEntity>,
    /// What happened, in one line, without private content.
    pub summary: String,
}

impl From<model::AuditEntry> for AuditEntry {
    fn from(e: model::AuditEntry) -> Self {
        AuditEntry {
            position: e.position,
            at: ts(e.at),
            actor_id: e.actor.map(|a| gid(a.account)),
            actor_profile: e.actor.map(|a| a.profile.into()),
            event_type: e.event_type,
            establishment_id: e.establishment.map(gid),
            entities: e
                .entities
                .into_iter()
                .map(|r| AuditEntity {
                    kind: r.kind.into(),
                    id: gid(r.id),
                })
                .collect(),
            summary: e.summary,
        }
    }
}

fn audit_error(error: AuditError) -> ApiError {
    match error {
        AuditError::BadCursor(_) | AuditError::EmptyRange { .. } => {
            ApiError::Invalid(error.to_string())
        }
        AuditError::Store(e) => store_error(e),
    }
}

#[derive(Default)]
pub struct AuditTrailQuery;

#[Object]
impl AuditTrailQuery {
    /// The audit trail of an establishment (the session's by default), oldest first: for its
    /// publication director. Every filter given must hold; `from` is included, `to` excluded
    /// (RFC 3339). `entityKind` and `entityId` go together.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn audit_trail(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
        entity_kind: Option<AuditEntityKind>,
        entity_id: Option<ID>,
        actor_id: Option<ID>,
        event_type: Option<String>,
        from: Option<String>,
        to: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, AuditEntry>> {
        let reads = Reads::of(ctx, read_after)?;
        let establishment = reads.establishment(establishment_id.as_ref())?;
        if !is_director(&reads.actor, establishment) {
            return Err(ApiError::Forbidden(
                "the audit trail is for the establishment's publication director".into(),
            )
            .into());
        }
        let entity = match (entity_kind, &entity_id) {
            (None, None) => None,
            (Some(kind), Some(id)) => Some(EntityRef {
                kind: kind.into(),
                id: uuid::Uuid::parse_str(id)
                    .map_err(|e| ApiError::Invalid(format!("entityId: not an id: {e}")))?,
            }),
            _ => {
                return Err(
                    ApiError::Invalid("give entityKind and entityId together".into()).into(),
                );
            }
        };
        let size = crate::limits::page_size(first)?.min(AUDIT_PAGE_ENTRIES_MAX);
        let query = model::AuditQuery {
            actor: actor_id
                .as_ref()
                .map(|id| parse_id::<AccountId>("actorId", id))
                .transpose()?,
            event_type,
            entity,
            establishment: Some(establishment),
            from: opt_timestamp("from", from.as_deref())?,
            to: opt_timestamp("to", to.as_deref())?,
            after: after
                .as_deref()
                .map(|c| c.parse::<AuditCursor>())
                .transpose()
                .map_err(audit_error)?,
            limit: size,
        };
        let view = reads.view(names::AUDIT).await?;
        let page = model::search(&view, &query).map_err(audit_error)?;
        let mut out = Connection::new(query.after.is_some(), page.next.is_some());
        for entry in page.entries {
            let cursor = AuditCursor {
                at_us: entry.at.as_microsecond(),
                position: entry.position,
            };
            out.edges.push(Edge::new(cursor.to_string(), entry.into()));
        }
        Ok(out)
    }
}
