//! Access policy for schools, accounts, classes, timetables, homework, grades, absences and
//! resources: pure functions of the actor and the facts about the subject. Each `may_*` answers a
//! yes/no question; `require` turns a "no" into `DomainError::Forbidden`. (Who may write to whom and
//! what the publication director may do live with messaging and publications.)
//!
//! General rules: an action is taken under one profile (`Actor::acting_as`) that must be held in
//! the establishment concerned; analysts never see personal data; nobody sees another family's
//! grades, homework or absences.

use crate::actor::{Actor, Profile};
use crate::error::DomainError;
use crate::ids::{AccountId, ClassId, EstablishmentId, GroupId};

/// Turns a policy answer into a result: `Forbidden(why)` when `allowed` is false.
pub fn require(allowed: bool, why: &str) -> Result<(), DomainError> {
    if allowed {
        Ok(())
    } else {
        Err(DomainError::forbidden(why))
    }
}

/// Platform administrators register establishments.
pub fn may_register_establishment(actor: &Actor) -> bool {
    actor.is_platform_admin()
}

/// Platform administrators, or the establishment's own administrators, record ENT deployment and
/// withdrawal.
pub fn may_manage_establishment(actor: &Actor, establishment: EstablishmentId) -> bool {
    actor.is_platform_admin() || actor.acts_as_in(Profile::EstablishmentAdmin, establishment)
}

/// Establishment administrators manage the accounts, classes and groups of their establishment.
pub fn may_administer(actor: &Actor, establishment: EstablishmentId) -> bool {
    actor.acts_as_in(Profile::EstablishmentAdmin, establishment) || actor.is_platform_admin()
}

/// Establishment administrators and staff set up and change the timetable.
pub fn may_edit_timetable(actor: &Actor, establishment: EstablishmentId) -> bool {
    may_administer(actor, establishment) || actor.acts_as_in(Profile::Staff, establishment)
}

/// Only a teacher of the class, acting as a teacher in its establishment, publishes homework
/// to it (or to one of its groups) and creates evaluations for it.
pub fn may_teach(actor: &Actor, establishment: EstablishmentId, class: ClassId) -> bool {
    actor.acts_as_in(Profile::Teacher, establishment) && actor.teaches_class(class)
}

/// Who may see a student's school data (homework, timetable, absences, published grades): the
/// student, their parents, the teachers of their classes and the establishment's staff and
/// administrators. Never an analyst, a partner or the publication director as such.
pub fn may_follow_student(
    actor: &Actor,
    establishment: EstablishmentId,
    student: AccountId,
    student_classes: &[ClassId],
) -> bool {
    match actor.acting_as {
        Profile::Student => actor.account == student,
        Profile::Parent => actor.is_parent_of(student),
        Profile::Teacher => {
            actor.holds_in(Profile::Teacher, establishment)
                && student_classes.iter().any(|c| actor.teaches_class(*c))
        }
        Profile::Staff | Profile::EstablishmentAdmin => {
            actor.holds_in(actor.acting_as, establishment)
        }
        Profile::Partner
        | Profile::PublicationDirector
        | Profile::Analyst
        | Profile::PlatformAdmin => false,
    }
}

/// Who may see a class's homework and timetable: its students, their parents (through
/// `children_in_class`), its teachers, the establishment's staff and administrators.
pub fn may_see_class(
    actor: &Actor,
    establishment: EstablishmentId,
    class: ClassId,
    children_in_class: bool,
) -> bool {
    match actor.acting_as {
        Profile::Student => actor.is_enrolled_in(class),
        Profile::Parent => children_in_class,
        Profile::Teacher => {
            actor.holds_in(Profile::Teacher, establishment) && actor.teaches_class(class)
        }
        Profile::Staff | Profile::EstablishmentAdmin => {
            actor.holds_in(actor.acting_as, establishment)
        }
        Profile::Partner
        | Profile::PublicationDirector
        | Profile::Analyst
        | Profile::PlatformAdmin => false,
    }
}

/// Grades: teachers of the class see them at once; the student and their parents only once the
/// teacher has published them; staff and administrators of the establishment once published.
pub fn may_see_grade(
    actor: &Actor,
    establishment: EstablishmentId,
    class: ClassId,
    student: AccountId,
    published: bool,
) -> bool {
    match actor.acting_as {
        Profile::Teacher => may_teach(actor, establishment, class),
        Profile::Student => published && actor.account == student,
        Profile::Parent => published && actor.is_parent_of(student),
        Profile::Staff | Profile::EstablishmentAdmin => {
            published && actor.holds_in(actor.acting_as, establishment)
        }
        Profile::Partner
        | Profile::PublicationDirector
        | Profile::Analyst
        | Profile::PlatformAdmin => false,
    }
}

/// A student hands in work in their own name, or in the name of a work group they belong to.
pub fn may_submit_as(actor: &Actor, student: Option<AccountId>, group: Option<GroupId>) -> bool {
    if actor.acting_as != Profile::Student {
        return false;
    }
    match (student, group) {
        (Some(s), None) => s == actor.account,
        (None, Some(g)) => actor.is_member_of(g),
        _ => false,
    }
}

/// Staff of the establishment, or a teacher of the class, record absences and lateness.
pub fn may_record_absence(actor: &Actor, establishment: EstablishmentId, class: ClassId) -> bool {
    actor.acts_as_in(Profile::Staff, establishment) || may_teach(actor, establishment, class)
}

/// A parent justifies their own child's absences.
pub fn may_justify_absence(actor: &Actor, student: AccountId) -> bool {
    actor.acting_as == Profile::Parent && actor.is_parent_of(student)
}

/// Staff of the establishment accept or refuse justifications.
pub fn may_review_absence(actor: &Actor, establishment: EstablishmentId) -> bool {
    actor.acts_as_in(Profile::Staff, establishment)
}

/// Who may share a resource with an establishment: a partner of it, its staff, its
/// administrators, or the platform administrators (for the ministry and the rectorat).
pub fn may_share_resource(actor: &Actor, establishment: EstablishmentId) -> bool {
    actor.is_platform_admin()
        || actor.acts_as_in(Profile::Partner, establishment)
        || actor.acts_as_in(Profile::Staff, establishment)
        || may_administer(actor, establishment)
}

/// Analysts see anonymous statistics only, never a named person's data.
pub fn may_see_statistics(actor: &Actor) -> bool {
    matches!(actor.acting_as, Profile::Analyst | Profile::PlatformAdmin)
        && actor.holds(actor.acting_as)
}

/// The account holder themselves, or an administrator of an establishment they belong to.
pub fn may_manage_account(
    actor: &Actor,
    account: AccountId,
    account_establishments: &[EstablishmentId],
) -> bool {
    actor.account == account
        || account_establishments
            .iter()
            .any(|e| may_administer(actor, *e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Subject;
    use uuid::Uuid;

    fn est() -> EstablishmentId {
        EstablishmentId::from_uuid(Uuid::from_u128(1))
    }
    fn class() -> ClassId {
        ClassId::from_uuid(Uuid::from_u128(2))
    }
    fn account(n: u128) -> AccountId {
        AccountId::from_uuid(Uuid::from_u128(100 + n))
    }

    #[test]
    fn grades_reach_families_only_once_published() {
        let student = Actor::new(account(1), Profile::Student).with_grant(est(), Profile::Student);
        let parent = Actor::new(account(2), Profile::Parent)
            .with_grant(est(), Profile::Parent)
            .with_child(account(1));
        let teacher = Actor::new(account(3), Profile::Teacher)
            .with_grant(est(), Profile::Teacher)
            .with_teaching(class(), Subject::new("Maths").unwrap());
        let analyst = Actor::new(account(4), Profile::Analyst).with_grant(est(), Profile::Analyst);
        for published in [false, true] {
            assert_eq!(
                may_see_grade(&student, est(), class(), account(1), published),
                published
            );
            assert_eq!(
                may_see_grade(&parent, est(), class(), account(1), published),
                published
            );
            assert!(may_see_grade(
                &teacher,
                est(),
                class(),
                account(1),
                published
            ));
            assert!(!may_see_grade(
                &analyst,
                est(),
                class(),
                account(1),
                published
            ));
        }
        assert!(!may_see_grade(&student, est(), class(), account(9), true));
    }

    #[test]
    fn a_profile_counts_only_where_it_is_held_and_acted_under() {
        let teacher_parent = Actor::new(account(1), Profile::Parent)
            .with_grant(est(), Profile::Teacher)
            .with_grant(est(), Profile::Parent)
            .with_teaching(class(), Subject::new("Maths").unwrap());
        assert!(!may_teach(&teacher_parent, est(), class()));
        let as_teacher = Actor {
            acting_as: Profile::Teacher,
            ..teacher_parent
        };
        assert!(may_teach(&as_teacher, est(), class()));
        let elsewhere = EstablishmentId::from_uuid(Uuid::from_u128(9));
        assert!(!may_teach(&as_teacher, elsewhere, class()));
    }

    #[test]
    fn a_students_data_is_followed_by_family_teachers_and_staff_only() {
        let classes = [class()];
        let cases = [
            (Actor::new(account(1), Profile::Student), true),
            (Actor::new(account(2), Profile::Student), false),
            (
                Actor::new(account(3), Profile::Parent).with_child(account(1)),
                true,
            ),
            (Actor::new(account(4), Profile::Parent), false),
            (
                Actor::new(account(5), Profile::Teacher)
                    .with_grant(est(), Profile::Teacher)
                    .with_teaching(class(), Subject::new("Maths").unwrap()),
                true,
            ),
            (
                Actor::new(account(6), Profile::Teacher).with_grant(est(), Profile::Teacher),
                false,
            ),
            (
                Actor::new(account(7), Profile::Staff).with_grant(est(), Profile::Staff),
                true,
            ),
            (Actor::new(account(8), Profile::Staff), false),
            (
                Actor::new(account(9), Profile::Analyst).with_grant(est(), Profile::Analyst),
                false,
            ),
            (
                Actor::new(account(10), Profile::PublicationDirector)
                    .with_grant(est(), Profile::PublicationDirector),
                false,
            ),
        ];
        for (actor, allowed) in cases {
            assert_eq!(
                may_follow_student(&actor, est(), account(1), &classes),
                allowed,
                "{actor:?}"
            );
        }
    }

    #[test]
    fn a_class_is_seen_by_its_students_families_teachers_and_staff() {
        let student = Actor::new(account(1), Profile::Student).with_enrolment(class());
        let parent = Actor::new(account(2), Profile::Parent);
        let partner = Actor::new(account(3), Profile::Partner).with_grant(est(), Profile::Partner);
        assert!(may_see_class(&student, est(), class(), false));
        assert!(!may_see_class(
            &student,
            est(),
            ClassId::from_uuid(Uuid::from_u128(7)),
            false
        ));
        assert!(may_see_class(&parent, est(), class(), true));
        assert!(!may_see_class(&parent, est(), class(), false));
        assert!(!may_see_class(&partner, est(), class(), true));
    }

    #[test]
    fn statistics_are_for_analysts_and_platform_admins() {
        let analyst = Actor::new(account(1), Profile::Analyst).with_grant(est(), Profile::Analyst);
        let teacher = Actor::new(account(2), Profile::Teacher).with_grant(est(), Profile::Teacher);
        let pretender = Actor::new(account(3), Profile::Analyst);
        assert!(may_see_statistics(&analyst));
        assert!(!may_see_statistics(&teacher));
        assert!(!may_see_statistics(&pretender));
    }

    #[test]
    fn students_submit_only_in_their_own_name_or_group() {
        let group = GroupId::from_uuid(Uuid::from_u128(5));
        let student = Actor::new(account(1), Profile::Student).with_group(group);
        assert!(may_submit_as(&student, Some(account(1)), None));
        assert!(may_submit_as(&student, None, Some(group)));
        assert!(!may_submit_as(&student, Some(account(2)), None));
        assert!(!may_submit_as(
            &student,
            None,
            Some(GroupId::from_uuid(Uuid::from_u128(6)))
        ));
        assert!(!may_submit_as(&student, Some(account(1)), Some(group)));
    }
}
