//! Who acts: the `Profile`s of the ENT, the `ActorRef` events record for audit, the `Actor` with
//! the facts the access policy needs, and the `Context` (time and actor) every command is decided
//! in. The application layer builds the `Actor` from read models; the domain never looks anything
//! up.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ClassId, EstablishmentId, GroupId};
use crate::values::Subject;

/// A profile a person holds. One person may hold several (a teacher who is also a parent).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Profile {
    Student,
    Parent,
    Teacher,
    /// Non-teaching staff: school life (vie scolaire, CPE), administration.
    Staff,
    /// An outside organisation: company, local authority, sponsor, publisher.
    Partner,
    EstablishmentAdmin,
    PublicationDirector,
    /// Ministry or rectorat statistics: anonymous figures only.
    Analyst,
    PlatformAdmin,
}

impl Profile {
    pub const ALL: [Profile; 9] = [
        Profile::Student,
        Profile::Parent,
        Profile::Teacher,
        Profile::Staff,
        Profile::Partner,
        Profile::EstablishmentAdmin,
        Profile::PublicationDirector,
        Profile::Analyst,
        Profile::PlatformAdmin,
    ];

    /// A short snake-case name, e.g. `establishment_admin` (used as the actor role in log
    /// metadata).
    pub fn as_str(&self) -> &'static str {
        match self {
            Profile::Student => "student",
            Profile::Parent => "parent",
            Profile::Teacher => "teacher",
            Profile::Staff => "staff",
            Profile::Partner => "partner",
            Profile::EstablishmentAdmin => "establishment_admin",
            Profile::PublicationDirector => "publication_director",
            Profile::Analyst => "analyst",
            Profile::PlatformAdmin => "platform_admin",
        }
    }

    /// The profile code of the ministry's audience measurement: `ELEVE`, `ENSEIGNANT`, `PARENT`,
    /// `ADMIN_VIE_SCOL_TECH` (staff and administration), `AUTRE`.
    pub fn audience_code(&self) -> &'static str {
        match self {
            Profile::Student => "ELEVE",
            Profile::Teacher => "ENSEIGNANT",
            Profile::Parent => "PARENT",
            Profile::Staff | Profile::EstablishmentAdmin | Profile::PublicationDirector => {
                "ADMIN_VIE_SCOL_TECH"
            }
            Profile::Partner | Profile::Analyst | Profile::PlatformAdmin => "AUTRE",
        }
    }
}

/// Who did something, as events record it: the account and the profile it acted under.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct ActorRef {
    pub account: AccountId,
    pub profile: Profile,
}

/// A profile held in one establishment.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Grant {
    pub establishment: EstablishmentId,
    pub profile: Profile,
}

/// A class a teacher teaches, and the subject.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Teaching {
    pub class: ClassId,
    pub subject: Subject,
}

/// The kind of outside organisation a partner account belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum PartnerKind {
    Company,
    LocalAuthority,
    Sponsor,
    PublicPublisher,
    PrivatePublisher,
}

/// The acting person and the facts about them the policy needs, as the application layer knows
/// them from read models at the time of the command.
#[derive(Clone, PartialEq, Debug)]
pub struct Actor {
    pub account: AccountId,
    /// The profile this action is taken under (recorded in the event's `by`).
    pub acting_as: Profile,
    /// Every profile held, per establishment.
    pub grants: Vec<Grant>,
    /// The children this person is a legal guardian of.
    pub children: Vec<AccountId>,
    /// The classes taught, with their subjects.
    pub teaches: Vec<Teaching>,
    /// The classes this student is enrolled in (this school year).
    pub enrolled_in: Vec<ClassId>,
    /// The work groups this student belongs to.
    pub groups: Vec<GroupId>,
    /// For a partner: the kind of organisation.
    pub partner_kind: Option<PartnerKind>,
}

impl Actor {
    /// An actor acting under `acting_as`, with no facts yet; add them with the `with_*` methods.
    pub fn new(account: AccountId, acting_as: Profile) -> Actor {
        Actor {
            account,
            acting_as,
            grants: Vec::new(),
            children: Vec::new(),
            teaches: Vec::new(),
            enrolled_in: Vec::new(),
            groups: Vec::new(),
            partner_kind: None,
        }
    }

    /// The platform itself, for scheduled work (erasure after the retention period). It holds no
    /// grant; only commands that say so accept it.
    pub fn system() -> Actor {
        Actor::new(AccountId::SYSTEM, Profile::PlatformAdmin)
    }

    pub fn is_system(&self) -> bool {
        self.account == AccountId::SYSTEM
    }

    pub fn with_grant(mut self, establishment: EstablishmentId, profile: Profile) -> Actor {
        self.grants.push(Grant {
            establishment,
            profile,
        });
        self
    }

    pub fn with_child(mut self, child: AccountId) -> Actor {
        self.children.push(child);
        self
    }

    pub fn with_teaching(mut self, class: ClassId, subject: Subject) -> Actor {
        self.teaches.push(Teaching { class, subject });
        self
    }

    pub fn with_enrolment(mut self, class: ClassId) -> Actor {
        self.enrolled_in.push(class);
        self
    }

    pub fn with_group(mut self, group: GroupId) -> Actor {
        self.groups.push(group);
        self
    }

    pub fn with_partner_kind(mut self, kind: PartnerKind) -> Actor {
        self.partner_kind = Some(kind);
        self
    }

    /// What events record as `by`: `None` for the system.
    pub fn reference(&self) -> Option<ActorRef> {
        if self.is_system() {
            return None;
        }
        Some(ActorRef {
            account: self.account,
            profile: self.acting_as,
        })
    }

    /// Whether the actor acts under `profile` and holds it in `establishment`.
    pub fn acts_as_in(&self, profile: Profile, establishment: EstablishmentId) -> bool {
        self.acting_as == profile && self.holds_in(profile, establishment)
    }

    /// Whether the actor holds `profile` in `establishment` (whatever it acts under now).
    pub fn holds_in(&self, profile: Profile, establishment: EstablishmentId) -> bool {
        self.grants
            .iter()
            .any(|g| g.profile == profile && g.establishment == establishment)
    }

    /// Whether the actor holds `profile` anywhere.
    pub fn holds(&self, profile: Profile) -> bool {
        self.grants.iter().any(|g| g.profile == profile)
    }

    /// Whether the actor holds any profile in `establishment`.
    pub fn belongs_to(&self, establishment: EstablishmentId) -> bool {
        self.grants.iter().any(|g| g.establishment == establishment)
    }

    /// The establishments the actor holds a profile in.
    pub fn establishments(&self) -> impl Iterator<Item = EstablishmentId> + '_ {
        self.grants.iter().map(|g| g.establishment)
    }

    pub fn is_platform_admin(&self) -> bool {
        self.acting_as == Profile::PlatformAdmin && self.holds(Profile::PlatformAdmin)
    }

    pub fn is_parent_of(&self, child: AccountId) -> bool {
        self.children.contains(&child)
    }

    pub fn teaches_class(&self, class: ClassId) -> bool {
        self.teaches.iter().any(|t| t.class == class)
    }

    pub fn teaches_subject(&self, class: ClassId, subject: &Subject) -> bool {
        self.teaches
            .iter()
            .any(|t| t.class == class && &t.subject == subject)
    }

    pub fn is_enrolled_in(&self, class: ClassId) -> bool {
        self.enrolled_in.contains(&class)
    }

    pub fn is_member_of(&self, group: GroupId) -> bool {
        self.groups.contains(&group)
    }
}

/// The circumstances of a command: the current time and who acts. Passed to every `decide`.
#[derive(Clone, PartialEq, Debug)]
pub struct Context {
    pub now: Timestamp,
    pub actor: Actor,
}

impl Context {
    pub fn new(now: Timestamp, actor: Actor) -> Context {
        Context { now, actor }
    }
}
