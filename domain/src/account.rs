//! Accounts: created with profiles in an establishment; credentials set (an argon2 PHC hash,
//! never a password); parent–child links; deactivated; personal data erased on request or three
//! months after the account stopped being needed; logins, sessions and service visits recorded for
//! the connection log and the usage statistics.
//!
//! Sessions live in the log as token hashes with their expiry, so they survive restarts and the
//! token itself is never stored. Erasure is an event: the log layer destroys the person's key
//! (crypto-shredding); nothing is rewritten.
//!
//! Notification read marks live here too, since only the account holder reads their
//! notifications. A notification is named by the log position of the event it comes from; the
//! holder marks everything up to a position as read, or single positions, and the state keeps a
//! watermark plus the single marks above it, so marking nothing new records nothing.
//!
//! Usage statistics count unique users per ISO week without ever learning who they are: the
//! account, which sees every visit of its holder anyway, remembers per service, profile and
//! establishment the last week its holder visited, and each visit says whether it is the
//! holder's first of its week there (`first_in_week`) and for the service at all
//! (`first_in_week_of_service`). The statistics add up the flags; the only record of who visited
//! stays in the holder's own stream, personal data erased with the account.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::{Date, ISOWeekDate, Weekday};
use jiff::{Span, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::actor::{Context, Grant, PartnerKind, Profile};
use crate::deadline::{DeadlineError, paris, paris_date};
use crate::error::DomainError;
use crate::ids::{AccountId, EstablishmentId, SessionId};
use crate::policy::{self, require};
use crate::values::{Login, Name, PasswordHash, Reason, Service, TokenHash};

/// How long personal data may be kept once the account is no longer needed (CNIL, arrêté du
/// 30 novembre 2006): three calendar months, counted in Europe/Paris time.
pub const RETENTION_MONTHS: i64 = 3;

/// The longest a session may last.
pub const SESSION_HOURS_MAX: i64 = 24 * 30;

/// The most single notifications one command may mark as read.
pub const NOTIFICATION_MARKS_MAX: usize = 500;

/// An ISO 8601 week (Monday to Sunday) of the Europe/Paris calendar: the week in which usage is
/// counted, by the account when it flags a first visit and by the statistics that add the flags
/// up. Weeks order chronologically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "IsoWeekFields")]
pub struct IsoWeek {
    pub year: i16,
    pub week: i8,
}

/// The serialized shape of [`IsoWeek`], checked before it becomes one.
#[derive(Deserialize)]
struct IsoWeekFields {
    year: i16,
    week: i8,
}

impl TryFrom<IsoWeekFields> for IsoWeek {
    type Error = String;

    fn try_from(fields: IsoWeekFields) -> Result<IsoWeek, String> {
        let week = IsoWeek {
            year: fields.year,
            week: fields.week,
        };
        match week.monday() {
            Some(_) => Ok(week),
            None => Err(format!("{week} is not a week of the calendar")),
        }
    }
}

impl IsoWeek {
    /// The week a date falls in.
    pub fn of(date: Date) -> IsoWeek {
        let iso = date.iso_week_date();
        IsoWeek {
            year: iso.year(),
            week: iso.week(),
        }
    }

    /// The week an instant falls in, on the Paris calendar: Sunday 23:30 in Paris is still
    /// that Sunday's week even when it is Monday in UTC.
    pub fn containing(at: Timestamp) -> Result<IsoWeek, DeadlineError> {
        Ok(IsoWeek::of(paris_date(at)?))
    }

    /// The Monday of the week; `None` for a week that does not exist (e.g. week 53 of a
    /// 52-week year).
    pub fn monday(&self) -> Option<Date> {
        ISOWeekDate::new(self.year, self.week, Weekday::Monday)
            .ok()
            .map(|d| d.date())
    }

    /// The week after this one.
    pub fn next(&self) -> Option<IsoWeek> {
        let monday = self.monday()?.checked_add(7.days()).ok()?;
        Some(IsoWeek::of(monday))
    }

    /// The week before this one.
    pub fn previous(&self) -> Option<IsoWeek> {
        let monday = self.monday()?.checked_sub(7.days()).ok()?;
        Some(IsoWeek::of(monday))
    }

    /// `year * 100 + week`: a number ordered like the weeks, for keys.
    pub fn code(&self) -> i64 {
        i64::from(self.year) * 100 + i64::from(self.week)
    }
}

impl std::fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

/// One usage statistics cell of a visit, without its week: a service used with a profile in an
/// establishment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VisitCell {
    pub service: Service,
    pub profile: Profile,
    pub establishment: EstablishmentId,
}

/// Why personal data was erased.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ErasureGround {
    /// The person (or an administrator on their behalf) asked for it.
    OnRequest,
    /// Three months passed since the account stopped being needed.
    RetentionExpired,
}

/// Why a session ended.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum SessionEnd {
    Logout,
    Expired,
    /// Ended by an administrator or by the deactivation of the account.
    Revoked,
}

/// What happened to an account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    Created {
        account: AccountId,
        establishment: EstablishmentId,
        profiles: Vec<Profile>,
        login: Login,
        given_name: Name,
        family_name: Name,
    },
    ProfileGranted {
        account: AccountId,
        establishment: EstablishmentId,
        profile: Profile,
    },
    CredentialsSet {
        account: AccountId,
        password_hash: PasswordHash,
    },
    ChildLinked {
        account: AccountId,
        child: AccountId,
    },
    ChildUnlinked {
        account: AccountId,
        child: AccountId,
    },
    /// The account stopped being needed: from now on, the retention period runs.
    Deactivated {
        account: AccountId,
        /// When the account stopped being needed (the start of the retention period).
        since: Timestamp,
        reason: Option<Reason>,
    },
    /// The account's personal data is erased (the log layer destroys the person's key).
    PersonalDataErased {
        account: AccountId,
        ground: ErasureGround,
    },
    /// A login, for the connection log and the usage statistics.
    LoggedIn {
        account: AccountId,
        establishment: EstablishmentId,
        profile: Profile,
        session: SessionId,
    },
    SessionOpened {
        account: AccountId,
        session: SessionId,
        token_hash: TokenHash,
        expires_at: Timestamp,
    },
    SessionClosed {
        account: AccountId,
        session: SessionId,
        reason: SessionEnd,
    },
    /// A visit to one service, for the usage statistics per service, profile and establishment.
    /// The flags let the statistics count unique users without knowing who they are.
    ServiceVisited {
        account: AccountId,
        establishment: EstablishmentId,
        profile: Profile,
        service: Service,
        /// The Paris ISO week of the visit (of the event's `at`).
        week: IsoWeek,
        /// This is the holder's first visit of `week` to `service` with `profile` in
        /// `establishment`.
        first_in_week: bool,
        /// This is the holder's first visit of `week` to `service`, whatever the profile and
        /// the establishment.
        first_in_week_of_service: bool,
    },
    /// The holder read notifications, each named by the log position of the event it comes
    /// from. Only what is new is recorded: `up_to` is present when it moves the watermark, and
    /// `positions` lists, ascending, the single marks above the new watermark not marked before.
    NotificationsRead {
        account: AccountId,
        /// Every notification at or before this log position is read.
        up_to: Option<u64>,
        /// These notifications are read.
        positions: Vec<u64>,
    },
    /// The outside organisation a partner account speaks for, and its kind (which decides the
    /// source its shared resources are labelled with). Recorded again when it changes.
    PartnerOrganisationRecorded {
        account: AccountId,
        organisation: Name,
        kind: PartnerKind,
    },
}

/// An open session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenSession {
    pub token_hash: TokenHash,
    pub expires_at: Timestamp,
}

/// What the log says about one account.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountState {
    pub id: Option<AccountId>,
    pub grants: Vec<Grant>,
    pub has_credentials: bool,
    pub children: Vec<AccountId>,
    /// For a partner account: the organisation it speaks for and its kind.
    pub partner_organisation: Option<(Name, PartnerKind)>,
    /// When the account was deactivated (stopped being needed), if it is inactive.
    pub deactivated_at: Option<Timestamp>,
    pub erased: bool,
    pub sessions: BTreeMap<SessionId, OpenSession>,
    /// Every notification at or before this log position is read (0: none).
    pub notifications_read_up_to: u64,
    /// Notifications above the watermark read one by one.
    pub notifications_read: BTreeSet<u64>,
    /// The latest week the holder visited each service with a profile in an establishment.
    pub visit_weeks: BTreeMap<VisitCell, IsoWeek>,
    /// The latest week the holder visited each service, whatever the profile and establishment.
    pub service_visit_weeks: BTreeMap<Service, IsoWeek>,
}

impl AccountState {
    pub fn is_active(&self) -> bool {
        self.id.is_some() && self.deactivated_at.is_none()
    }

    pub fn establishments(&self) -> Vec<EstablishmentId> {
        let mut out: Vec<EstablishmentId> = self.grants.iter().map(|g| g.establishment).collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn holds_in(&self, profile: Profile, establishment: EstablishmentId) -> bool {
        self.grants
            .iter()
            .any(|g| g.profile == profile && g.establishment == establishment)
    }

    /// Whether a visit in `week` would be the holder's first of that week, in `cell` and for its
    /// service at all. A week before the latest one recorded (a clock that stepped back) is
    /// never a first: whether the holder was counted then can no longer be told, and counting
    /// them twice would inflate the figures.
    pub fn visit_is_first(&self, cell: VisitCell, week: IsoWeek) -> (bool, bool) {
        let in_cell = self.visit_weeks.get(&cell).is_none_or(|last| *last < week);
        let of_service = self
            .service_visit_weeks
            .get(&cell.service)
            .is_none_or(|last| *last < week);
        (in_cell, of_service)
    }

    /// Whether the notification of the event at `position` is marked read.
    pub fn notification_is_read(&self, position: u64) -> bool {
        position <= self.notifications_read_up_to || self.notifications_read.contains(&position)
    }
}

/// What may be asked of an account.
#[derive(Clone, Debug, PartialEq)]
pub enum AccountCommand {
    Create {
        account: AccountId,
        establishment: EstablishmentId,
        profiles: Vec<Profile>,
        login: Login,
        given_name: Name,
        family_name: Name,
        /// Fact from the read model: another account already has this login.
        login_in_use: bool,
    },
    GrantProfile {
        account: AccountId,
        establishment: EstablishmentId,
        profile: Profile,
    },
    SetCredentials {
        account: AccountId,
        password_hash: PasswordHash,
    },
    LinkChild {
        account: AccountId,
        child: AccountId,
        /// Fact from the read model: `child` is an active student account of an establishment
        /// where `account` holds the parent profile.
        child_is_student_here: bool,
    },
    UnlinkChild {
        account: AccountId,
        child: AccountId,
    },
    /// Records which organisation a partner account speaks for.
    RecordPartnerOrganisation {
        account: AccountId,
        organisation: Name,
        kind: PartnerKind,
    },
    Deactivate {
        account: AccountId,
        reason: Option<Reason>,
    },
    ErasePersonalData {
        account: AccountId,
        ground: ErasureGround,
    },
    /// The application verified the credentials (or the SSO assertion) and opens a session whose
    /// token it hashed.
    RecordLogin {
        account: AccountId,
        establishment: EstablishmentId,
        profile: Profile,
        session: SessionId,
        token_hash: TokenHash,
        expires_at: Timestamp,
    },
    CloseSession {
        account: AccountId,
        session: SessionId,
        reason: SessionEnd,
    },
    RecordVisit {
        account: AccountId,
        establishment: EstablishmentId,
        profile: Profile,
        service: Service,
    },
    /// The holder marks notifications read: all of them up to a log position ("mark all
    /// read"), single ones by position ("mark this one read"), or both.
    MarkNotificationsRead {
        account: AccountId,
        /// Every notification at or before this log position (inclusive) turns read.
        up_to: Option<u64>,
        /// These notifications turn read, at most [`NOTIFICATION_MARKS_MAX`].
        positions: Vec<u64>,
        /// Fact from the log: the position of its last record. No mark may reach beyond it, so
        /// a notification is only marked read once it exists.
        log_head: u64,
    },
}

/// When the retention period of an account deactivated at `deactivated_at` ends: three calendar
/// months later, Europe/Paris wall-clock.
pub fn erasure_due_at(deactivated_at: Timestamp) -> Result<Timestamp, DomainError> {
    let tz = paris().map_err(DomainError::from)?;
    deactivated_at
        .to_zoned(tz)
        .checked_add(Span::new().months(RETENTION_MONTHS))
        .map(|z| z.timestamp())
        .map_err(|e| DomainError::invalid(format!("retention end out of range: {e}")))
}

/// Decides a command against the account's state.
pub fn decide(
    state: &AccountState,
    command: &AccountCommand,
    ctx: &Context,
) -> Result<Vec<AccountEvent>, DomainError> {
    let actor = &ctx.actor;
    match command {
        AccountCommand::Create {
            account,
            establishment,
            profiles,
            login,
            given_name,
            family_name,
            login_in_use,
        } => {
            require(
                policy::may_administer(actor, *establishment),
                "only administrators of the establishment create accounts",
            )?;
            if state.id.is_some() {
                return Err(DomainError::conflict("account already exists"));
            }
            if *login_in_use {
                return Err(DomainError::conflict(format!("login {login} is taken")));
            }
            if profiles.is_empty() {
                return Err(DomainError::invalid(
                    "an account needs at least one profile",
                ));
            }
            let mut unique = profiles.clone();
            unique.sort();
            unique.dedup();
            if unique.len() != profiles.len() {
                return Err(DomainError::invalid("a profile is listed twice"));
            }
            Ok(vec![AccountEvent::Created {
                account: *account,
                establishment: *establishment,
                profiles: profiles.clone(),
                login: login.clone(),
                given_name: given_name.clone(),
                family_name: family_name.clone(),
            }])
        }
        AccountCommand::GrantProfile {
            account,
            establishment,
            profile,
        } => {
            require_active(state, *account)?;
            require(
                policy::may_administer(actor, *establishment),
                "only administrators of the establishment grant profiles",
            )?;
            if state.holds_in(*profile, *establishment) {
                return Err(DomainError::conflict("profile already held there"));
            }
            Ok(vec![AccountEvent::ProfileGranted {
                account: *account,
                establishment: *establishment,
                profile: *profile,
            }])
        }
        AccountCommand::SetCredentials {
            account,
            password_hash,
        } => {
            require_active(state, *account)?;
            require(
                policy::may_manage_account(actor, *account, &state.establishments()),
                "only the account holder or an administrator sets credentials",
            )?;
            Ok(vec![AccountEvent::CredentialsSet {
                account: *account,
                password_hash: password_hash.clone(),
            }])
        }
        AccountCommand::LinkChild {
            account,
            child,
            child_is_student_here,
        } => {
            require_active(state, *account)?;
            require(
                administers_an_establishment_of(actor, state),
                "only administrators link parents and children",
            )?;
            if !state.grants.iter().any(|g| g.profile == Profile::Parent) {
                return Err(DomainError::conflict("the account holds no parent profile"));
            }
            if child == account {
                return Err(DomainError::invalid("an account cannot be its own child"));
            }
            if !child_is_student_here {
                return Err(DomainError::invalid(
                    "the child must be a student of the parent's establishment",
                ));
            }
            if state.children.contains(child) {
                return Err(DomainError::conflict("child already linked"));
            }
            Ok(vec![AccountEvent::ChildLinked {
                account: *account,
                child: *child,
            }])
        }
        AccountCommand::UnlinkChild { account, child } => {
            require_active(state, *account)?;
            require(
                administers_an_establishment_of(actor, state),
                "only administrators unlink parents and children",
            )?;
            if !state.children.contains(child) {
                return Err(DomainError::not_found("child not linked"));
            }
            Ok(vec![AccountEvent::ChildUnlinked {
                account: *account,
                child: *child,
            }])
        }
        AccountCommand::RecordPartnerOrganisation {
            account,
            organisation,
            kind,
        } => {
            require_active(state, *account)?;
            require(
                administers_an_establishment_of(actor, state),
                "only administrators record a partner's organisation",
            )?;
            if !state.grants.iter().any(|g| g.profile == Profile::Partner) {
                return Err(DomainError::conflict(
                    "the account holds no partner profile",
                ));
            }
            if state.partner_organisation.as_ref() == Some(&(organisation.clone(), *kind)) {
                return Err(DomainError::conflict(
                    "this organisation is already recorded for the account",
                ));
            }
            Ok(vec![AccountEvent::PartnerOrganisationRecorded {
                account: *account,
                organisation: organisation.clone(),
                kind: *kind,
            }])
        }
        AccountCommand::Deactivate { account, reason } => {
            require_active(state, *account)?;
            require(
                administers_an_establishment_of(actor, state),
                "only administrators deactivate accounts",
            )?;
            let mut events = revoke_sessions(state, *account);
            events.push(AccountEvent::Deactivated {
                account: *account,
                since: ctx.now,
                reason: reason.clone(),
            });
            Ok(events)
        }
        AccountCommand::ErasePersonalData { account, ground } => {
            require_exists(state, *account)?;
            if state.erased {
                return Err(DomainError::conflict("personal data already erased"));
            }
            let mut events = Vec::new();
            match ground {
                ErasureGround::OnRequest => {
                    require(
                        policy::may_manage_account(actor, *account, &state.establishments()),
                        "only the account holder or an administrator asks for erasure",
                    )?;
                    if state.is_active() {
                        events.extend(revoke_sessions(state, *account));
                        events.push(AccountEvent::Deactivated {
                            account: *account,
                            since: ctx.now,
                            reason: None,
                        });
                    }
                }
                ErasureGround::RetentionExpired => {
                    require(
                        actor.is_system() || actor.is_platform_admin(),
                        "only the platform erases on expiry of the retention period",
                    )?;
                    let Some(since) = state.deactivated_at else {
                        return Err(DomainError::conflict("the account is still needed"));
                    };
                    let due = erasure_due_at(since)?;
                    if ctx.now < due {
                        return Err(DomainError::conflict(format!(
                            "the retention period runs until {due}"
                        )));
                    }
                }
            }
            events.push(AccountEvent::PersonalDataErased {
                account: *account,
                ground: *ground,
            });
            Ok(events)
        }
        AccountCommand::RecordLogin {
            account,
            establishment,
            profile,
            session,
            token_hash,
            expires_at,
        } => {
            require_active(state, *account)?;
            require(
                actor.account == *account,
                "a login is recorded for the person who logged in",
            )?;
            if !state.holds_in(*profile, *establishment) {
                return Err(DomainError::forbidden(
                    "the account does not hold this profile in this establishment",
                ));
            }
            if *expires_at <= ctx.now {
                return Err(DomainError::invalid("a session must expire in the future"));
            }
            let longest = ctx
                .now
                .checked_add(Span::new().hours(SESSION_HOURS_MAX))
                .map_err(|e| DomainError::invalid(e.to_string()))?;
            if *expires_at > longest {
                return Err(DomainError::invalid(format!(
                    "a session lasts at most {SESSION_HOURS_MAX} hours"
                )));
            }
            if state.sessions.contains_key(session) {
                return Err(DomainError::conflict("session already open"));
            }
            Ok(vec![
                AccountEvent::LoggedIn {
                    account: *account,
                    establishment: *establishment,
                    profile: *profile,
                    session: *session,
                },
                AccountEvent::SessionOpened {
                    account: *account,
                    session: *session,
                    token_hash: *token_hash,
                    expires_at: *expires_at,
                },
            ])
        }
        AccountCommand::CloseSession {
            account,
            session,
            reason,
        } => {
            require_exists(state, *account)?;
            let Some(open) = state.sessions.get(session) else {
                return Err(DomainError::not_found("no such open session"));
            };
            let allowed = match reason {
                SessionEnd::Logout => actor.account == *account,
                SessionEnd::Expired => ctx.now >= open.expires_at,
                SessionEnd::Revoked => {
                    policy::may_manage_account(actor, *account, &state.establishments())
                }
            };
            require(
                allowed,
                "a session ends by its holder's logout, its expiry, or an administrator",
            )?;
            Ok(vec![AccountEvent::SessionClosed {
                account: *account,
                session: *session,
                reason: *reason,
            }])
        }
        AccountCommand::RecordVisit {
            account,
            establishment,
            profile,
            service,
        } => {
            require_active(state, *account)?;
            require(
                actor.account == *account,
                "a visit is recorded for the visitor",
            )?;
            if !state.holds_in(*profile, *establishment) {
                return Err(DomainError::forbidden(
                    "the account does not hold this profile in this establishment",
                ));
            }
            let week = IsoWeek::containing(ctx.now)?;
            let cell = VisitCell {
                service: *service,
                profile: *profile,
                establishment: *establishment,
            };
            let (first_in_week, first_in_week_of_service) = state.visit_is_first(cell, week);
            Ok(vec![AccountEvent::ServiceVisited {
                account: *account,
                establishment: *establishment,
                profile: *profile,
                service: *service,
                week,
                first_in_week,
                first_in_week_of_service,
            }])
        }
        AccountCommand::MarkNotificationsRead {
            account,
            up_to,
            positions,
            log_head,
        } => {
            require_active(state, *account)?;
            require(
                actor.account == *account,
                "only the account holder marks their notifications read",
            )?;
            decide_notifications_read(state, *account, *up_to, positions, *log_head)
        }
    }
}

/// The new part of a read mark, or nothing when everything named is already read.
fn decide_notifications_read(
    state: &AccountState,
    account: AccountId,
    up_to: Option<u64>,
    positions: &[u64],
    log_head: u64,
) -> Result<Vec<AccountEvent>, DomainError> {
    if up_to.is_none() && positions.is_empty() {
        return Err(DomainError::invalid(
            "name the notifications to mark: up to a position, or single positions",
        ));
    }
    if positions.len() > NOTIFICATION_MARKS_MAX {
        return Err(DomainError::invalid(format!(
            "at most {NOTIFICATION_MARKS_MAX} notifications are marked at once"
        )));
    }
    let named = up_to.iter().chain(positions);
    if let Some(beyond) = named.clone().find(|p| **p > log_head) {
        return Err(DomainError::invalid(format!(
            "position {beyond} is beyond the end of the log ({log_head})"
        )));
    }
    if named.clone().any(|p| *p == 0) {
        return Err(DomainError::invalid("log positions start at 1"));
    }
    let up_to = up_to.filter(|u| *u > state.notifications_read_up_to);
    let watermark = up_to.unwrap_or(state.notifications_read_up_to);
    let positions: Vec<u64> = positions
        .iter()
        .copied()
        .filter(|p| *p > watermark && !state.notifications_read.contains(p))
        .collect::<BTreeSet<u64>>()
        .into_iter()
        .collect();
    if up_to.is_none() && positions.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![AccountEvent::NotificationsRead {
        account,
        up_to,
        positions,
    }])
}

fn revoke_sessions(state: &AccountState, account: AccountId) -> Vec<AccountEvent> {
    state
        .sessions
        .keys()
        .map(|session| AccountEvent::SessionClosed {
            account,
            session: *session,
            reason: SessionEnd::Revoked,
        })
        .collect()
}

fn require_exists(state: &AccountState, account: AccountId) -> Result<(), DomainError> {
    if state.id != Some(account) {
        return Err(DomainError::not_found("no such account"));
    }
    Ok(())
}

/// Whether `actor` administers one of the establishments where the account holds a profile.
fn administers_an_establishment_of(actor: &crate::actor::Actor, state: &AccountState) -> bool {
    state
        .establishments()
        .iter()
        .any(|e| policy::may_administer(actor, *e))
}

fn require_active(state: &AccountState, account: AccountId) -> Result<(), DomainError> {
    require_exists(state, account)?;
    if state.erased {
        return Err(DomainError::erased("the account's personal data is erased"));
    }
    if !state.is_active() {
        return Err(DomainError::conflict("the account is deactivated"));
    }
    Ok(())
}

/// Applies an event to the state.
pub fn evolve(mut state: AccountState, event: &AccountEvent) -> AccountState {
    match event {
        AccountEvent::Created {
            account,
            establishment,
            profiles,
            ..
        } => {
            state.id = Some(*account);
            state.grants = profiles
                .iter()
                .map(|p| Grant {
                    establishment: *establishment,
                    profile: *p,
                })
                .collect();
        }
        AccountEvent::ProfileGranted {
            establishment,
            profile,
            ..
        } => state.grants.push(Grant {
            establishment: *establishment,
            profile: *profile,
        }),
        AccountEvent::CredentialsSet { .. } => state.has_credentials = true,
        AccountEvent::ChildLinked { child, .. } => state.children.push(*child),
        AccountEvent::ChildUnlinked { child, .. } => state.children.retain(|c| c != child),
        AccountEvent::PartnerOrganisationRecorded {
            organisation, kind, ..
        } => state.partner_organisation = Some((organisation.clone(), *kind)),
        AccountEvent::Deactivated { since, .. } => {
            state.deactivated_at = Some(*since);
        }
        AccountEvent::PersonalDataErased { .. } => {
            state.erased = true;
            state.has_credentials = false;
            state.children.clear();
            state.notifications_read.clear();
            state.visit_weeks.clear();
            state.service_visit_weeks.clear();
        }
        AccountEvent::LoggedIn { .. } => {}
        AccountEvent::ServiceVisited {
            establishment,
            profile,
            service,
            week,
            ..
        } => {
            let cell = VisitCell {
                service: *service,
                profile: *profile,
                establishment: *establishment,
            };
            let last = state.visit_weeks.entry(cell).or_insert(*week);
            *last = (*last).max(*week);
            let last = state.service_visit_weeks.entry(*service).or_insert(*week);
            *last = (*last).max(*week);
        }
        AccountEvent::SessionOpened {
            session,
            token_hash,
            expires_at,
            ..
        } => {
            state.sessions.insert(
                *session,
                OpenSession {
                    token_hash: *token_hash,
                    expires_at: *expires_at,
                },
            );
        }
        AccountEvent::SessionClosed { session, .. } => {
            state.sessions.remove(session);
        }
        AccountEvent::NotificationsRead {
            up_to, positions, ..
        } => {
            if let Some(up_to) = up_to {
                state.notifications_read_up_to = state.notifications_read_up_to.max(*up_to);
            }
            let watermark = state.notifications_read_up_to;
            state.notifications_read.extend(positions);
            state.notifications_read.retain(|p| *p > watermark);
        }
    }
    state
}

/// The stream of one account.
pub fn stream_id(id: AccountId) -> String {
    format!("account-{id}")
}

/// The stream an account event belongs to.
pub fn event_stream_id(event: &AccountEvent) -> String {
    match event {
        AccountEvent::Created { account, .. }
        | AccountEvent::ProfileGranted { account, .. }
        | AccountEvent::CredentialsSet { account, .. }
        | AccountEvent::ChildLinked { account, .. }
        | AccountEvent::ChildUnlinked { account, .. }
        | AccountEvent::PartnerOrganisationRecorded { account, .. }
        | AccountEvent::Deactivated { account, .. }
        | AccountEvent::PersonalDataErased { account, .. }
        | AccountEvent::LoggedIn { account, .. }
        | AccountEvent::SessionOpened { account, .. }
        | AccountEvent::SessionClosed { account, .. }
        | AccountEvent::ServiceVisited { account, .. }
        | AccountEvent::NotificationsRead { account, .. } => stream_id(*account),
    }
}
