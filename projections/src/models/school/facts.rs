//! What the school-side read models (directory, school, timeline) all need to know: how a
//! recorded event becomes a domain event, and the class and family facts — who is enrolled in
//! which class, who belongs to which work group, who teaches what, who is whose parent — that
//! each of them folds into its own tree to find the people an event concerns.
//!
//! Key layout (each read model keeps these records in its own tree, under tags starting `m.`):
//!
//! | key                                   | value                                  |
//! |---------------------------------------|----------------------------------------|
//! | `m.class/<class>`                     | [`ClassFacts`]                         |
//! | `m.stcls/<student><class>`            | the `ClassId` (current classes)        |
//! | `m.stgrp/<student><group>`            | the `ClassId` of the group             |
//! | `m.tcls/<teacher><class><subject>\0`  | [`Teaching`] (classes taught)          |
//! | `m.child/<parent><child>`             | the child's `AccountId`                |
//! | `m.parent/<child><parent>`            | the parent's `AccountId`               |
//!
//! Ids are 16 raw uuid bytes, so every "of one person" question is a prefix scan.

use std::collections::{BTreeMap, BTreeSet};

use domain::account::AccountEvent;
use domain::actor::Teaching;
use domain::class::ClassEvent;
use domain::event::{Event, EventBody};
use domain::ids::{AccountId, ClassId, EstablishmentId, GroupId};
use domain::values::{Name, SchoolYear};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};

use crate::ProjectionError;
use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt};

/// Decodes the domain event a record carries; a record that does not decode stops the
/// projection (it never skips an event silently).
pub(crate) fn decode(event: &RecordedEvent) -> Result<Event, ProjectionError> {
    domain::codec::decode(&event.event_type, event.schema_version, &event.payload).map_err(|e| {
        ProjectionError::Decode {
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            reason: e.to_string(),
        }
    })
}

/// Whether an event type belongs to one of `families` (type name prefixes such as `"class."`),
/// so a read model skips the decoding of events it never looks at.
pub(crate) fn in_families(event_type: &str, families: &[&str]) -> bool {
    families.iter().any(|f| event_type.starts_with(f))
}

/// A class as the school-side views know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassFacts {
    pub class: ClassId,
    pub establishment: EstablishmentId,
    pub year: SchoolYear,
    pub name: Name,
    /// The students enrolled now (moved-out students are gone).
    pub students: BTreeSet<AccountId>,
    /// The teachers and the subject each teaches in this class.
    pub teachers: BTreeSet<(AccountId, domain::values::Subject)>,
    pub groups: BTreeMap<GroupId, GroupFacts>,
}

/// A work group of a class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFacts {
    pub name: Option<Name>,
    pub members: BTreeSet<AccountId>,
}

fn class_key(class: ClassId) -> Vec<u8> {
    Key::new("m.class").uuid(class.as_uuid()).into_vec()
}

fn student_class_key(student: AccountId, class: ClassId) -> Vec<u8> {
    Key::new("m.stcls")
        .uuid(student.as_uuid())
        .uuid(class.as_uuid())
        .into_vec()
}

fn student_group_key(student: AccountId, group: GroupId) -> Vec<u8> {
    Key::new("m.stgrp")
        .uuid(student.as_uuid())
        .uuid(group.as_uuid())
        .into_vec()
}

fn teaching_key(teacher: AccountId, teaching: &Teaching) -> Vec<u8> {
    Key::new("m.tcls")
        .uuid(teacher.as_uuid())
        .uuid(teaching.class.as_uuid())
        .str(teaching.subject.as_str())
        .into_vec()
}

fn child_key(parent: AccountId, child: AccountId) -> Vec<u8> {
    Key::new("m.child")
        .uuid(parent.as_uuid())
        .uuid(child.as_uuid())
        .into_vec()
}

fn parent_key(child: AccountId, parent: AccountId) -> Vec<u8> {
    Key::new("m.parent")
        .uuid(child.as_uuid())
        .uuid(parent.as_uuid())
        .into_vec()
}

/// The values under `tag/<id>`, decoded, in key order.
fn values_under<T: serde::de::DeserializeOwned>(
    store: &(impl ReadStore + ?Sized),
    tag: &str,
    id: uuid::Uuid,
) -> Result<Vec<T>, StoreError> {
    let prefix = Key::new(tag).uuid(id).into_vec();
    Ok(store
        .scan_values::<T>(&prefix)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Folds the class and family facts of one event; other events leave them untouched.
pub(crate) fn apply_facts(store: &mut dyn Store, body: &EventBody) -> Result<(), ProjectionError> {
    match body {
        EventBody::Class(event) => apply_class(store, event),
        EventBody::Account(AccountEvent::ChildLinked { account, child }) => {
            store.put_value(child_key(*account, *child), child)?;
            store.put_value(parent_key(*child, *account), account)?;
            Ok(())
        }
        EventBody::Account(AccountEvent::ChildUnlinked { account, child }) => {
            store.delete(&child_key(*account, *child))?;
            store.delete(&parent_key(*child, *account))?;
            Ok(())
        }
        EventBody::Account(AccountEvent::PersonalDataErased { account, .. }) => {
            // Family links are personal data: they go with the person, in both directions.
            for child in children_of(store, *account)? {
                store.delete(&child_key(*account, child))?;
                store.delete(&parent_key(child, *account))?;
            }
            for parent in parents_of(store, *account)? {
                store.delete(&child_key(parent, *account))?;
                store.delete(&parent_key(*account, parent))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn require_class(store: &dyn Store, class: ClassId) -> Result<ClassFacts, ProjectionError> {
    class_facts(store, class)?.ok_or_else(|| {
        ProjectionError::Inconsistent(format!("class {class} is not open in the view"))
    })
}

fn apply_class(store: &mut dyn Store, event: &ClassEvent) -> Result<(), ProjectionError> {
    match event {
        ClassEvent::Opened {
            class,
            establishment,
            year,
            name,
        } => {
            let facts = ClassFacts {
                class: *class,
                establishment: *establishment,
                year: *year,
                name: name.clone(),
                students: BTreeSet::new(),
                teachers: BTreeSet::new(),
                groups: BTreeMap::new(),
            };
            store.put_value(class_key(*class), &facts)?;
        }
        ClassEvent::StudentEnrolled { class, student, .. } => {
            let mut facts = require_class(store, *class)?;
            facts.students.insert(*student);
            store.put_value(class_key(*class), &facts)?;
            store.put_value(student_class_key(*student, *class), class)?;
        }
        ClassEvent::StudentMoved { class, student, .. } => {
            let mut facts = require_class(store, *class)?;
            facts.students.remove(student);
            for (group, facts) in facts.groups.iter_mut() {
                if facts.members.remove(student) {
                    store.delete(&student_group_key(*student, *group))?;
                }
            }
            store.put_value(class_key(*class), &facts)?;
            store.delete(&student_class_key(*student, *class))?;
        }
        ClassEvent::TeacherAssigned {
            class,
            teacher,
            subject,
        } => {
            let mut facts = require_class(store, *class)?;
            facts.teachers.insert((*teacher, subject.clone()));
            store.put_value(class_key(*class), &facts)?;
            let teaching = Teaching {
                class: *class,
                subject: subject.clone(),
            };
            store.put_value(teaching_key(*teacher, &teaching), &teaching)?;
        }
        ClassEvent::TeacherUnassigned {
            class,
            teacher,
            subject,
        } => {
            let mut facts = require_class(store, *class)?;
            facts.teachers.remove(&(*teacher, subject.clone()));
            store.put_value(class_key(*class), &facts)?;
            let teaching = Teaching {
                class: *class,
                subject: subject.clone(),
            };
            store.delete(&teaching_key(*teacher, &teaching))?;
        }
        ClassEvent::GroupFormed {
            class,
            group,
            name,
            members,
        } => {
            let mut facts = require_class(store, *class)?;
            let previous = facts.groups.remove(group).map(|g| g.members);
            let members: BTreeSet<AccountId> = members.iter().copied().collect();
            set_group_members(store, *class, *group, previous.as_ref(), &members)?;
            facts.groups.insert(
                *group,
                GroupFacts {
                    name: Some(name.clone()),
                    members,
                },
            );
            store.put_value(class_key(*class), &facts)?;
        }
        ClassEvent::GroupMembersChanged {
            class,
            group,
            members,
        } => {
            let mut facts = require_class(store, *class)?;
            let entry = facts.groups.entry(*group).or_insert_with(|| GroupFacts {
                name: None,
                members: BTreeSet::new(),
            });
            let members: BTreeSet<AccountId> = members.iter().copied().collect();
            set_group_members(store, *class, *group, Some(&entry.members), &members)?;
            entry.members = members;
            store.put_value(class_key(*class), &facts)?;
        }
        ClassEvent::GroupDissolved { class, group } => {
            let mut facts = require_class(store, *class)?;
            if let Some(old) = facts.groups.remove(group) {
                set_group_members(store, *class, *group, Some(&old.members), &BTreeSet::new())?;
            }
            store.put_value(class_key(*class), &facts)?;
        }
    }
    Ok(())
}

/// Rewrites the student → group index from the old members to the new ones.
fn set_group_members(
    store: &mut dyn Store,
    class: ClassId,
    group: GroupId,
    old: Option<&BTreeSet<AccountId>>,
    new: &BTreeSet<AccountId>,
) -> Result<(), StoreError> {
    for student in old.into_iter().flatten() {
        if !new.contains(student) {
            store.delete(&student_group_key(*student, group))?;
        }
    }
    for student in new {
        store.put_value(student_group_key(*student, group), &class)?;
    }
    Ok(())
}

/// The class, if it was opened.
pub fn class_facts(
    store: &(impl ReadStore + ?Sized),
    class: ClassId,
) -> Result<Option<ClassFacts>, StoreError> {
    store.get_value(&class_key(class))
}

/// The classes a student is enrolled in now (one per school year at most), in id order.
pub fn classes_of_student(
    store: &(impl ReadStore + ?Sized),
    student: AccountId,
) -> Result<Vec<ClassId>, StoreError> {
    values_under(store, "m.stcls", student.as_uuid())
}

/// The work groups a student belongs to now, with their class.
pub fn groups_of_student(
    store: &(impl ReadStore + ?Sized),
    student: AccountId,
) -> Result<Vec<(GroupId, ClassId)>, StoreError> {
    let prefix = Key::new("m.stgrp").uuid(student.as_uuid()).into_vec();
    let mut out = Vec::new();
    for (key, class) in store.scan_values::<ClassId>(&prefix)? {
        let group = tail_uuid(&key)
            .map(GroupId::from_uuid)
            .ok_or_else(|| StoreError::Decode {
                key: key.clone(),
                reason: "a group key ends with a 16-byte id".into(),
            })?;
        out.push((group, class));
    }
    Ok(out)
}

/// The classes a teacher is assigned to, with the subject (one entry per class and subject).
pub fn teachings_of(
    store: &(impl ReadStore + ?Sized),
    teacher: AccountId,
) -> Result<Vec<Teaching>, StoreError> {
    values_under(store, "m.tcls", teacher.as_uuid())
}

/// The children a parent is linked to.
pub fn children_of(
    store: &(impl ReadStore + ?Sized),
    parent: AccountId,
) -> Result<Vec<AccountId>, StoreError> {
    values_under(store, "m.child", parent.as_uuid())
}

/// The parents a child is linked to.
pub fn parents_of(
    store: &(impl ReadStore + ?Sized),
    child: AccountId,
) -> Result<Vec<AccountId>, StoreError> {
    values_under(store, "m.parent", child.as_uuid())
}

/// The last 16 bytes of a key, as a uuid.
pub(crate) fn tail_uuid(key: &[u8]) -> Option<uuid::Uuid> {
    let start = key.len().checked_sub(16)?;
    let bytes: [u8; 16] = key[start..].try_into().ok()?;
    Some(uuid::Uuid::from_bytes(bytes))
}
