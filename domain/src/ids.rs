//! Identifiers: one uuid newtype per entity, so an `AccountId` can never be passed where a `ClassId`
//! is expected. The domain never generates ids: they come in with the commands, built by the
//! application layer (usually uuid v7).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;

macro_rules! entity_id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a uuid chosen outside the domain.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying uuid.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, DomainError> {
                Uuid::parse_str(s).map(Self).map_err(|e| {
                    DomainError::invalid(format!(
                        concat!("not a valid ", stringify!($name), ": {}"),
                        e
                    ))
                })
            }
        }
    )*};
}

entity_id! {
    /// A person's account (one per person; it may hold several profiles).
    AccountId;
    /// An establishment (école, collège, lycée…), also known by its `Uai`.
    EstablishmentId;
    /// A class of one school year.
    ClassId;
    /// A work group of students inside a class.
    GroupId;
    /// A weekly timetable slot.
    SlotId;
    /// A homework assignment.
    AssignmentId;
    /// One submission (with all its versions) to an assignment.
    SubmissionId;
    /// An evaluation (a test, an exercise) that grades are recorded in.
    EvaluationId;
    /// A recorded absence or lateness.
    AbsenceId;
    /// A login session.
    SessionId;
    /// A private conversation.
    ConversationId;
    /// A message in a conversation.
    MessageId;
    /// A publication space (establishment news, class space, blog, partner space).
    SpaceId;
    /// A publication in a space.
    PublicationId;
    /// A right-of-reply request.
    ReplyRequestId;
    /// A shared digital resource.
    ResourceId;
    /// A report of a message or a publication.
    ReportId;
    /// A designation of a publication director.
    DesignationId;
    /// A version of an establishment's legal notices.
    LegalNoticeId;
}

impl AccountId {
    /// The account of the platform itself (the nil uuid): scheduled work such as the erasure of
    /// personal data three months after an account stopped being needed. Events it causes carry no
    /// `by`.
    pub const SYSTEM: AccountId = AccountId(Uuid::nil());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = ClassId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
        let text = id.to_string();
        assert_eq!(text, "01900000-0000-7000-8000-000000000001");
        assert_eq!(text.parse::<ClassId>().unwrap(), id);
        assert!("not-a-uuid".parse::<ClassId>().is_err());
    }
}
