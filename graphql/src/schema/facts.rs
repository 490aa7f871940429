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
//!
//! The directory knows where its index last changed ([`View::changed`]): the position of the
//! last event that changed something it keeps. Events it skips (a grade, a message) and indexed
//! events that change nothing (a login, a grant already held, a service visit) leave it where
//! it was, so the response cache can keep an answer built from these facts across them.

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
    /// The position of the last event that changed the index (0 before any): while it stays,
    /// every answer of [`View`] stays the same (for the same Paris date).
    changed: Position,
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
        let index = self.caught_up(store)?;
        Ok(View { index, today })
    }

    /// Catches up with the log's head and returns the position where the index last changed
    /// (see [`View::changed`]).
    pub fn changed(&self, store: &dyn EventStore) -> Result<Position, ApiError> {
        Ok(self.caught_up(store)?.changed)
    }

    /// The index, with every event up to the log's head applied.
    fn caught_up(
        &self,
        store: &dyn EventStore,
    ) -> Result<std::sync::MutexGuard<'_, Index>, ApiError> {
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
                if index.apply(&event.body) {
                    index.changed = record.position;
                }
            }
        }
        Ok(index)
    }
}

impl Index {
    /// Applies one event; whether it changed anything the index keeps.
    fn apply(&mut self, body: &EventBody) -> bool {
        match body {
            EventBody::Account(event) => self.apply_account(event),
            EventBody::Class(event) => self.apply_class(event),
            EventBody::Establishment(event) => self.apply_establishment(event),
            EventBody::Legal(event) => self.apply_legal(event),
            EventBody::Timetable(event) => self.apply_timetable(event),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    fn apply_account(&mut self, event: &AccountEvent) -> bool {
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
                true
            }
            AccountEvent::ProfileGranted {
                account,
                establishment,
                profile,
            } => {
                let Some(entry) = self.accounts.get_mut(account) else {
                    return false;
                };
                let grant = Grant {
                    establishment: *establishment,
                    profile: *profile,
                };
                let new = !entry.grants.contains(&grant);
                if new {
                    entry.grants.push(grant);
                }
                new
            }
            AccountEvent::CredentialsSet {
                account,
                password_hash,
            } => self.change_account(account, |entry| {
                entry.password_phc = Some(password_hash.as_str().to_owned());
            }),
            AccountEvent::ChildLinked { account, child } => self.change_account(account, |entry| {
                if !entry.children.contains(child) {
                    entry.children.push(*child);
                }
            }),
            AccountEvent::ChildUnlinked { account, child } => {
                self.change_account(account, |entry| entry.children.retain(|c| c != child))
            }
            AccountEvent::PartnerOrganisationRecorded { account, kind, .. } => {
                self.change_account(account, |entry| {
                    entry.partner_kind = Some(*kind);
                })
            }
            AccountEvent::Deactivated { account, .. } => self.change_account(account, |entry| {
                entry.active = false;
                entry.password_phc = None;
            }),
            AccountEvent::PersonalDataErased { account, .. } => {
                self.change_account(account, |entry| {
                    entry.erased = true;
                    entry.active = false;
                    entry.password_phc = None;
                    entry.given_name = None;
                    entry.family_name = None;
                })
            }
            AccountEvent::LoggedIn { .. }
            | AccountEvent::SessionOpened { .. }
            | AccountEvent::SessionClosed { .. }
            | AccountEvent::ServiceVisited { .. }
            | AccountEvent::NotificationsRead { .. } => false,
        }
    }

    /// Applies `change` to a known account's entry; whether the entry is different after it.
    fn change_account(
        &mut self,
        account: &AccountId,
        change: impl FnOnce(&mut AccountEntry),
    ) -> bool {
        let Some(entry) = self.accounts.get_mut(account) else {
            return false;
        };
        let before = entry.clone();
        change(entry);
        *entry != before
    }

    fn apply_class(&mut self, event: &ClassEvent) -> bool {
        if let ClassEvent::Opened {
            class,
            establishment,
            year,
            name,
        } = event
        {
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
            return true;
        }
        let Some(entry) = self.classes.get_mut(&event.class()) else {
            return false;
        };
        match event {
            ClassEvent::Opened { .. } => false,
            ClassEvent::StudentEnrolled { student, .. } => entry.students.insert(*student),
            ClassEvent::StudentMoved { student, .. } => {
                let mut changed = entry.students.remove(student);
                for members in entry.groups.values_mut() {
                    let before = members.len();
                    members.retain(|m| m != student);
                    changed |= members.len() != before;
                }
                changed
            }
            ClassEvent::TeacherAssigned {
                teacher, subject, ..
            } => entry.teachers.insert((*teacher, subject.clone())),
            ClassEvent::TeacherUnassigned {
                teacher, subject, ..
            } => entry.teachers.remove(&(*teacher, subject.clone())),
            ClassEvent::GroupFormed { group, members, .. }
            | ClassEvent::GroupMembersChanged { group, members, .. } => {
                entry.groups.insert(*group, members.clone()).as_ref() != Some(members)
            }
            ClassEvent::GroupDissolved { group, .. } => entry.groups.remove(group).is_some(),
        }
    }

    fn apply_establishment(&mut self, event: &EstablishmentEvent) -> bool {
        let EstablishmentEvent::Registered {
            establishment,
            uai,
            name,
            ..
        } = event
        else {
            return false;
        };
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
        true
    }

    fn apply_legal(&mut self, event: &LegalEvent) -> bool {
        let establishment = match event {
            LegalEvent::DirectorDesignated { establishment, .. }
            | LegalEvent::NoticesPublished { establishment, .. }
            | LegalEvent::NoticesReviewed { establishment, .. } => establishment,
        };
        let Some(entry) = self.establishments.get_mut(establishment) else {
            return false;
        };
        let before = entry.legal.clone();
        entry.legal = legal::evolve(std::mem::take(&mut entry.legal), event);
        entry.legal != before
    }

    fn apply_timetable(&mut self, event: &TimetableEvent) -> bool {
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
                let entry = SlotEntry {
                    class: *class,
                    establishment: *establishment,
                    teacher: *teacher,
                    room: room.clone(),
                    day: *day,
                    time: *time,
                };
                self.slots.insert(*slot, entry.clone()) != Some(entry)
            }
            TimetableEvent::SlotRemoved { slot, .. } => self.slots.remove(slot).is_some(),
            TimetableEvent::OccurrenceChanged { .. }
            | TimetableEvent::OccurrenceCancelled { .. } => false,
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

    /// The position of the last event that changed the directory (0 before any). Every
    /// answer of this view is a function of the directory's content and [`View::today`], so
    /// it stays the same while both do.
    pub fn changed(&self) -> Position {
        self.index.changed
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

#[cfg(test)]
mod tests {
    use domain::account::IsoWeek;
    use domain::values::{Login, Service, Text};
    use domain::{Event, codec};
    use eventlog::StreamId;
    use projections::testing::MemLog;

    use super::*;

    fn id<T: From<uuid::Uuid>>(n: u128) -> T {
        T::from(uuid::Uuid::from_u128(n))
    }

    /// Appends `body` as the platform's event; its position.
    fn push(log: &MemLog, body: impl Into<EventBody>) -> Position {
        let event = Event {
            at: Timestamp::from_second(1_800_000_000).unwrap(),
            by: None,
            body: body.into(),
        };
        let encoded = codec::encode(&event).unwrap();
        let proposed = eventlog::ProposedEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: encoded.event_type.to_owned(),
            schema_version: encoded.schema_version,
            metadata: eventlog::Metadata::default(),
            payload: encoded.payload,
        };
        let request = eventlog::AppendRequest::single(
            uuid::Uuid::now_v7(),
            StreamId::new("account-1").unwrap(),
            eventlog::ExpectedVersion::Any,
            vec![proposed],
        );
        log.append_now(request).unwrap().last_position
    }

    #[test]
    fn the_directory_moves_its_last_change_only_for_events_that_change_what_it_keeps() {
        let log = MemLog::default();
        let directory = Directory::new();
        assert_eq!(directory.changed(&log).unwrap(), 0);
        let parent: AccountId = id(1);
        let child: AccountId = id(2);
        let school: EstablishmentId = id(3);
        let created = push(
            &log,
            AccountEvent::Created {
                account: parent,
                establishment: school,
                profiles: vec![Profile::Parent],
                login: Login::parse("parent").unwrap(),
                given_name: Text::new("Anne").unwrap(),
                family_name: Text::new("Martin").unwrap(),
            },
        );
        assert_eq!(directory.changed(&log).unwrap(), created);
        // A visit, a grant already held and an event the directory does not read: the facts
        // are the same, and so is the last change, while the head moves on.
        push(
            &log,
            AccountEvent::ServiceVisited {
                account: parent,
                establishment: school,
                profile: Profile::Parent,
                service: Service::Homework,
                week: IsoWeek {
                    year: 2027,
                    week: 2,
                },
                first_in_week: true,
                first_in_week_of_service: true,
            },
        );
        push(
            &log,
            AccountEvent::ProfileGranted {
                account: parent,
                establishment: school,
                profile: Profile::Parent,
            },
        );
        log.push(&StreamId::new("grade-1").unwrap(), "grade.recorded", vec![])
            .unwrap();
        assert_eq!(directory.changed(&log).unwrap(), created);
        let view = directory.catch_up(&log, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!((view.position(), view.changed()), (4, created));
        drop(view);
        // A new grant, a child linked: the facts changed.
        let granted = push(
            &log,
            AccountEvent::ProfileGranted {
                account: parent,
                establishment: school,
                profile: Profile::Staff,
            },
        );
        assert_eq!(directory.changed(&log).unwrap(), granted);
        let linked = push(
            &log,
            AccountEvent::ChildLinked {
                account: parent,
                child,
            },
        );
        assert_eq!(directory.changed(&log).unwrap(), linked);
        // The same child linked again changes nothing; unlinking does.
        push(
            &log,
            AccountEvent::ChildLinked {
                account: parent,
                child,
            },
        );
        assert_eq!(directory.changed(&log).unwrap(), linked);
        let unlinked = push(
            &log,
            AccountEvent::ChildUnlinked {
                account: parent,
                child,
            },
        );
        assert_eq!(directory.changed(&log).unwrap(), unlinked);
        // An event about an account the directory does not know changes nothing.
        push(
            &log,
            AccountEvent::ChildLinked {
                account: child,
                child: parent,
            },
        );
        assert_eq!(directory.changed(&log).unwrap(), unlinked);
    }
}
