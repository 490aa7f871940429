//! Who a timeline record is for, and the membership index that says, per person, which
//! audiences they belonged to and during which range of log positions.
//!
//! A record is written once per event and audience (a class, a work group, an establishment's
//! members, a class's teachers, a pupil and their parents, or one person). A person reads the
//! records of the audiences they were a member of AT THE POSITION of each record, so a student
//! enrolled after a homework was published does not see it, and one who moved out keeps what
//! came before the move. Parents hold their own memberships, copied from their children's
//! (`via` the child), from the later of the child's joining and the family link: the parent
//! then reads the child's class, groups and grades exactly as long as both hold.

use std::collections::BTreeSet;

use domain::ids::{AccountId, ClassId, EstablishmentId, GroupId};
use domain::values::Subject;
use eventlog::Position;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::school::facts;
use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt, decode_value};

/// An audience of timeline records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Audience {
    /// One person only (a message to them, the fate of their publication, a reply decision).
    Person(AccountId),
    /// A pupil and, through their memberships, their parents (grades).
    Pupil(AccountId),
    /// The students enrolled in a class and their parents.
    Class(ClassId),
    /// The teachers of a class.
    ClassTeachers(ClassId),
    /// The members of a work group and their parents.
    Group(GroupId),
    /// The active members of an establishment.
    Establishment(EstablishmentId),
}

/// The length of an encoded audience: a tag byte and a 16-byte id.
pub(crate) const AUDIENCE_BYTES: usize = 17;

impl Audience {
    /// The tag byte and the id, in the order they sort in keys.
    pub(crate) fn to_bytes(self) -> [u8; AUDIENCE_BYTES] {
        let (tag, id) = match self {
            Audience::Person(a) => (b'p', a.as_uuid()),
            Audience::Pupil(a) => (b's', a.as_uuid()),
            Audience::Class(c) => (b'c', c.as_uuid()),
            Audience::ClassTeachers(c) => (b't', c.as_uuid()),
            Audience::Group(g) => (b'g', g.as_uuid()),
            Audience::Establishment(e) => (b'e', e.as_uuid()),
        };
        let mut out = [0u8; AUDIENCE_BYTES];
        out[0] = tag;
        out[1..].copy_from_slice(id.as_bytes());
        out
    }

    /// The audience encoded by [`Audience::to_bytes`], if `bytes` is one.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Audience> {
        let (tag, id) = bytes.split_first()?;
        let id = Uuid::from_bytes(id.try_into().ok()?);
        Some(match tag {
            b'p' => Audience::Person(AccountId::from_uuid(id)),
            b's' => Audience::Pupil(AccountId::from_uuid(id)),
            b'c' => Audience::Class(ClassId::from_uuid(id)),
            b't' => Audience::ClassTeachers(ClassId::from_uuid(id)),
            b'g' => Audience::Group(GroupId::from_uuid(id)),
            b'e' => Audience::Establishment(EstablishmentId::from_uuid(id)),
            _ => return None,
        })
    }

    /// Whether a pupil's parents read what the pupil reads through this audience.
    pub(crate) fn reaches_parents(self) -> bool {
        matches!(
            self,
            Audience::Pupil(_) | Audience::Class(_) | Audience::Group(_)
        )
    }
}

/// The prefix of every record of `audience`, newest first.
pub(crate) fn records_prefix(audience: Audience) -> Vec<u8> {
    Key::new("tl.r").bytes(&audience.to_bytes()).into_vec()
}

/// The key of the record of `audience` for the event at `position`.
pub(crate) fn record_key(audience: Audience, position: Position) -> Vec<u8> {
    Key::new("tl.r")
        .bytes(&audience.to_bytes())
        .u64(u64::MAX - position)
        .into_vec()
}

/// The position a record key ends with.
pub(crate) fn record_position(key: &[u8]) -> Option<Position> {
    let start = key.len().checked_sub(8)?;
    let bytes: [u8; 8] = key[start..].try_into().ok()?;
    Some(u64::MAX - u64::from_be_bytes(bytes))
}

/// The prefix of every membership of `person`.
pub(crate) fn memberships_prefix(person: AccountId) -> Vec<u8> {
    Key::new("tl.m").uuid(person.as_uuid()).into_vec()
}

fn via_uuid(via: Option<AccountId>) -> Uuid {
    via.map_or(Uuid::nil(), |c| c.as_uuid())
}

/// The `until` of a membership that still holds.
const HOLDS: u64 = u64::MAX;

/// The key of a membership of `person` in `audience` through `via` that ends at `until`
/// ([`HOLDS`] while it holds), so the one that holds is found with one read.
fn membership_key(
    person: AccountId,
    audience: Audience,
    via: Option<AccountId>,
    until: u64,
) -> Vec<u8> {
    Key::new("tl.m")
        .uuid(person.as_uuid())
        .bytes(&audience.to_bytes())
        .uuid(via_uuid(via))
        .u64(until)
        .into_vec()
}

/// A person's membership of an audience over a range of log positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Membership {
    pub(crate) audience: Audience,
    /// For a parent, the child the membership comes from.
    pub(crate) via: Option<AccountId>,
    /// The position of the event that made the person a member (records from there on).
    pub(crate) from: Position,
    /// The position of the event that ended it (records before it), `None` while it holds.
    pub(crate) to: Option<Position>,
}

impl Membership {
    /// Whether the record of the event at `position` reaches the member.
    pub(crate) fn covers(&self, position: Position) -> bool {
        self.from <= position && self.to.is_none_or(|to| position < to)
    }
}

/// The membership a `tl.m/` key and value describe.
fn parse_membership(key: &[u8], value: &[u8]) -> Result<Membership, StoreError> {
    let bad = |reason: &str| StoreError::Decode {
        key: key.to_vec(),
        reason: reason.to_string(),
    };
    // `tl.m/`, the person, the audience, the child, the end.
    let body = key
        .get(5 + 16..)
        .filter(|b| b.len() == AUDIENCE_BYTES + 16 + 8)
        .ok_or_else(|| bad("a membership key has the person, audience, child and end"))?;
    let audience = Audience::from_bytes(&body[..AUDIENCE_BYTES])
        .ok_or_else(|| bad("a membership key names a known audience"))?;
    let via = Uuid::from_bytes(
        body[AUDIENCE_BYTES..AUDIENCE_BYTES + 16]
            .try_into()
            .map_err(|_| bad("a membership key has a 16-byte child"))?,
    );
    let until = u64::from_be_bytes(
        body[AUDIENCE_BYTES + 16..]
            .try_into()
            .map_err(|_| bad("a membership key ends with an 8-byte end"))?,
    );
    let from = decode_value::<Position>(key, value)?;
    Ok(Membership {
        audience,
        via: (!via.is_nil()).then(|| AccountId::from_uuid(via)),
        from,
        to: (until != HOLDS).then_some(until),
    })
}

/// Every membership of `person`, past and present, with its key.
pub(crate) fn memberships(
    store: &(impl ReadStore + ?Sized),
    person: AccountId,
) -> Result<Vec<(Vec<u8>, Membership)>, StoreError> {
    let mut out = Vec::new();
    for (key, value) in store.scan_prefix(&memberships_prefix(person))? {
        let membership = parse_membership(&key, &value)?;
        out.push((key, membership));
    }
    Ok(out)
}

/// Makes `person` a member of `audience` (through `via`) from `at`, unless they already are.
pub(crate) fn join(
    store: &mut dyn Store,
    person: AccountId,
    audience: Audience,
    via: Option<AccountId>,
    at: Position,
) -> Result<(), StoreError> {
    let key = membership_key(person, audience, via, HOLDS);
    if store.get(&key)?.is_none() {
        store.put_value(key, &at)?;
    }
    Ok(())
}

/// Ends the membership of `person` in `audience` (through `via`) at `at`, if it holds.
pub(crate) fn leave(
    store: &mut dyn Store,
    person: AccountId,
    audience: Audience,
    via: Option<AccountId>,
    at: Position,
) -> Result<(), StoreError> {
    let key = membership_key(person, audience, via, HOLDS);
    if let Some(from) = store.get_value::<Position>(&key)? {
        store.delete(&key)?;
        store.put_value(membership_key(person, audience, via, at), &from)?;
    }
    Ok(())
}

/// Makes a student a member of `audience` from `at`, and each of their parents through them.
pub(crate) fn join_with_parents(
    store: &mut dyn Store,
    student: AccountId,
    audience: Audience,
    at: Position,
) -> Result<(), StoreError> {
    join(store, student, audience, None, at)?;
    for parent in parents_of(store, student)? {
        join(store, parent, audience, Some(student), at)?;
    }
    Ok(())
}

/// Ends a student's membership of `audience` at `at`, and their parents' through them.
pub(crate) fn leave_with_parents(
    store: &mut dyn Store,
    student: AccountId,
    audience: Audience,
    at: Position,
) -> Result<(), StoreError> {
    leave(store, student, audience, None, at)?;
    for parent in parents_of(store, student)? {
        leave(store, parent, audience, Some(student), at)?;
    }
    Ok(())
}

/// A parent linked to a child at `at` reads, from then on, what the child reads as a pupil:
/// their grades, their classes and their groups.
pub(crate) fn link_parent(
    store: &mut dyn Store,
    parent: AccountId,
    child: AccountId,
    at: Position,
) -> Result<(), StoreError> {
    store.put(parent_key(child, parent), Vec::new())?;
    join(store, parent, Audience::Pupil(child), Some(child), at)?;
    for (_, m) in memberships(store, child)? {
        if m.via.is_none() && m.to.is_none() && m.audience.reaches_parents() {
            join(store, parent, m.audience, Some(child), at)?;
        }
    }
    Ok(())
}

/// A parent unlinked from a child at `at` stops reading through them.
pub(crate) fn unlink_parent(
    store: &mut dyn Store,
    parent: AccountId,
    child: AccountId,
    at: Position,
) -> Result<(), StoreError> {
    store.delete(&parent_key(child, parent))?;
    for (_, m) in memberships(store, parent)? {
        if m.via == Some(child) && m.to.is_none() {
            leave(store, parent, m.audience, m.via, at)?;
        }
    }
    Ok(())
}

/// When `child` is erased at `at`, a parent keeps what they were notified of through the
/// child's class and groups, but the memberships stop naming the child and end at `at`; the
/// child's grades are the child's and go with them.
pub(crate) fn forget_child(
    store: &mut dyn Store,
    parent: AccountId,
    child: AccountId,
    at: Position,
) -> Result<(), StoreError> {
    for (key, m) in memberships(store, parent)? {
        if m.via != Some(child) {
            continue;
        }
        store.delete(&key)?;
        if matches!(m.audience, Audience::Pupil(_)) {
            continue;
        }
        let anonymous = membership_key(parent, m.audience, None, m.to.unwrap_or(at));
        // Two children erased together may leave ranges ending together: keep the longer.
        let from = match store.get_value::<Position>(&anonymous)? {
            Some(other) => other.min(m.from),
            None => m.from,
        };
        store.put_value(anonymous, &from)?;
    }
    Ok(())
}

/// Ends every membership of `person` in an establishment at `at` (an account no longer needed
/// gets no more establishment-wide notifications).
pub(crate) fn leave_establishments(
    store: &mut dyn Store,
    person: AccountId,
    at: Position,
) -> Result<(), StoreError> {
    for (_, m) in memberships(store, person)? {
        if matches!(m.audience, Audience::Establishment(_)) && m.to.is_none() {
            leave(store, person, m.audience, m.via, at)?;
        }
    }
    Ok(())
}

/// What a person reads: their own records, their own grades, and each membership, with the
/// child it comes through.
pub(crate) fn streams_of(
    store: &(impl ReadStore + ?Sized),
    person: AccountId,
) -> Result<Vec<Membership>, StoreError> {
    let mut out = vec![
        Membership {
            audience: Audience::Person(person),
            via: None,
            from: 0,
            to: None,
        },
        Membership {
            audience: Audience::Pupil(person),
            via: None,
            from: 0,
            to: None,
        },
    ];
    out.extend(memberships(store, person)?.into_iter().map(|(_, m)| m));
    Ok(out)
}

/// The key of a family link: `tl.par/<child><parent>`.
pub(crate) fn parent_key(child: AccountId, parent: AccountId) -> Vec<u8> {
    Key::new("tl.par")
        .uuid(child.as_uuid())
        .uuid(parent.as_uuid())
        .into_vec()
}

/// The prefix of a child's family links.
pub(crate) fn parents_prefix(child: AccountId) -> Vec<u8> {
    Key::new("tl.par").uuid(child.as_uuid()).into_vec()
}

/// The parents a child is linked to now.
pub(crate) fn parents_of(
    store: &(impl ReadStore + ?Sized),
    child: AccountId,
) -> Result<Vec<AccountId>, StoreError> {
    let mut out = Vec::new();
    for (key, _) in store.scan_prefix(&parents_prefix(child))? {
        let parent = facts::tail_uuid(&key).ok_or_else(|| StoreError::Decode {
            key: key.clone(),
            reason: "a family link key ends with the parent's 16-byte id".into(),
        })?;
        out.push(AccountId::from_uuid(parent));
    }
    Ok(out)
}

/// The children a parent is linked to now: those they read as pupils.
pub(crate) fn children_of(
    store: &(impl ReadStore + ?Sized),
    parent: AccountId,
) -> Result<Vec<AccountId>, StoreError> {
    Ok(memberships(store, parent)?
        .into_iter()
        .filter_map(|(_, m)| match (m.audience, m.via, m.to) {
            (Audience::Pupil(child), Some(via), None) if child == via => Some(child),
            _ => None,
        })
        .collect())
}

/// What the timeline keeps of a work group: its class and its members now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupNote {
    pub(crate) class: Option<ClassId>,
    pub(crate) members: BTreeSet<AccountId>,
}

/// The key of a work group's note.
pub(crate) fn group_key(group: GroupId) -> Vec<u8> {
    Key::new("tl.grp").uuid(group.as_uuid()).into_vec()
}

/// The key of one subject a teacher teaches in a class.
pub(crate) fn teaching_key(class: ClassId, teacher: AccountId, subject: &Subject) -> Vec<u8> {
    Key::new("tl.tch")
        .uuid(class.as_uuid())
        .uuid(teacher.as_uuid())
        .str(subject.as_str())
        .into_vec()
}

/// The prefix of the subjects a teacher teaches in a class.
pub(crate) fn teachings_prefix(class: ClassId, teacher: AccountId) -> Vec<u8> {
    Key::new("tl.tch")
        .uuid(class.as_uuid())
        .uuid(teacher.as_uuid())
        .into_vec()
}
