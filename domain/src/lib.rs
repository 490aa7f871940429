//! `domain`: everything the ENT knows about schools, as pure functions. No I/O, no clock, no
//! randomness: the current time and new ids come in with each command, so every rule can be
//! tested exactly and every decision replayed.
//!
//! # Shape
//!
//! Each aggregate module `x` has `XState` (rebuilt by folding events), `XCommand`, `XEvent`
//! (past-tense facts), `decide(&XState, &XCommand, &Context) -> Result<Vec<XEvent>, DomainError>`,
//! `evolve(XState, &XEvent) -> XState` and `stream_id(id) -> String`. Facts from outside the
//! aggregate (is this login taken, is this student in that class) are fields of the commands,
//! filled by the application layer from read models. `Event::new(&ctx, x_event)` wraps an
//! aggregate event with its time and actor for the log; `codec::encode`/`codec::decode` turn it
//! into bytes and back.
//!
//! # Module map
//!
//! Foundations:
//! - `ids`: one uuid newtype per entity (`AccountId`, `ClassId`, `PublicationId`…).
//! - `values`: parsed value types — `Uai`, bounded texts (`Title`, `Name`, `Body`, `Reason`…),
//!   `Scale`, `GradeValue`, `Coefficient`, `SchoolYear`, `Day`, `TimeRange`, `Attachment`,
//!   `Digest256` (content and token hashes), `PasswordHash` (argon2 PHC), `Login`, `Url`,
//!   `Service`, `ResourceSource`, `EstablishmentKind`, `Sector`.
//! - `actor`: `Profile`, `ActorRef` (who, for audit), `Actor` (who acts, with the facts the
//!   policy needs), `Context` (now and actor).
//! - `error`: `DomainError` with stable codes (`FORBIDDEN`, `NOT_FOUND`, `CONFLICT`, `INVALID`,
//!   `DEADLINE_PASSED`, `ERASED`).
//! - `policy`: who may do or see what for schools, accounts, classes, homework, grades, absences
//!   and resources.
//! - `event`: the `Event` envelope, `EventBody` (one variant per aggregate) and THE table of event
//!   type names and schema versions (`EVENT_TYPES`); `stream_id` of any event.
//! - `codec`: bincode payloads, decoding with upcasting of older schema versions.
//!
//! School life:
//! - `establishment`: registration (UAI…), ENT deployment and withdrawal; `deployed_as_of`.
//! - `account`: accounts, profiles, credentials, parent–child links, deactivation, erasure after
//!   the retention period (`erasure_due_at`), logins, sessions (token hashes) and service visits.
//! - `class`: classes per school year, enrolments and moves, teachers per subject, work groups.
//! - `timetable`: weekly slots per class; single occurrences changed or cancelled.
//! - `homework`: assignments and versioned submissions (late ones accepted and marked).
//! - `evaluation`: evaluations, grades, corrections, publication; `subject_averages`,
//!   `overall_average` on 20.
//! - `absence`: absences and lateness, justification by parents, review by staff.
//! - `resource`: digital resources shared by a source with an audience, withdrawn.
//!
//! Publishing and correspondence:
//! - `deadline`: the right-of-reply deadline and request window in Europe/Paris civil time.
//! - `legal`: publication director designations (dated, with history) and LCEN legal notices.
//! - `messaging`: private conversations, who may write to whom, read marks, reports.
//! - `publication`: spaces (pre-moderation, personal contributions) and publications (drafts,
//!   approval, versions, withdrawal with a ground, reports dating the director's knowledge).
//! - `reply`: the right of reply, from reception to publication, refusal or lapse.
//!
//! # Invariants
//!
//! - Invalid input never becomes a value; deserialization goes through the same checks.
//! - Nothing here reads the clock, generates ids, or touches disks or networks.
//! - Event variants are never reordered or removed (their position is their binary tag); a changed
//!   shape gets a new schema version in `event.rs` and an upcaster in `codec.rs`.
//! - Personal data is erased by an event (crypto-shredding in the log layer), never by rewriting.

pub mod actor;
pub mod codec;
pub mod error;
pub mod event;
pub mod ids;
pub mod policy;
pub mod values;

pub mod absence;
pub mod account;
pub mod class;
pub mod establishment;
pub mod evaluation;
pub mod homework;
pub mod resource;
pub mod timetable;

pub mod deadline;
pub mod legal;
pub mod messaging;
pub mod publication;
pub mod reply;

pub use actor::{Actor, ActorRef, Context, Profile};
pub use error::DomainError;
pub use event::{Event, EventBody};
