//! The legal identity of an establishment's publishing: who its publication director is (dated
//! designations, with their history, and an optional co-director) and the legal notices (mentions
//! légales, LCEN 6-III) published as numbered versions and checked each school year.
//!
//! One stream per establishment. The director changes with the head of the establishment, so a
//! designation never overwrites the previous one: it starts on a date, and the previous one ends
//! there. The notices must name the designated director; when the director changes, the notices
//! need a new version, and `notices_need_review` says so.
//!
//! Who may act: an establishment admin of the establishment or a platform admin designates; the
//! designated director (acting as publication director), an establishment admin or a platform
//! admin publish and review the notices.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::actor::{Context, Profile};
use crate::deadline::paris_date;
use crate::error::DomainError;
use crate::ids::{AccountId, DesignationId, EstablishmentId, LegalNoticeId};
use crate::values::{Name, SchoolYear, Text};

/// A postal address: at most 500 bytes, several lines allowed.
pub type Address = Text<500, true>;

/// A telephone number as printed in the notices: a leading `+` allowed, then digits with optional
/// spaces, dots, hyphens or parentheses; 4 to 20 digits.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub const DIGITS_MIN: usize = 4;
    pub const DIGITS_MAX: usize = 20;

    pub fn parse(text: &str) -> Result<PhoneNumber, DomainError> {
        let text = text.trim();
        let body = text.strip_prefix('+').unwrap_or(text);
        let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '(' | ')');
        if !body.chars().all(allowed) {
            return Err(DomainError::invalid(format!(
                "{text:?} is not a telephone number"
            )));
        }
        let digits = body.chars().filter(char::is_ascii_digit).count();
        if !(PhoneNumber::DIGITS_MIN..=PhoneNumber::DIGITS_MAX).contains(&digits) {
            return Err(DomainError::invalid(format!(
                "a telephone number has {}..={} digits, {text:?} has {digits}",
                PhoneNumber::DIGITS_MIN,
                PhoneNumber::DIGITS_MAX
            )));
        }
        Ok(PhoneNumber(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = DomainError;
    fn try_from(text: String) -> Result<Self, DomainError> {
        PhoneNumber::parse(&text)
    }
}

impl From<PhoneNumber> for String {
    fn from(phone: PhoneNumber) -> String {
        phone.0
    }
}

/// A person named as publication director or co-director.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NamedAccount {
    pub account: AccountId,
    pub name: Name,
}

/// A designation of the publication director, effective from a date until the next one.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Designation {
    pub designation: DesignationId,
    pub director: NamedAccount,
    pub co_director: Option<NamedAccount>,
    /// The Paris calendar date from which the designation holds.
    pub effective_from: Date,
}

/// The fields the LCEN requires in the legal notices of an online public communication service.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LegalNoticeFields {
    /// The publishing organisation (the establishment, or the body running the service).
    pub publisher_name: Name,
    pub registered_office: Address,
    pub publisher_phone: PhoneNumber,
    pub director_name: Name,
    pub co_director_name: Option<Name>,
    pub host_name: Name,
    pub host_address: Address,
    pub host_phone: PhoneNumber,
}

/// One published version of the legal notices.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LegalNoticeVersion {
    pub notice: LegalNoticeId,
    /// 1 for the first version, then one more each time.
    pub version: u32,
    pub fields: LegalNoticeFields,
    /// The Paris calendar date of publication.
    pub published_on: Date,
}

/// The legal identity of one establishment's publishing, rebuilt from its events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LegalState {
    pub establishment: Option<EstablishmentId>,
    /// Every designation, oldest first.
    pub designations: Vec<Designation>,
    /// Every version of the notices, oldest first.
    pub notices: Vec<LegalNoticeVersion>,
    /// The Paris dates on which the current notices were checked, oldest first.
    pub reviews: Vec<Date>,
}

impl LegalState {
    /// The designation in force on a Paris calendar date: the latest one effective by then.
    pub fn director_on(&self, date: Date) -> Option<&Designation> {
        self.designations
            .iter()
            .rev()
            .find(|d| d.effective_from <= date)
    }

    /// The notices currently published.
    pub fn current_notices(&self) -> Option<&LegalNoticeVersion> {
        self.notices.last()
    }

    /// Whether the account is the director or co-director designated on that date.
    pub fn is_director_on(&self, account: AccountId, date: Date) -> bool {
        self.director_on(date).is_some_and(|d| {
            d.director.account == account
                || d.co_director.as_ref().is_some_and(|c| c.account == account)
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum LegalCommand {
    DesignateDirector {
        establishment: EstablishmentId,
        designation: DesignationId,
        director: NamedAccount,
        co_director: Option<NamedAccount>,
        effective_from: Date,
    },
    PublishNotices {
        establishment: EstablishmentId,
        notice: LegalNoticeId,
        fields: LegalNoticeFields,
    },
    /// Records that the current notices were checked and still hold.
    ReviewNotices { establishment: EstablishmentId },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LegalEvent {
    DirectorDesignated {
        establishment: EstablishmentId,
        designation: Designation,
        /// The designation this one ends, if any.
        previous: Option<DesignationId>,
    },
    NoticesPublished {
        establishment: EstablishmentId,
        version: LegalNoticeVersion,
    },
    NoticesReviewed {
        establishment: EstablishmentId,
        version: u32,
        school_year: SchoolYear,
        reviewed_on: Date,
    },
}

/// The legal stream of one establishment.
pub fn stream_id(establishment: EstablishmentId) -> String {
    format!("legal-{establishment}")
}

/// The stream a legal event belongs to.
pub fn event_stream_id(event: &LegalEvent) -> String {
    match event {
        LegalEvent::DirectorDesignated { establishment, .. }
        | LegalEvent::NoticesPublished { establishment, .. }
        | LegalEvent::NoticesReviewed { establishment, .. } => stream_id(*establishment),
    }
}

fn ensure_same_establishment(
    state: &LegalState,
    establishment: EstablishmentId,
) -> Result<(), DomainError> {
    match state.establishment {
        Some(known) if known != establishment => Err(DomainError::invalid(format!(
            "this legal record belongs to establishment {known}, not {establishment}"
        ))),
        _ => Ok(()),
    }
}

fn may_designate(ctx: &Context, establishment: EstablishmentId) -> bool {
    ctx.actor
        .acts_as_in(Profile::EstablishmentAdmin, establishment)
        || ctx.actor.is_platform_admin()
}

fn may_manage_notices(
    state: &LegalState,
    ctx: &Context,
    establishment: EstablishmentId,
    today: Date,
) -> bool {
    let designated_director = ctx
        .actor
        .acts_as_in(Profile::PublicationDirector, establishment)
        && state.is_director_on(ctx.actor.account, today);
    designated_director || may_designate(ctx, establishment)
}

/// Whether the notices name the director and co-director designated in `designation`.
fn notices_name(fields: &LegalNoticeFields, designation: &Designation) -> bool {
    fields.director_name == designation.director.name
        && fields.co_director_name.as_ref() == designation.co_director.as_ref().map(|c| &c.name)
}

pub fn decide(
    state: &LegalState,
    command: &LegalCommand,
    ctx: &Context,
) -> Result<Vec<LegalEvent>, DomainError> {
    let today = paris_date(ctx.now)?;
    match command {
        LegalCommand::DesignateDirector {
            establishment,
            designation,
            director,
            co_director,
            effective_from,
        } => {
            ensure_same_establishment(state, *establishment)?;
            if !may_designate(ctx, *establishment) {
                return Err(DomainError::forbidden(
                    "only an establishment admin designates the publication director",
                ));
            }
            if state
                .designations
                .iter()
                .any(|d| d.designation == *designation)
            {
                return Err(DomainError::conflict(format!(
                    "designation {designation} already exists"
                )));
            }
            if co_director
                .as_ref()
                .is_some_and(|c| c.account == director.account)
            {
                return Err(DomainError::invalid(
                    "the co-director must be another person than the director",
                ));
            }
            let latest = state.designations.last();
            if let Some(latest) = latest {
                if *effective_from < latest.effective_from {
                    return Err(DomainError::conflict(format!(
                        "a designation takes effect on {}; a new one cannot start earlier ({})",
                        latest.effective_from, effective_from
                    )));
                }
                if latest.director == *director && latest.co_director == *co_director {
                    return Err(DomainError::conflict(
                        "this director and co-director are already designated",
                    ));
                }
            }
            Ok(vec![LegalEvent::DirectorDesignated {
                establishment: *establishment,
                designation: Designation {
                    designation: *designation,
                    director: director.clone(),
                    co_director: co_director.clone(),
                    effective_from: *effective_from,
                },
                previous: latest.map(|d| d.designation),
            }])
        }
        LegalCommand::PublishNotices {
            establishment,
            notice,
            fields,
        } => {
            ensure_same_establishment(state, *establishment)?;
            if !may_manage_notices(state, ctx, *establishment, today) {
                return Err(DomainError::forbidden(
                    "only the designated publication director or an establishment admin publishes the legal notices",
                ));
            }
            let Some(designation) = state.director_on(today) else {
                return Err(DomainError::conflict(
                    "no publication director is designated yet: designate one before publishing the notices",
                ));
            };
            if !notices_name(fields, designation) {
                return Err(DomainError::invalid(format!(
                    "the notices must name the designated director {} and co-director {}",
                    designation.director.name,
                    designation
                        .co_director
                        .as_ref()
                        .map_or("(none)", |c| c.name.as_str())
                )));
            }
            if state.notices.iter().any(|v| v.notice == *notice) {
                return Err(DomainError::conflict(format!(
                    "notice version {notice} already exists"
                )));
            }
            if state.current_notices().is_some_and(|v| v.fields == *fields) {
                return Err(DomainError::conflict(
                    "these notices are already the published version",
                ));
            }
            let version = u32::try_from(state.notices.len() + 1)
                .map_err(|_| DomainError::invalid("too many versions of the legal notices"))?;
            Ok(vec![LegalEvent::NoticesPublished {
                establishment: *establishment,
                version: LegalNoticeVersion {
                    notice: *notice,
                    version,
                    fields: fields.clone(),
                    published_on: today,
                },
            }])
        }
        LegalCommand::ReviewNotices { establishment } => {
            ensure_same_establishment(state, *establishment)?;
            if !may_manage_notices(state, ctx, *establishment, today) {
                return Err(DomainError::forbidden(
                    "only the designated publication director or an establishment admin reviews the legal notices",
                ));
            }
            let Some(current) = state.current_notices() else {
                return Err(DomainError::not_found(
                    "no legal notices have been published yet",
                ));
            };
            match state.director_on(today) {
                Some(designation) if notices_name(&current.fields, designation) => {}
                _ => {
                    return Err(DomainError::conflict(
                        "the notices do not name the director designated today: publish a new version",
                    ));
                }
            }
            Ok(vec![LegalEvent::NoticesReviewed {
                establishment: *establishment,
                version: current.version,
                school_year: SchoolYear::of(today)?,
                reviewed_on: today,
            }])
        }
    }
}

pub fn evolve(mut state: LegalState, event: &LegalEvent) -> LegalState {
    match event {
        LegalEvent::DirectorDesignated {
            establishment,
            designation,
            ..
        } => {
            state.establishment = Some(*establishment);
            state.designations.push(designation.clone());
        }
        LegalEvent::NoticesPublished {
            establishment,
            version,
        } => {
            state.establishment = Some(*establishment);
            state.notices.push(version.clone());
            state.reviews.clear();
        }
        LegalEvent::NoticesReviewed {
            establishment,
            reviewed_on,
            ..
        } => {
            state.establishment = Some(*establishment);
            state.reviews.push(*reviewed_on);
        }
    }
    state
}

/// Whether an establishment's notices were not checked during the school year of `today`: there
/// are none, or neither the current version's publication nor any review of it falls in that
/// school year, or they no longer name the director designated `today`.
pub fn notices_need_review(state: &LegalState, today: Date) -> Result<bool, DomainError> {
    let school_year = SchoolYear::of(today)?;
    let Some(current) = state.current_notices() else {
        return Ok(true);
    };
    let names_director = state
        .director_on(today)
        .is_some_and(|d| notices_name(&current.fields, d));
    let checked_this_year = school_year.contains(current.published_on)
        || state.reviews.iter().any(|day| school_year.contains(*day));
    Ok(!(names_director && checked_this_year))
}

/// The establishments among `states` whose notices need a review during the school year of
/// `today` (see `notices_need_review`). States without any event are skipped.
pub fn establishments_needing_review<'a>(
    states: impl IntoIterator<Item = &'a LegalState>,
    today: Date,
) -> Result<Vec<EstablishmentId>, DomainError> {
    let mut due = Vec::new();
    for state in states {
        let Some(establishment) = state.establishment else {
            continue;
        };
        if notices_need_review(state, today)? {
            due.push(establishment);
        }
    }
    Ok(due)
}
