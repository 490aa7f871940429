//! The one place events become bytes and bytes become events.
//!
//! Payload format: the bincode 2 encoding (serde, `config::standard()`: little-endian, variable-
//! length integers) of the whole `Event` — `at` (RFC 3339 text), `by` (option tag, then account
//! uuid and profile index), then `body` (aggregate variant index, event variant index, fields in
//! declaration order). The log stores the payload next to the event type name and the schema
//! version, both taken from the table in `event.rs`.
//!
//! Upcasting: when a payload carries an older schema version of its type, the matching entry of
//! `UPCASTERS` decodes the old shape and turns it into the current event. Because variants are
//! numbered by position, they are never reordered or removed (see `event.rs`).

use bincode::config;
use jiff::Timestamp;
use serde::Deserialize;

use crate::account::{AccountEvent, IsoWeek};
use crate::actor::{ActorRef, Profile};
use crate::event::{Event, EventBody, current_schema_version};
use crate::ids::{AccountId, EstablishmentId};
use crate::values::{Reason, Service};

/// The largest payload decoded; anything bigger is refused before allocating.
pub const PAYLOAD_BYTES_MAX: usize = 4 * 1024 * 1024;

/// An encoded event, ready for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub event_type: &'static str,
    pub schema_version: u16,
    pub payload: Vec<u8>,
}

/// Why bytes did not become an event (or an event bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event type {event_type:?} has no schema version {version} (current is {current})")]
    UnknownVersion {
        event_type: String,
        version: u16,
        current: u16,
    },
    #[error("payload is {len} bytes, the limit is {PAYLOAD_BYTES_MAX}")]
    TooLarge { len: usize },
    #[error("payload does not decode: {0}")]
    Decode(String),
    #[error("payload has {0} bytes after the event")]
    TrailingBytes(usize),
    #[error("payload holds a {found:?} event, the record says {expected:?}")]
    TypeMismatch {
        expected: String,
        found: &'static str,
    },
    #[error("event does not encode: {0}")]
    Encode(String),
}

fn bincode_config() -> impl config::Config {
    config::standard().with_limit::<PAYLOAD_BYTES_MAX>()
}

/// Encodes an event with its type name and current schema version.
pub fn encode(event: &Event) -> Result<Encoded, CodecError> {
    let payload = bincode::serde::encode_to_vec(event, bincode_config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if payload.len() > PAYLOAD_BYTES_MAX {
        return Err(CodecError::TooLarge { len: payload.len() });
    }
    let (event_type, schema_version) = event.body.type_info();
    Ok(Encoded {
        event_type,
        schema_version,
        payload,
    })
}

/// Decodes a payload of `event_type` at `schema_version`, upcasting older versions.
pub fn decode(event_type: &str, schema_version: u16, payload: &[u8]) -> Result<Event, CodecError> {
    if payload.len() > PAYLOAD_BYTES_MAX {
        return Err(CodecError::TooLarge { len: payload.len() });
    }
    let current = current_schema_version(event_type)
        .ok_or_else(|| CodecError::UnknownType(event_type.to_string()))?;
    let event = if schema_version == current {
        decode_exact::<Event>(payload)?
    } else {
        let upcaster = UPCASTERS
            .iter()
            .find(|u| u.event_type == event_type && u.from_version == schema_version)
            .ok_or_else(|| CodecError::UnknownVersion {
                event_type: event_type.to_string(),
                version: schema_version,
                current,
            })?;
        (upcaster.upcast)(payload)?
    };
    if event.event_type() != event_type {
        return Err(CodecError::TypeMismatch {
            expected: event_type.to_string(),
            found: event.event_type(),
        });
    }
    Ok(event)
}

fn decode_exact<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, CodecError> {
    let (value, read) = bincode::serde::decode_from_slice::<T, _>(payload, bincode_config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if read != payload.len() {
        return Err(CodecError::TrailingBytes(payload.len() - read));
    }
    Ok(value)
}

/// Turns the payload of an older schema version of one event type into the current event.
pub struct Upcaster {
    pub event_type: &'static str,
    pub from_version: u16,
    pub upcast: fn(&[u8]) -> Result<Event, CodecError>,
}

/// Every upcaster. Add one whenever a schema version is raised in `event.rs`.
pub const UPCASTERS: &[Upcaster] = &[
    Upcaster {
        event_type: "account.deactivated",
        from_version: 1,
        upcast: account_deactivated_v1,
    },
    Upcaster {
        event_type: "account.service_visited",
        from_version: 1,
        upcast: account_service_visited_v1,
    },
];

/// `account.deactivated` v1 had no `since`: the account stopped being needed when the event
/// happened, so `since` is the event's `at`.
fn account_deactivated_v1(payload: &[u8]) -> Result<Event, CodecError> {
    #[derive(Deserialize)]
    struct DeactivatedV1 {
        account: AccountId,
        reason: Option<Reason>,
    }
    // The v1 payload is the whole event: time, actor, the body's aggregate and event variant
    // indices, then the v1 fields.
    let (at, by, aggregate_index, event_index, v1): (
        Timestamp,
        Option<ActorRef>,
        u32,
        u32,
        DeactivatedV1,
    ) = decode_exact(payload)?;
    if (aggregate_index, event_index) != (ACCOUNT_INDEX, DEACTIVATED_INDEX) {
        return Err(CodecError::Decode(format!(
            "account.deactivated v1 payload holds variant ({aggregate_index}, {event_index})"
        )));
    }
    Ok(Event {
        at,
        by,
        body: EventBody::Account(AccountEvent::Deactivated {
            account: v1.account,
            since: at,
            reason: v1.reason,
        }),
    })
}

/// `account.service_visited` v1 had neither the week nor the first-visit flags. The week is
/// the Paris week of the event's `at`, as the account computes it today. Whether the visit was
/// the holder's first of its week cannot be told from one event, so both flags are taken as
/// true: the unique-user figures of weeks recorded under v1 become an upper bound (one user per
/// visit), never below the truth, and never above the visits.
fn account_service_visited_v1(payload: &[u8]) -> Result<Event, CodecError> {
    #[derive(Deserialize)]
    struct ServiceVisitedV1 {
        account: AccountId,
        establishment: EstablishmentId,
        profile: Profile,
        service: Service,
    }
    let (at, by, aggregate_index, event_index, v1): (
        Timestamp,
        Option<ActorRef>,
        u32,
        u32,
        ServiceVisitedV1,
    ) = decode_exact(payload)?;
    if (aggregate_index, event_index) != (ACCOUNT_INDEX, SERVICE_VISITED_INDEX) {
        return Err(CodecError::Decode(format!(
            "account.service_visited v1 payload holds variant ({aggregate_index}, {event_index})"
        )));
    }
    let week = IsoWeek::containing(at).map_err(|e| CodecError::Decode(e.to_string()))?;
    Ok(Event {
        at,
        by,
        body: EventBody::Account(AccountEvent::ServiceVisited {
            account: v1.account,
            establishment: v1.establishment,
            profile: v1.profile,
            service: v1.service,
            week,
            first_in_week: true,
            first_in_week_of_service: true,
        }),
    })
}

/// Position of `EventBody::Account` and of the upcast `AccountEvent` variants in their enums.
const ACCOUNT_INDEX: u32 = 1;
const DEACTIVATED_INDEX: u32 = 5;
const SERVICE_VISITED_INDEX: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn variant_indices(body: AccountEvent) -> (u32, u32) {
        let event = Event {
            at: Timestamp::UNIX_EPOCH,
            by: None,
            body: EventBody::Account(body),
        };
        let encoded = encode(&event).unwrap();
        let ((_, _, aggregate_index, event_index), _): (
            (Timestamp, Option<ActorRef>, u32, u32),
            _,
        ) = bincode::serde::decode_from_slice(&encoded.payload, bincode_config()).unwrap();
        (aggregate_index, event_index)
    }

    /// The v1 upcasters read the variant positions of today's enums: they must still be where
    /// `Deactivated` and `ServiceVisited` are.
    #[test]
    fn the_upcaster_indices_match_the_enums() {
        let account = AccountId::from_uuid(Uuid::from_u128(1));
        let deactivated = AccountEvent::Deactivated {
            account,
            since: Timestamp::UNIX_EPOCH,
            reason: None,
        };
        assert_eq!(
            variant_indices(deactivated),
            (ACCOUNT_INDEX, DEACTIVATED_INDEX)
        );
        let visited = AccountEvent::ServiceVisited {
            account,
            establishment: EstablishmentId::from_uuid(Uuid::from_u128(2)),
            profile: Profile::Student,
            service: Service::Homework,
            week: IsoWeek::containing(Timestamp::UNIX_EPOCH).unwrap(),
            first_in_week: true,
            first_in_week_of_service: true,
        };
        assert_eq!(
            variant_indices(visited),
            (ACCOUNT_INDEX, SERVICE_VISITED_INDEX)
        );
    }

    #[test]
    fn every_upcaster_is_for_an_older_version_of_a_known_type() {
        for upcaster in UPCASTERS {
            let current = current_schema_version(upcaster.event_type).unwrap();
            assert!(upcaster.from_version < current, "{}", upcaster.event_type);
        }
    }
}
