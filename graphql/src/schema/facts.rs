//! The facts commands need from outside their aggregate: who the viewer is (the domain
//! [`Actor`] with grants, children, classes taught and enrolled in, work groups), and the
//! "fact" fields of commands (is this login taken, is this student enrolled here, is this
//! teacher assigned, who may receive this message…).
//!
//! [`Directory`] is an in-memory index of accounts, establishments, classes, timetables and
//! publication-director designations. It is kept current by reading the log's tail before each
//! use ([`Directory::catch_up`]), so a mutation always decides on facts that include every write
//! acknowledged before it — including the client's own previous one. It reads only the event
//! types it indexes and decodes them with the domain's codec.
//!
//! The publication-director profile is honoured only for the account (or co-director)
//! designated in the establishment's legal stream: a grant alone does not make a director.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use domain::account::AccountEvent;
use domain::actor::{Grant, PartnerKind};
use domain::class::ClassEvent;
use domain::deadline::paris_date;
use domain::establishment::EstablishmentEvent;
use domain::ids::{AccountId, ClassId, EstablishmentId, GroupId, SlotId};
use domain::legal::{self, LegalEvent, LegalState};
use domain::messaging::{RecipientFacts, SenderFacts};
use domain::timetable::TimetableEvent;
use domain::values::{Day, Name, Room, SchoolYear, Subject, TimeRange};
use domain::{Actor, EventBody, Profile};
use eventlog::{EventStore, Position};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::auth::Session;
use crate::errors::ApiError;

/// Event type prefixes the directory reads; every other event is skipped without decoding.
const INDEXED_PREFIXES: [&str; 5] = [
    "account.",
    "class.",
    "establishment.",
    "legal.",
    "timetable.",
];

/// What the directory knows about one account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountEntry {
    pub id: AccountId,
    pub login: String,
    pub given_name: Option<Name>,
    pub family_name: Option<Name>,
    /// Every profile granted, per establishment, as the account's events say (the
    /// publication-director grant is filtered by designation in [`Directory::actor`]).
    pub grants: Vec<Grant>,
    /// The argon2 PHC string, once credentials are set.
    pub password_phc: Option<String>,
    pub children: Vec<AccountId>,
    /// For a partner account: the kind of organisation it speaks for, once recorded.
    pub partner_kind: Option<PartnerKind>,
    pub active: bool,
    pub erased: bool,
}

impl AccountEntry {
    pub fn holds_in(&self, profile: Profile, establishment: EstablishmentId) -> bool {
        self.grants
            .iter()
            .any(|g| g.profile == profile && g.establishment == establishment)
    }

    /// The profiles held in `establishment`.
    pub fn profiles_in(&self, establishment: EstablishmentId) -> Vec<Profile> {
        let mut out: Vec<Profile> = self
            .grants
            .iter()
            .filter(|g| g.establishment == establishment)
            .map(|g| g.profile)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The establishments the account holds a profile in.
    pub fn establishments(&self) -> Vec<EstablishmentId> {
        let mut out: Vec<EstablishmentId> = self.grants.iter().map(|g| g.establishment).collect();
        out.sort();
        out.dedup();
        out
    }
}

/// What the directory knows about one establishment.
#[derive(Debug, Clone, PartialEq)]
pub struct EstablishmentEntry {
    pub id: EstablishmentId,
    pub uai: String,
    pub name: Name,
    /// The publication-director designations, folded by the domain's own `evolve`.
    pub legal: LegalState,
}

/// What the directory knows about one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassEntry {
    pub id: ClassId,
    pub establishment: EstablishmentId,
    pub year: SchoolYear,
    pub name: Name,
    pub students: BTreeSet<AccountId>,
    pub teachers: BTreeSet<(AccountId, Subject)>,
    pub groups: BTreeMap<GroupId, Vec<AccountId>>,
}

/// One weekly timetable slot, for clash detection across classes.
#[derive(Debug, Clone, PartialEq)]
struct SlotEntry {
    class: ClassId,
    establishment: EstablishmentId,
    teacher: AccountId,
    room: Option<Room>,
    day: Day,
    time: TimeRange,
}

#[derive(Debug, Default)]
struct Index {
    /// The last log position applied.
    position: Position,
    accounts: HashMap<AccountId, AccountEntry>,
    by_login: HashMap<String, AccountId>,
    establishments: HashMap<EstablishmentId, EstablishmentEntry>,
    by_uai: HashMap<String, EstablishmentId>,
    classes: HashMap<ClassId, ClassEntry>,
    slots: HashMap<SlotId, SlotEntry>,
}

/// The in-memory directory. Shared as `Arc<Directory>` in the schema's data.
#[derive(Debug, Default)]
pub struct Directory {
    index: Mutex<Index>,
}

/// A consistent view of the directory, held while a command's facts are gathered.
pub struct View<'a> {
    index: std::sync::MutexGuard<'a, Index>,
    /// The Paris calendar date of the view, for designations that take effect on a date.
    today: Date,
}

impl Directory {
    pub fn new() -> Self {
        Directory::default()
    }

    /// Applies every indexed event written after the last one seen and returns a view of the
    /// result as of `now`. Cheap when nothing new was written.
    pub fn catch_up(&self, store: &dyn EventStore, now: Timestamp) -> Result<View<'_>, ApiError> {
        let today = paris_date(now)
            .map_err(|e| ApiError::Internal(format!("no Paris calendar date: {e}")))?;
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if store.head().position > index.position {
            for record in store.read_all(index.position + 1)? {
                let record = record?;
                index.position = record.position;
                if !INDEXED_PREFIXES
                    .iter()
                    .any(|p| record.event_type.starts_with(p))
                {
                    continue;
                }
                let event = crate::app::decode(&record)?;
                index.apply(&event.body);
            }
        }
        Ok(View { index, today })
    }
}

impl Index {
    fn apply(&mut self, body: &EventBody) {
        match body {
            EventBody::Account(event) => self.apply_account(event),
            EventBody::Class(event) => self.apply_class(event),
            EventBody::Establishment(event) => self.apply_establishment(event),
            EventBody::Legal(event) => self.apply_legal(event),
            EventBody::Timetable(event) => self.apply_timetable(event),
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn apply_account(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Created {
                account,
                establishment,
                profiles,
                login,
                given_name,
                family_name,
            } => {
                self.by_login.insert(login.as_str().to_owned(), *account);
                self.accounts.insert(
                    *account,
                    AccountEntry {
                        id: *account,
                        login: login.as_str().to_owned(),
                        given_name: Some(given_name.clone()),
                        family_name: Some(family_name.clone()),
                        grants: profiles
                            .iter()
                            .map(|p| Grant {
                                establishment: *establishment,
                                profile: *p,
                            })
                            .collect(),
                        password_phc: None,
                        children: Vec::new(),
                        partner_kind: None,
                        active: true,
                        erased: false,
                    },
                );
            }
            AccountEvent::ProfileGranted {
                account,
                establishment,
                profile,
            } => {
                if let Some(entry) = self.accounts.get_mut(account) {
                    let grant = Grant {
                        establishment: *establishment,
                        profile: *profile,
                    };
                    if !entry.grants.contains(&grant) {
                        entry.grants.push(grant);
                    }
                }
            }
            AccountEvent::CredentialsSet {
                account,
                password_hash,
            } => {
                if let Some(entry) = self.accounts.get_mut(account) {
                    entry.password_phc = Some(password_hash.as_str().to_owned());
                }
            }
            AccountEvent::ChildLinked { account, child } => {
                if let Some(entry) = self.accounts.get_mut(account)
                    && !entry.children.contains(child)
                {
                    entry.children.push(*child);
                }
            }
            AccountEvent::ChildUnlinked { account, child } => {
                if let Some(entry) = self.accounts.get_mut(account) {
                    entry.children.retain(|c| c != child);
                }
            }
            AccountEvent::PartnerOrganisationRecorded { account, kind, .. } => {
                if let Some(entry) = self.accounts.get_mut(account) {
                    entry.partner_kind = Some(*kind);
                }
            }
            AccountEvent::Deactivated { account, .. } => {
                if let Some(entry) = self.accounts.get_mut(account) {
                    entry.active = false;
                    entry.password_phc = None;
                }
            }
            AccountEvent::PersonalDataErased { account, .. } => {
                if let Some(entry) = self.accounts.get_mut(account) {
                    entry.erased = true;
                    entry.active = false;
                    entry.password_phc = None;
                    entry.given_name = None;
                    entry.family_name = None;
                }
            }
            AccountEvent::LoggedIn { .. }
            | AccountEvent::SessionOpened { .. }
            | AccountEvent::SessionClosed { .. }
            | AccountEvent::ServiceVisited { .. }
            | AccountEvent::NotificationsRead { .. } => {}
        }
    }

    fn apply_class(&mut self, event: &ClassEvent) {
        match event {
            ClassEvent::Opened {
                class,
                establishment,
                year,
                name,
            } => {
                self.classes.insert(
                    *class,
                    ClassEntry {
                        id: *class,
                        establishment: *establishment,
                        year: *year,
                        name: name.clone(),
                        students: BTreeSet::new(),
                        teachers: BTreeSet::new(),
                        groups: BTreeMap::new(),
                    },
                );
            }
            ClassEvent::StudentEnrolled { class, student, .. } => {
                if let Some(entry) = self.classes.get_mut(class) {
                    entry.students.insert(*student);
                }
            }
            ClassEvent::StudentMoved { class, student, .. } => {
                if let Some(entry) = self.classes.get_mut(class) {
                    entry.students.remove(student);
                    for members in entry.groups.values_mut() {
                        members.retain(|m| m != student);
                    }
                }
            }
            ClassEvent::TeacherAssigned {
                class,
                teacher,
                subject,
            } => {
                if let Some(entry) = self.classes.get_mut(class) {
                    entry.teachers.insert((*teacher, subject.clone()));
                }
            }
            ClassEvent::TeacherUnassigned {
                class,
                teacher,
                subject,
            } => {
                if let Some(entry) = self.classes.get_mut(class) {
                    entry.teachers.remove(&(*teacher, subject.clone()));
                }
            }
            ClassEvent::GroupFormed {
                class,
                group,
                members,
                ..
            }
            | ClassEvent::GroupMembersChanged {
                class,
                group,
                members,
            } => {
                if let Some(entry) = self.classes.get_mut(class) {
                    entry.groups.insert(*group, members.clone());
                }
            }
            ClassEvent::GroupDissolved { class, group } => {
                if let Some(entry) = self.classes.get_mut(class) {
                    entry.groups.remove(group);
                }
            }
        }
    }

    fn apply_establishment(&mut self, event: &EstablishmentEvent) {
        if let EstablishmentEvent::Registered {
            establishment,
            uai,
            name,
            ..
        } = event
        {
            self.by_uai.insert(uai.as_str().to_owned(), *establishment);
            self.establishments.insert(
                *establishment,
                EstablishmentEntry {
                    id: *establishment,
                    uai: uai.as_str().to_owned(),
                    name: name.clone(),
                    legal: LegalState::default(),
                },
            );
        }
    }

    fn apply_legal(&mut self, event: &LegalEvent) {
        let establishment = match event {
            LegalEvent::DirectorDesignated { establishment, .. }
            | LegalEvent::NoticesPublished { establishment, .. }
            | LegalEvent::NoticesReviewed { establishment, .. } => establishment,
        };
        if let Some(entry) = self.establishments.get_mut(establishment) {
            let state = std::mem::take(&mut entry.legal);
            entry.legal = legal::evolve(state, event);
        }
    }

    fn apply_timetable(&mut self, event: &TimetableEvent) {
        match event {
            TimetableEvent::SlotAdded {
                class,
                establishment,
                slot,
                teacher,
                room,
                day,
                time,
                ..
            } => {
                self.slots.insert(
                    *slot,
                    SlotEntry {
                        class: *class,
                        establishment: *establishment,
                        teacher: *teacher,
                        room: room.clone(),
                        day: *day,
                        time: *time,
                    },
                );
            }
            TimetableEvent::SlotRemoved { slot, .. } => {
                self.slots.remove(slot);
            }
            TimetableEvent::OccurrenceChanged { .. }
            | TimetableEvent::OccurrenceCancelled { .. } => {}
        }
    }
}

impl View<'_> {
    /// The Paris calendar date the view answers for (designations in force that day).
    pub fn today(&self) -> Date {
        self.today
    }

    /// The log position the view includes.
    pub fn position(&self) -> Position {
        self.index.position
    }

    pub fn account(&self, account: AccountId) -> Option<&AccountEntry> {
        self.index.accounts.get(&account)
    }

    /// The account with this login (compared in lower case, spaces trimmed).
    pub fn account_by_login(&self, identifier: &str) -> Option<&AccountEntry> {
        let key = identifier.trim().to_lowercase();
        self.index
            .by_login
            .get(&key)
            .and_then(|id| self.index.accounts.get(id))
    }

    pub fn login_in_use(&self, login: &str) -> bool {
        self.index.by_login.contains_key(login)
    }

    pub fn establishment(&self, establishment: EstablishmentId) -> Option<&EstablishmentEntry> {
        self.index.establishments.get(&establishment)
    }

    pub fn uai_in_use(&self, uai: &str) -> bool {
        self.index.by_uai.contains_key(uai)
    }

    pub fn class(&self, class: ClassId) -> Option<&ClassEntry> {
        self.index.classes.get(&class)
    }

    /// Whether `account` is the publication director (or co-director) designated in
    /// `establishment` today.
    pub fn is_designated_director(
        &self,
        account: AccountId,
        establishment: EstablishmentId,
    ) -> bool {
        self.establishment(establishment)
            .is_some_and(|e| e.legal.is_director_on(account, self.today))
    }

    /// The grants that hold: every grant of an active account, except a publication-director
    /// grant in an establishment where the account is not the designated director.
    pub fn effective_grants(&self, account: &AccountEntry) -> Vec<Grant> {
        if !account.active {
            return Vec::new();
        }
        account
            .grants
            .iter()
            .filter(|g| {
                g.profile != Profile::PublicationDirector
                    || self.is_designated_director(account.id, g.establishment)
            })
            .copied()
            .collect()
    }

    /// The classes a student is enrolled in now.
    pub fn enrolled_in(&self, student: AccountId) -> Vec<ClassId> {
        let mut out: Vec<ClassId> = self
            .index
            .classes
            .values()
            .filter(|c| c.students.contains(&student))
            .map(|c| c.id)
            .collect();
        out.sort();
        out
    }

    /// The class of `year` a student is enrolled in, if any.
    pub fn enrolled_in_year(&self, student: AccountId, year: SchoolYear) -> Option<ClassId> {
        self.index
            .classes
            .values()
            .filter(|c| c.year == year && c.students.contains(&student))
            .map(|c| c.id)
            .min()
    }

    /// The classes taught, with their subjects.
    pub fn teaches(&self, teacher: AccountId) -> Vec<(ClassId, Subject)> {
        let mut out: Vec<(ClassId, Subject)> = self
            .index
            .classes
            .values()
            .flat_map(|c| {
                c.teachers
                    .iter()
                    .filter(|(t, _)| *t == teacher)
                    .map(|(_, s)| (c.id, s.clone()))
            })
            .collect();
        out.sort();
        out
    }

    /// The work groups a student belongs to.
    pub fn groups_of(&self, student: AccountId) -> Vec<GroupId> {
        let mut out: Vec<GroupId> = self
            .index
            .classes
            .values()
            .flat_map(|c| {
                c.groups
                    .iter()
                    .filter(|(_, members)| members.contains(&student))
                    .map(|(g, _)| *g)
            })
            .collect();
        out.sort();
        out
    }

    /// Whether `group` is a work group of `class`.
    pub fn group_in_class(&self, group: GroupId, class: ClassId) -> bool {
        self.class(class)
            .is_some_and(|c| c.groups.contains_key(&group))
    }

    /// Whether `account` is active and holds `profile` in `establishment`.
    pub fn active_holder(
        &self,
        account: AccountId,
        profile: Profile,
        establishment: EstablishmentId,
    ) -> bool {
        self.account(account)
            .is_some_and(|a| a.active && a.holds_in(profile, establishment))
    }

    /// Whether the teacher or the room already has a weekly slot overlapping this one in
    /// another class of the establishment.
    pub fn clashes_elsewhere(
        &self,
        class: ClassId,
        establishment: EstablishmentId,
        teacher: AccountId,
        room: Option<&Room>,
        day: Day,
        time: &TimeRange,
    ) -> bool {
        self.index.slots.values().any(|s| {
            s.class != class
                && s.establishment == establishment
                && s.day == day
                && s.time.overlaps(time)
                && (s.teacher == teacher || (room.is_some() && s.room.as_ref() == room))
        })
    }

    /// The domain actor for a session: the account's effective grants, children, classes taught
    /// and enrolled in, and work groups, acting under the profile the session was opened with.
    /// A deactivated or unknown account, or a profile no longer held, is FORBIDDEN.
    pub fn actor(&self, session: &Session) -> Result<Actor, ApiError> {
        let entry = self.account(session.account).ok_or_else(|| {
            ApiError::Forbidden("the viewer's account is not in the directory".into())
        })?;
        if !entry.active {
            return Err(ApiError::Forbidden(
                "the viewer's account is deactivated".into(),
            ));
        }
        let grants = self.effective_grants(entry);
        let acting_as = match session.profile {
            Some(profile) => profile,
            None => grants.first().map(|g| g.profile).ok_or_else(|| {
                ApiError::Forbidden("the viewer's account holds no profile".into())
            })?,
        };
        let holds = grants.iter().any(|g| {
            g.profile == acting_as && session.establishment.is_none_or(|e| g.establishment == e)
        });
        if !holds {
            return Err(ApiError::Forbidden(format!(
                "the viewer no longer holds the {} profile of this session",
                acting_as.as_str()
            )));
        }
        let mut actor = Actor::new(entry.id, acting_as);
        actor.grants = grants;
        actor.children = entry.children.clone();
        actor.partner_kind = entry.partner_kind;
        for (class, subject) in self.teaches(entry.id) {
            actor = actor.with_teaching(class, subject);
        }
        actor.enrolled_in = self.enrolled_in(entry.id);
        actor.groups = self.groups_of(entry.id);
        Ok(actor)
    }

    /// What the messaging policy needs to know about a recipient in `establishment`. An
    /// unknown account gets no profile, which the policy refuses.
    pub fn recipient(&self, account: AccountId, establishment: EstablishmentId) -> RecipientFacts {
        let profiles = self
            .account(account)
            .filter(|a| a.active)
            .map(|a| {
                self.effective_grants(a)
                    .into_iter()
                    .filter(|g| g.establishment == establishment)
                    .map(|g| g.profile)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            })
            .unwrap_or_default();
        let mut teaches: Vec<ClassId> = self.teaches(account).into_iter().map(|(c, _)| c).collect();
        teaches.dedup();
        RecipientFacts {
            account,
            profiles,
            enrolled_in: self.enrolled_in(account),
            teaches,
        }
    }

    /// What the messaging policy needs to know about a sender: the classes of their children.
    pub fn sender(&self, actor: &Actor) -> SenderFacts {
        let mut children_classes: Vec<ClassId> = actor
            .children
            .iter()
            .flat_map(|child| self.enrolled_in(*child))
            .collect();
        children_classes.sort();
        children_classes.dedup();
        SenderFacts { children_classes }
    }
}
