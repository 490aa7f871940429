//! Logging in and knowing who one is: the `login` mutation (argon2id check on a blocking
//! thread, throttled per identifier, session recorded in the log as a token hash and expiry,
//! the token itself returned once) and the `me` query (the viewer's account, profiles per
//! establishment, children for a parent, classes for a teacher or a student). `logout` is in
//! the infrastructure part of the schema.

use async_graphql::{Context, ID, Object, SimpleObject};
use domain::Profile as DomainProfile;
use domain::account::{self, AccountCommand};
use domain::actor::Grant;
use domain::ids::{AccountId, EstablishmentId, SessionId};

use crate::app;
use crate::auth::{Auth, viewer};
use crate::errors::ApiError;
use crate::schema::facts::View;
use crate::schema::mutations::{Env, Profile, derived_id, opt_id};

/// Longest identifier or password looked at; longer ones fail like a wrong password would.
const IDENTIFIER_BYTES_MAX: usize = 256;

/// An open session: the bearer token is shown here once and never stored.
#[derive(SimpleObject, Debug, Clone)]
pub struct LoginPayload {
    /// Send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// RFC 3339 instant after which the token is refused.
    pub expires_at: String,
    pub account_id: ID,
    /// The profile and establishment this session acts under.
    pub profile: Profile,
    pub establishment_id: ID,
    /// Log position of the login event.
    pub position: u64,
}

/// A profile held in an establishment.
#[derive(SimpleObject, Debug, Clone)]
pub struct MeGrant {
    pub establishment_id: ID,
    pub establishment_name: Option<String>,
    pub uai: Option<String>,
    pub profile: Profile,
}

/// A class the viewer is enrolled in or teaches.
#[derive(SimpleObject, Debug, Clone)]
pub struct MeClass {
    pub id: ID,
    pub name: String,
    /// The school year, `2025-2026`.
    pub year: String,
    pub establishment_id: ID,
    /// For a teacher: the subject taught in it.
    pub subject: Option<String>,
}

/// A child of a parent viewer.
#[derive(SimpleObject, Debug, Clone)]
pub struct MeChild {
    pub id: ID,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub classes: Vec<MeClass>,
}

/// The viewer.
#[derive(SimpleObject, Debug, Clone)]
pub struct Me {
    pub account_id: ID,
    pub login: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// The profile this session acts under, and where.
    pub acting_as: Profile,
    pub establishment_id: Option<ID>,
    /// Every profile held (the publication-director profile only where designated).
    pub grants: Vec<MeGrant>,
    /// For a parent: the children.
    pub children: Vec<MeChild>,
    /// For a student: the classes enrolled in.
    pub enrolled_in: Vec<MeClass>,
    /// For a teacher: the classes taught, one entry per subject.
    pub teaches: Vec<MeClass>,
    /// For a student: the work groups.
    pub group_ids: Vec<ID>,
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Checks an identifier and a password and opens a session. Unknown identifier and wrong
    /// password give the same UNAUTHENTICATED answer; repeated failures for one identifier are
    /// RATE_LIMITED for a while. `profile` and `establishmentId` choose what the session acts
    /// under when the account holds several profiles (the first held otherwise).
    async fn login(
        &self,
        ctx: &Context<'_>,
        identifier: String,
        password: String,
        profile: Option<Profile>,
        establishment_id: Option<ID>,
    ) -> async_graphql::Result<LoginPayload> {
        let (app, directory) = Env::anonymous(ctx)?;
        let auth = ctx
            .data::<std::sync::Arc<Auth>>()
            .map_err(|_| ApiError::Internal("the schema has no Auth in its data".into()))?;
        let wanted_establishment: Option<EstablishmentId> =
            opt_id("establishmentId", establishment_id.as_ref())?;
        let now = app.now();
        if identifier.len() > IDENTIFIER_BYTES_MAX || password.len() > IDENTIFIER_BYTES_MAX * 4 {
            // Counted under a bounded key, so huge identifiers cannot fill the throttle's memory.
            let key = bounded_prefix(&identifier, IDENTIFIER_BYTES_MAX);
            auth.throttle.check(key, now)?;
            auth.throttle.record_failure(key, now);
            return Err(
                ApiError::Unauthenticated("unknown identifier or wrong password".into()).into(),
            );
        }
        let found = {
            let view = directory.catch_up(app.store().as_ref(), now)?;
            view.account_by_login(&identifier)
                .filter(|a| a.active)
                .map(|a| (a.id, a.password_phc.clone(), view.effective_grants(a)))
        };
        let (account, phc, grants) = match found {
            Some((account, phc, grants)) => (Some(account), phc, grants),
            None => (None, None, Vec::new()),
        };
        auth.check_login(&identifier, phc, password, now).await?;
        let account = account.ok_or_else(|| {
            ApiError::Unauthenticated("unknown identifier or wrong password".into())
        })?;
        let grant = choose_grant(&grants, profile.map(Into::into), wanted_establishment)?;
        let issued = auth.issue_token(now)?;
        let session = SessionId::from_uuid(derived_id(app, None, "session"));
        let command = AccountCommand::RecordLogin {
            account,
            establishment: grant.establishment,
            profile: grant.profile,
            session,
            token_hash: issued.hash.to_domain(),
            expires_at: issued.expires_at,
        };
        let mut actor = domain::Actor::new(account, grant.profile);
        actor.grants = grants;
        let outcome = app
            .execute::<app::Account>(&account::stream_id(account), &command, &actor, None)
            .await?;
        Ok(LoginPayload {
            token: issued.token,
            expires_at: issued.expires_at.to_string(),
            account_id: ID(account.to_string()),
            profile: grant.profile.into(),
            establishment_id: ID(grant.establishment.to_string()),
            position: outcome.last_position,
        })
    }
}

/// The longest prefix of `text` of at most `bytes_max` bytes that ends on a character boundary.
fn bounded_prefix(text: &str, bytes_max: usize) -> &str {
    let mut end = text.len().min(bytes_max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The grant a session acts under: the one asked for, or the first held.
fn choose_grant(
    grants: &[Grant],
    profile: Option<DomainProfile>,
    establishment: Option<EstablishmentId>,
) -> Result<Grant, ApiError> {
    grants
        .iter()
        .find(|g| {
            profile.is_none_or(|p| g.profile == p)
                && establishment.is_none_or(|e| g.establishment == e)
        })
        .copied()
        .ok_or_else(|| {
            ApiError::Forbidden("the account holds no such profile in such an establishment".into())
        })
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The viewer: account, profiles, and the profile-specific facts (children, classes).
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        let session = *viewer(ctx).session()?;
        let (app, directory) = Env::anonymous(ctx)?;
        let now = app.now();
        let view = directory.catch_up(app.store().as_ref(), now)?;
        crate::request::note_date(ctx, view.today());
        let actor = view.actor(&session)?;
        let entry = view
            .account(actor.account)
            .ok_or_else(|| ApiError::NotFound("the viewer's account is unknown".into()))?;
        let grants = actor
            .grants
            .iter()
            .map(|g| {
                let establishment = view.establishment(g.establishment);
                MeGrant {
                    establishment_id: ID(g.establishment.to_string()),
                    establishment_name: establishment.map(|e| e.name.to_string()),
                    uai: establishment.map(|e| e.uai.clone()),
                    profile: g.profile.into(),
                }
            })
            .collect();
        let children = actor
            .children
            .iter()
            .map(|child| {
                let person = view.account(*child);
                MeChild {
                    id: ID(child.to_string()),
                    given_name: person.and_then(|p| p.given_name.as_ref().map(|n| n.to_string())),
                    family_name: person.and_then(|p| p.family_name.as_ref().map(|n| n.to_string())),
                    classes: classes_of(&view, *child),
                }
            })
            .collect();
        let teaches = actor
            .teaches
            .iter()
            .filter_map(|t| {
                view.class(t.class).map(|c| MeClass {
                    id: ID(c.id.to_string()),
                    name: c.name.to_string(),
                    year: c.year.to_string(),
                    establishment_id: ID(c.establishment.to_string()),
                    subject: Some(t.subject.to_string()),
                })
            })
            .collect();
        Ok(Me {
            account_id: ID(actor.account.to_string()),
            login: entry.login.clone(),
            given_name: entry.given_name.as_ref().map(|n| n.to_string()),
            family_name: entry.family_name.as_ref().map(|n| n.to_string()),
            acting_as: actor.acting_as.into(),
            establishment_id: session.establishment.map(|e| ID(e.to_string())),
            grants,
            children,
            enrolled_in: classes_of(&view, actor.account),
            teaches,
            group_ids: actor.groups.iter().map(|g| ID(g.to_string())).collect(),
        })
    }
}

/// The classes a student is enrolled in.
fn classes_of(view: &View<'_>, student: AccountId) -> Vec<MeClass> {
    view.enrolled_in(student)
        .into_iter()
        .filter_map(|class| view.class(class))
        .map(|c| MeClass {
            id: ID(c.id.to_string()),
            name: c.name.to_string(),
            year: c.year.to_string(),
            establishment_id: ID(c.establishment.to_string()),
            subject: None,
        })
        .collect()
}
