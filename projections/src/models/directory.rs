//! The directory: establishments, accounts (by id, by establishment, by login), profiles, family
//! links, classes with their students, groups and teachers — and, from these, the facts the application layer hands to the domain: the acting [`Actor`],
//! the messaging [`RecipientFacts`] and [`SenderFacts`], and who may write to whom.
//!
//! Personal data (names, login, credentials, family links) disappears from the view on the
//! `account.personal_data_erased` event; the account stays listed as erased, without a name.
//!
//! Key layout (tree `directory@v<version>`), besides the class and family facts of
//! [`super::school::facts`] (`m.*`):
//!
//! | key                              | value                                       |
//! |----------------------------------|---------------------------------------------|
//! | `acct/<account>`                 | [`Account`]                                 |
//! | `cred/<account>`                 | the argon2 `PasswordHash`                   |
//! | `login/<login>\0`                | the `AccountId`                             |
//! | `est.acct/<establishment><acct>` | the profiles held there (`Vec<Profile>`)    |
//! | `est/<establishment>`            | [`Establishment`]                           |
//! | `uai/<uai>\0`                    | the `EstablishmentId`                       |
//! | `est.cls/<establishment><class>` | the `ClassId`                               |
//!
//! Login sessions are not here: the server keeps its session table in memory, rebuilt from the
//! log at start, and nothing read the records this view once kept per session (two writes per
//! login, two thirds of the directory's rebuild time).

use std::sync::Arc;

use domain::account::AccountEvent;
use domain::actor::{Actor, Grant, PartnerKind, Profile, Teaching};
use domain::establishment::EstablishmentEvent;
use domain::event::EventBody;
use domain::ids::{AccountId, ClassId, EstablishmentId};
use domain::messaging::{self, RecipientFacts, SenderFacts};
use domain::values::{EstablishmentKind, Login, Name, PasswordHash, SchoolYear, Sector, Uai};
use eventlog::RecordedEvent;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::school::facts::{self, ClassFacts};
use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt};
use crate::{Projection, ProjectionError};

pub use super::school::facts::{children_of, class_facts, parents_of, teachings_of};

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Directory)]
}

/// The directory read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Directory;

/// The event families the directory reads (not logins, sessions and service visits, the busiest
/// account events, which the directory has no use for).
const FAMILIES: &[&str] = &[
    "establishment.",
    "class.",
    "account.created",
    "account.profile_granted",
    "account.credentials_set",
    "account.child_",
    "account.partner_organisation_recorded",
    "account.deactivated",
    "account.personal_data_erased",
];

impl Projection for Directory {
    fn name(&self) -> &'static str {
        "directory"
    }

    fn version(&self) -> u32 {
        // v2: accounts carry the partner organisation. v3: no login sessions.
        3
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        if !facts::in_families(&event.event_type, FAMILIES) {
            return Ok(());
        }
        let decoded = facts::decode(event)?;
        facts::apply_facts(store, &decoded.body)?;
        match &decoded.body {
            EventBody::Establishment(e) => apply_establishment(store, e),
            EventBody::Account(e) => apply_account(store, e, decoded.at),
            EventBody::Class(domain::class::ClassEvent::Opened {
                class,
                establishment,
                ..
            }) => {
                store.put_value(establishment_class_key(*establishment, *class), class)?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Where an account stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountStatus {
    Active,
    /// No longer needed since `since`; the retention period runs.
    Deactivated {
        since: Timestamp,
    },
    /// Personal data erased: no name, no login, no credentials, no family link.
    Erased,
}

/// An account as the directory shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub account: AccountId,
    /// `None` once erased.
    pub login: Option<Login>,
    /// `None` once erased.
    pub given_name: Option<Name>,
    /// `None` once erased.
    pub family_name: Option<Name>,
    /// Every profile held, per establishment, in the order granted.
    pub grants: Vec<Grant>,
    pub status: AccountStatus,
    pub created_at: Timestamp,
    /// For a partner account: the organisation it speaks for and its kind.
    pub partner_organisation: Option<(Name, PartnerKind)>,
}

impl Account {
    /// "Given Family", or `None` once erased.
    pub fn display_name(&self) -> Option<String> {
        match (&self.given_name, &self.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            _ => None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == AccountStatus::Active
    }

    /// The profiles held in `establishment`, in the order granted.
    pub fn profiles_in(&self, establishment: EstablishmentId) -> Vec<Profile> {
        self.grants
            .iter()
            .filter(|g| g.establishment == establishment)
            .map(|g| g.profile)
            .collect()
    }
}

/// An establishment as the directory shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Establishment {
    pub establishment: EstablishmentId,
    pub uai: Uai,
    pub name: Name,
    pub kind: EstablishmentKind,
    pub sector: Sector,
    pub academie: Name,
    pub commune: Name,
    /// The date the ENT is deployed since, while it is deployed.
    pub deployed_on: Option<Date>,
    /// The date the ENT was last withdrawn, if it was.
    pub withdrawn_on: Option<Date>,
}

/// What a login needs: the account behind a login identifier and its credential hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginCredentials {
    pub account: AccountId,
    /// `None` until credentials are set.
    pub password_hash: Option<PasswordHash>,
    pub active: bool,
}

/// An account of an establishment with the profiles it holds there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub account: Account,
    pub profiles: Vec<Profile>,
}

fn account_key(account: AccountId) -> Vec<u8> {
    Key::new("acct").uuid(account.as_uuid()).into_vec()
}

fn credentials_key(account: AccountId) -> Vec<u8> {
    Key::new("cred").uuid(account.as_uuid()).into_vec()
}

fn login_key(login: &str) -> Vec<u8> {
    Key::new("login").str(login).into_vec()
}

fn establishment_account_key(establishment: EstablishmentId, account: AccountId) -> Vec<u8> {
    Key::new("est.acct")
        .uuid(establishment.as_uuid())
        .uuid(account.as_uuid())
        .into_vec()
}

fn establishment_key(establishment: EstablishmentId) -> Vec<u8> {
    Key::new("est").uuid(establishment.as_uuid()).into_vec()
}

fn uai_key(uai: &Uai) -> Vec<u8> {
    Key::new("uai").str(uai.as_str()).into_vec()
}

fn establishment_class_key(establishment: EstablishmentId, class: ClassId) -> Vec<u8> {
    Key::new("est.cls")
        .uuid(establishment.as_uuid())
        .uuid(class.as_uuid())
        .into_vec()
}

fn apply_establishment(
    store: &mut dyn Store,
    event: &EstablishmentEvent,
) -> Result<(), ProjectionError> {
    match event {
        EstablishmentEvent::Registered {
            establishment,
            uai,
            name,
            kind,
            sector,
            academie,
            commune,
        } => {
            let record = Establishment {
                establishment: *establishment,
                uai: *uai,
                name: name.clone(),
                kind: *kind,
                sector: *sector,
                academie: academie.clone(),
                commune: commune.clone(),
                deployed_on: None,
                withdrawn_on: None,
            };
            store.put_value(establishment_key(*establishment), &record)?;
            store.put_value(uai_key(uai), establishment)?;
        }
        EstablishmentEvent::EntDeployed {
            establishment, on, ..
        } => {
            let mut record = require_establishment(store, *establishment)?;
            record.deployed_on = Some(*on);
            store.put_value(establishment_key(*establishment), &record)?;
        }
        EstablishmentEvent::EntWithdrawn {
            establishment, on, ..
        } => {
            let mut record = require_establishment(store, *establishment)?;
            record.deployed_on = None;
            record.withdrawn_on = Some(*on);
            store.put_value(establishment_key(*establishment), &record)?;
        }
    }
    Ok(())
}

fn require_establishment(
    store: &dyn Store,
    establishment: EstablishmentId,
) -> Result<Establishment, ProjectionError> {
    store
        .get_value(&establishment_key(establishment))?
        .ok_or_else(|| {
            ProjectionError::Inconsistent(format!(
                "establishment {establishment} is not registered"
            ))
        })
}

fn require_account(store: &dyn Store, account: AccountId) -> Result<Account, ProjectionError> {
    store
        .get_value(&account_key(account))?
        .ok_or_else(|| ProjectionError::Inconsistent(format!("account {account} does not exist")))
}

fn put_grants_index(store: &mut dyn Store, record: &Account) -> Result<(), StoreError> {
    let mut establishments: Vec<EstablishmentId> =
        record.grants.iter().map(|g| g.establishment).collect();
    establishments.sort();
    establishments.dedup();
    for establishment in establishments {
        store.put_value(
            establishment_account_key(establishment, record.account),
            &record.profiles_in(establishment),
        )?;
    }
    Ok(())
}

fn apply_account(
    store: &mut dyn Store,
    event: &AccountEvent,
    at: Timestamp,
) -> Result<(), ProjectionError> {
    match event {
        AccountEvent::Created {
            account,
            establishment,
            profiles,
            login,
            given_name,
            family_name,
        } => {
            let record = Account {
                account: *account,
                login: Some(login.clone()),
                given_name: Some(given_name.clone()),
                family_name: Some(family_name.clone()),
                grants: profiles
                    .iter()
                    .map(|p| Grant {
                        establishment: *establishment,
                        profile: *p,
                    })
                    .collect(),
                status: AccountStatus::Active,
                created_at: at,
                partner_organisation: None,
            };
            store.put_value(account_key(*account), &record)?;
            store.put_value(login_key(login.as_str()), account)?;
            put_grants_index(store, &record)?;
        }
        AccountEvent::ProfileGranted {
            account,
            establishment,
            profile,
        } => {
            let mut record = require_account(store, *account)?;
            let grant = Grant {
                establishment: *establishment,
                profile: *profile,
            };
            if !record.grants.contains(&grant) {
                record.grants.push(grant);
            }
            store.put_value(account_key(*account), &record)?;
            put_grants_index(store, &record)?;
        }
        AccountEvent::CredentialsSet {
            account,
            password_hash,
        } => {
            require_account(store, *account)?;
            store.put_value(credentials_key(*account), password_hash)?;
        }
        AccountEvent::ChildLinked { .. } | AccountEvent::ChildUnlinked { .. } => {}
        AccountEvent::PartnerOrganisationRecorded {
            account,
            organisation,
            kind,
        } => {
            let mut record = require_account(store, *account)?;
            record.partner_organisation = Some((organisation.clone(), *kind));
            store.put_value(account_key(*account), &record)?;
        }
        AccountEvent::Deactivated { account, since, .. } => {
            let mut record = require_account(store, *account)?;
            if record.status != AccountStatus::Erased {
                record.status = AccountStatus::Deactivated { since: *since };
            }
            store.put_value(account_key(*account), &record)?;
        }
        AccountEvent::PersonalDataErased { account, .. } => {
            let mut record = require_account(store, *account)?;
            if let Some(login) = &record.login {
                store.delete(&login_key(login.as_str()))?;
            }
            store.delete(&credentials_key(*account))?;
            record.login = None;
            record.given_name = None;
            record.family_name = None;
            record.status = AccountStatus::Erased;
            store.put_value(account_key(*account), &record)?;
        }
        AccountEvent::LoggedIn { .. }
        | AccountEvent::ServiceVisited { .. }
        | AccountEvent::NotificationsRead { .. }
        | AccountEvent::SessionOpened { .. }
        | AccountEvent::SessionClosed { .. } => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/// One account, if it exists.
pub fn account(store: &dyn ReadStore, account: AccountId) -> Result<Option<Account>, StoreError> {
    store.get_value(&account_key(account))
}

/// The account behind a login identifier (erased accounts have none).
pub fn account_by_login(
    store: &dyn ReadStore,
    login: &str,
) -> Result<Option<AccountId>, StoreError> {
    store.get_value(&login_key(login))
}

/// What a login checks: the account of `login`, its credential hash and whether it is active.
pub fn login_credentials(
    store: &dyn ReadStore,
    login: &str,
) -> Result<Option<LoginCredentials>, StoreError> {
    let Some(id) = account_by_login(store, login)? else {
        return Ok(None);
    };
    let Some(record) = account(store, id)? else {
        return Ok(None);
    };
    Ok(Some(LoginCredentials {
        account: id,
        password_hash: store.get_value(&credentials_key(id))?,
        active: record.is_active(),
    }))
}

/// The accounts holding a profile in `establishment` (active, deactivated and erased), with the
/// profiles they hold there, in account id order.
pub fn accounts_of_establishment(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
) -> Result<Vec<Member>, StoreError> {
    let prefix = Key::new("est.acct")
        .uuid(establishment.as_uuid())
        .into_vec();
    let mut out = Vec::new();
    for (key, profiles) in store.scan_values::<Vec<Profile>>(&prefix)? {
        let Some(id) = facts::tail_uuid(&key).map(AccountId::from_uuid) else {
            continue;
        };
        if let Some(account) = account(store, id)? {
            out.push(Member { account, profiles });
        }
    }
    Ok(out)
}

/// One establishment.
pub fn establishment(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
) -> Result<Option<Establishment>, StoreError> {
    store.get_value(&establishment_key(establishment))
}

/// The establishment registered under `uai`.
pub fn establishment_by_uai(
    store: &dyn ReadStore,
    uai: &Uai,
) -> Result<Option<Establishment>, StoreError> {
    match store.get_value::<EstablishmentId>(&uai_key(uai))? {
        Some(id) => establishment(store, id),
        None => Ok(None),
    }
}

/// Every establishment, in id order.
pub fn establishments(store: &dyn ReadStore) -> Result<Vec<Establishment>, StoreError> {
    Ok(store
        .scan_values::<Establishment>(Key::new("est").as_bytes())?
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

/// The classes of an establishment (every school year), in id order.
pub fn classes_of_establishment(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
) -> Result<Vec<ClassFacts>, StoreError> {
    let prefix = Key::new("est.cls").uuid(establishment.as_uuid()).into_vec();
    let mut out = Vec::new();
    for (_, class) in store.scan_values::<ClassId>(&prefix)? {
        out.extend(class_facts(store, class)?);
    }
    Ok(out)
}

/// The classes a student is enrolled in now (across school years), with their members.
pub fn classes_of_student(
    store: &dyn ReadStore,
    student: AccountId,
) -> Result<Vec<ClassFacts>, StoreError> {
    let mut out = Vec::new();
    for class in facts::classes_of_student(store, student)? {
        out.extend(class_facts(store, class)?);
    }
    Ok(out)
}

/// The class a student is enrolled in during `year`, if any (the `Enrol` command's fact).
pub fn enrolled_class(
    store: &dyn ReadStore,
    student: AccountId,
    year: SchoolYear,
) -> Result<Option<ClassId>, StoreError> {
    Ok(classes_of_student(store, student)?
        .into_iter()
        .find(|c| c.year == year)
        .map(|c| c.class))
}

/// Whether `account` is an active account holding `profile` in `establishment` (the
/// `is_student_here` / `is_teacher_here` facts of the class commands).
pub fn holds_active_profile(
    store: &dyn ReadStore,
    account_id: AccountId,
    establishment: EstablishmentId,
    profile: Profile,
) -> Result<bool, StoreError> {
    Ok(account(store, account_id)?
        .is_some_and(|a| a.is_active() && a.profiles_in(establishment).contains(&profile)))
}

/// The acting [`Actor`] of `account_id` under `acting_as`, with every fact the policy reads:
/// grants, children, and the classes taught, enrolled in and groups of school year `year`.
/// `None` when the account does not exist or is not active (it may not act).
pub fn actor_facts(
    store: &dyn ReadStore,
    account_id: AccountId,
    acting_as: Profile,
    year: SchoolYear,
) -> Result<Option<Actor>, StoreError> {
    let Some(record) = account(store, account_id)? else {
        return Ok(None);
    };
    if !record.is_active() {
        return Ok(None);
    }
    let mut actor = Actor::new(account_id, acting_as);
    actor.grants = record.grants.clone();
    actor.partner_kind = record.partner_organisation.as_ref().map(|(_, kind)| *kind);
    actor.children = children_of(store, account_id)?;
    let in_year = |class: ClassId| -> Result<bool, StoreError> {
        Ok(class_facts(store, class)?.is_some_and(|c| c.year == year))
    };
    for teaching in teachings_of(store, account_id)? {
        if in_year(teaching.class)? {
            actor.teaches.push(teaching);
        }
    }
    for class in facts::classes_of_student(store, account_id)? {
        if in_year(class)? {
            actor.enrolled_in.push(class);
        }
    }
    for (group, class) in facts::groups_of_student(store, account_id)? {
        if in_year(class)? {
            actor.groups.push(group);
        }
    }
    Ok(Some(actor))
}

/// What messaging needs to know about a prospective recipient in `establishment` during `year`.
/// A deactivated or erased account holds no profile there, so nobody may write to it.
pub fn recipient_facts(
    store: &dyn ReadStore,
    account_id: AccountId,
    establishment: EstablishmentId,
    year: SchoolYear,
) -> Result<RecipientFacts, StoreError> {
    let mut facts = RecipientFacts {
        account: account_id,
        profiles: Vec::new(),
        enrolled_in: Vec::new(),
        teaches: Vec::new(),
    };
    let Some(record) = account(store, account_id)? else {
        return Ok(facts);
    };
    if !record.is_active() {
        return Ok(facts);
    }
    facts.profiles = record.profiles_in(establishment);
    let here = |class: ClassId| -> Result<bool, StoreError> {
        Ok(class_facts(store, class)?
            .is_some_and(|c| c.year == year && c.establishment == establishment))
    };
    for class in facts::classes_of_student(store, account_id)? {
        if here(class)? {
            facts.enrolled_in.push(class);
        }
    }
    let teachings: Vec<Teaching> = teachings_of(store, account_id)?;
    for teaching in teachings {
        if here(teaching.class)? && !facts.teaches.contains(&teaching.class) {
            facts.teaches.push(teaching.class);
        }
    }
    Ok(facts)
}

/// What messaging needs to know about a writer beyond the actor: the classes their children
/// are enrolled in during `year`.
pub fn sender_facts(
    store: &dyn ReadStore,
    sender: AccountId,
    year: SchoolYear,
) -> Result<SenderFacts, StoreError> {
    let mut out = SenderFacts::default();
    for child in children_of(store, sender)? {
        for class in classes_of_student(store, child)? {
            if class.year == year && !out.children_classes.contains(&class.class) {
                out.children_classes.push(class.class);
            }
        }
    }
    Ok(out)
}

/// Whether `sender` may write to `recipient` in `establishment` (the domain's rule, with the
/// facts of this view for school year `year`).
pub fn may_write_to(
    store: &dyn ReadStore,
    sender: &Actor,
    establishment: EstablishmentId,
    recipient: AccountId,
    year: SchoolYear,
) -> Result<bool, StoreError> {
    let sender_facts = sender_facts(store, sender.account, year)?;
    let recipient = recipient_facts(store, recipient, establishment, year)?;
    Ok(messaging::may_write_to(
        sender,
        &sender_facts,
        establishment,
        &recipient,
    ))
}

/// Everyone of `establishment` that `sender` may write to, in account id order.
pub fn writable_recipients(
    store: &dyn ReadStore,
    sender: &Actor,
    establishment: EstablishmentId,
    year: SchoolYear,
) -> Result<Vec<AccountId>, StoreError> {
    let sender_facts = sender_facts(store, sender.account, year)?;
    let mut out = Vec::new();
    for member in accounts_of_establishment(store, establishment)? {
        let recipient = recipient_facts(store, member.account.account, establishment, year)?;
        if messaging::may_write_to(sender, &sender_facts, establishment, &recipient) {
            out.push(member.account.account);
        }
    }
    Ok(out)
}
