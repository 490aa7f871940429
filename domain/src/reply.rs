//! The right of reply to a publication (LCEN art. 6-IV, now 1-1-III; décret 2007-1527; loi du
//! 29 juillet 1881 art. 13 as the model), one stream per request (`reply-<uuid>`).
//!
//! The law, as this module applies it (ENT.md):
//!
//! - Who may ask: any person, natural or legal, named or designated in the publication; no
//!   defamation is required. The command carries that claim (`named_or_designated`), which the
//!   requester makes and the application layer passes on. The right does not apply where the
//!   person could post their own observation directly (`may_comment_directly`).
//! - How: an account holder asks through the service (authenticated, received at the command's
//!   time, addressed to the director by construction); or the director records a request that
//!   came otherwise — a letter — with the identity it gives and its reception time.
//! - What (décret art. 2): the references of the message and how to reach it, the author's name
//!   if shown, whether it is text, sound or image, the contested passages, the text of the reply
//!   asked for (`RequestContents`; a request without them cannot be built).
//! - When: at most three months after the message was made public (`deadline` has the exact
//!   edge). A late request is still recorded, as received; the event says it is out of time and
//!   the director may refuse it on that ground.
//! - The reply (décret art. 3): no longer than the contested message and never more than 200
//!   lines (`reply_lines`). A reply over these limits is recorded and flagged likewise; the
//!   director may refuse it as too long.
//! - The deadline: the director publishes the reply, and tells the requester what will be done,
//!   before 24:00 (Paris) of the third calendar day after reception (`deadline::reply_due_at`).
//!   Acting later is recorded as late — the events say so — and never blocked.
//! - The reply is published as asked, attached to the publication and labelled as a right of
//!   reply (`REPLY_LABEL`); it stays online at least as long as the publication and at least one
//!   day (`reply_may_go_offline`).
//! - Refusal names a ground: contrary to law, public order or morals; harms third parties;
//!   attacks the author's honour; no link to the message; and the formal defects out of time, not
//!   addressed to the director, reply too long — which the request's own facts must bear out; or
//!   another ground, explained.
//! - Lapse (décret art. 5): after the message is withdrawn or corrected, the requester may declare
//!   the request lapsed; the event says whether the change came within the three days (the
//!   director then need not publish).
//!
//! The director is the actor acting as `PublicationDirector` in the publication's establishment.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::actor::Context;
use crate::deadline::{
    is_late, is_within_request_window, overdue_by, reply_due_at, request_window_closes_at,
};
use crate::error::DomainError;
use crate::ids::{AccountId, EstablishmentId, PublicationId, ReplyRequestId};
use crate::legal::Address;
use crate::publication::{PublicationState, is_director};
use crate::values::{Body, Name, Reason, Text};

/// The label a published reply carries.
pub const REPLY_LABEL: &str = "Droit de réponse";
/// A reply never has more than this many lines (décret 2007-1527 art. 3).
pub const REPLY_LINES_MAX: usize = 200;
/// The width of a line when counting the lines of a reply: a longer paragraph counts as several
/// lines, as it would print. The décret gives no width; 80 characters is the classic line.
pub const LINE_CHARS: usize = 80;
/// A published reply stays online at least this long.
pub const REPLY_ONLINE_MIN: SignedDuration = SignedDuration::from_hours(24);
/// At most this many contested passages in one request.
pub const PASSAGES_MAX: usize = 100;

/// The references of the contested message and how to reach it (its address in the service).
pub type MessageReference = Text<2000, true>;

/// The number of lines of a reply: each line of the text counts for one line per started
/// `LINE_CHARS` characters, an empty line for one.
pub fn reply_lines(text: &str) -> usize {
    text.lines()
        .map(|line| line.chars().count().div_ceil(LINE_CHARS).max(1))
        .sum::<usize>()
        .max(1)
}

/// The length of a text in characters, the measure a reply is compared to its message with.
pub fn length_chars(text: &str) -> usize {
    text.chars().count()
}

/// Whether a reply keeps within the limits: no longer than the contested message
/// (`contested_chars`), and at most `REPLY_LINES_MAX` lines.
pub fn reply_within_limits(reply: &str, contested_chars: usize) -> bool {
    length_chars(reply) <= contested_chars && reply_lines(reply) <= REPLY_LINES_MAX
}

/// Whether a published reply may be taken offline at `now`: it has been online at least
/// `REPLY_ONLINE_MIN`, and the publication it answers is itself offline.
pub fn reply_may_go_offline(
    reply_published_at: Timestamp,
    publication_offline_since: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    let online_long_enough = reply_published_at.duration_until(now) >= REPLY_ONLINE_MIN;
    let publication_offline = publication_offline_since.is_some_and(|since| since <= now);
    online_long_enough && publication_offline
}

/// Whether the contested message is text, sound or image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    Text,
    Sound,
    Image,
}

/// The passages of the message the request contests: at least one, at most `PASSAGES_MAX`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Body>", into = "Vec<Body>")]
pub struct ContestedPassages(Vec<Body>);

impl ContestedPassages {
    pub fn new(passages: Vec<Body>) -> Result<ContestedPassages, DomainError> {
        if passages.is_empty() {
            return Err(DomainError::invalid(
                "a request names at least one contested passage",
            ));
        }
        if passages.len() > PASSAGES_MAX {
            return Err(DomainError::invalid(format!(
                "a request names at most {PASSAGES_MAX} contested passages"
            )));
        }
        Ok(ContestedPassages(passages))
    }

    pub fn as_slice(&self) -> &[Body] {
        &self.0
    }
}

impl TryFrom<Vec<Body>> for ContestedPassages {
    type Error = DomainError;
    fn try_from(passages: Vec<Body>) -> Result<Self, DomainError> {
        ContestedPassages::new(passages)
    }
}

impl From<ContestedPassages> for Vec<Body> {
    fn from(passages: ContestedPassages) -> Vec<Body> {
        passages.0
    }
}

/// What a request must contain (décret 2007-1527 art. 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContents {
    /// The references of the message and how to reach it.
    pub message_reference: MessageReference,
    /// The author's name, if the message shows it.
    pub author_name: Option<Name>,
    pub kind: MessageKind,
    pub contested_passages: ContestedPassages,
    /// The text of the reply asked for, published as is.
    pub reply_text: Body,
}

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Requester {
    /// An account holder, authenticated by the service.
    Account { account: AccountId },
    /// A person outside the service (or writing outside it), as the director records them from
    /// their letter.
    Outside {
        identity: Name,
        postal_address: Option<Address>,
    },
}

/// The facts about the contested publication, from its state at reception.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContestedPublication {
    pub publication: PublicationId,
    pub establishment: EstablishmentId,
    /// When the publication was first made public.
    pub made_public_at: Timestamp,
    /// The version online when the request is received.
    pub version: u32,
    /// The length of that version in characters.
    pub length_chars: usize,
}

impl ContestedPublication {
    /// The facts from a publication's state; `None` if it was never made public.
    pub fn of(state: &PublicationState) -> Option<ContestedPublication> {
        let version = state.current_version()?;
        Some(ContestedPublication {
            publication: state.publication?,
            establishment: state.establishment?,
            made_public_at: state.made_public_at()?,
            version: version.number,
            length_chars: version.length_chars(),
        })
    }
}

/// A ground for refusing to publish a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalGround {
    ContraryToLawPublicOrderOrMorals,
    HarmsThirdParties,
    AttacksAuthorsHonour,
    NoLinkToMessage,
    /// Formal: received more than three months after the message was made public.
    OutOfTime,
    /// Formal: the request was not addressed to the publication director.
    NotAddressedToDirector,
    /// Formal: the reply is longer than the message or than 200 lines.
    ReplyTooLong,
    /// Any other ground; the refusal must then explain it.
    Other,
}

/// What the director tells the requester will be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoticeIntent {
    WillPublish,
    WillRefuse {
        ground: RefusalGround,
    },
    /// The message was withdrawn or corrected; the requester may declare the request lapsed.
    MessageWithdrawnOrCorrected,
}

/// Why a request lapses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LapseCause {
    MessageWithdrawn,
    MessageCorrected,
}

/// A request as received: everything the register needs about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedRequest {
    pub request: ReplyRequestId,
    pub publication: PublicationId,
    pub establishment: EstablishmentId,
    pub contested_version: u32,
    pub requester: Requester,
    /// Who recorded a letter (the director); `None` when the requester asked through the service.
    pub recorded_by: Option<AccountId>,
    pub received_at: Timestamp,
    /// 24:00 Paris of the third calendar day after reception.
    pub due_at: Timestamp,
    pub contents: RequestContents,
    pub addressed_to_director: bool,
    /// Whether it was received within three months of the message being made public.
    pub in_time: bool,
    pub window_closed_at: Timestamp,
    pub reply_chars: usize,
    pub reply_lines: usize,
    pub contested_chars: usize,
    /// Whether the reply keeps within the limits (length of the message, 200 lines).
    pub reply_within_limits: bool,
}

/// The director's notice to the requester.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub intent: NoticeIntent,
    pub at: Timestamp,
    pub late: bool,
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Published {
        at: Timestamp,
        late: bool,
    },
    Refused {
        ground: RefusalGround,
        note: Option<Reason>,
        at: Timestamp,
        late: bool,
    },
    Lapsed {
        cause: LapseCause,
        changed_at: Timestamp,
        at: Timestamp,
    },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplyState {
    pub received: Option<ReceivedRequest>,
    pub notice: Option<Notice>,
    pub outcome: Option<Outcome>,
    /// When a published reply was taken offline.
    pub offline_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReplyCommand {
    /// An account holder asks through the service; received now.
    Ask {
        request: ReplyRequestId,
        publication: ContestedPublication,
        contents: RequestContents,
        /// The requester's claim to be named or designated in the publication.
        named_or_designated: bool,
        /// Whether the requester could post an observation on the publication directly.
        may_comment_directly: bool,
    },
    /// The director records a request received otherwise (a letter).
    RecordLetter {
        request: ReplyRequestId,
        publication: ContestedPublication,
        requester: Name,
        postal_address: Option<Address>,
        received_at: Timestamp,
        addressed_to_director: bool,
        contents: RequestContents,
        named_or_designated: bool,
    },
    /// The director tells the requester what will be done.
    NotifyRequester {
        request: ReplyRequestId,
        intent: NoticeIntent,
        message: Option<Reason>,
    },
    /// The director publishes the reply as asked, attached to the publication.
    PublishReply { request: ReplyRequestId },
    RefuseReply {
        request: ReplyRequestId,
        ground: RefusalGround,
        note: Option<Reason>,
    },
    /// The requester (or the director, for a requester outside the service) declares the request
    /// lapsed after the message was withdrawn or corrected at `changed_at`.
    DeclareLapse {
        request: ReplyRequestId,
        cause: LapseCause,
        changed_at: Timestamp,
    },
    /// The director takes a published reply offline; `publication_offline_since` is when the
    /// publication itself went offline, if it did.
    TakeReplyOffline {
        request: ReplyRequestId,
        publication_offline_since: Option<Timestamp>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReplyEvent {
    RequestReceived {
        /// Boxed: by far the largest event of the stream.
        request: Box<ReceivedRequest>,
    },
    RequesterNotified {
        request: ReplyRequestId,
        publication: PublicationId,
        intent: NoticeIntent,
        message: Option<Reason>,
        notified_at: Timestamp,
        due_at: Timestamp,
        late: bool,
    },
    /// The reply went online after the publication, labelled `REPLY_LABEL`.
    ReplyPublished {
        request: ReplyRequestId,
        publication: PublicationId,
        text: Body,
        published_at: Timestamp,
        due_at: Timestamp,
        late: bool,
    },
    ReplyRefused {
        request: ReplyRequestId,
        publication: PublicationId,
        ground: RefusalGround,
        note: Option<Reason>,
        refused_at: Timestamp,
        due_at: Timestamp,
        late: bool,
    },
    RequestLapsed {
        request: ReplyRequestId,
        publication: PublicationId,
        cause: LapseCause,
        changed_at: Timestamp,
        declared_at: Timestamp,
        /// Whether the withdrawal or correction came before the deadline (the director then need
        /// not publish).
        changed_within_deadline: bool,
    },
    ReplyTakenOffline {
        request: ReplyRequestId,
        publication: PublicationId,
        offline_at: Timestamp,
    },
}

/// The stream of one request.
pub fn stream_id(request: ReplyRequestId) -> String {
    format!("reply-{request}")
}

/// The stream a reply event belongs to.
pub fn event_stream_id(event: &ReplyEvent) -> String {
    match event {
        ReplyEvent::RequestReceived { request } => stream_id(request.request),
        ReplyEvent::RequesterNotified { request, .. }
        | ReplyEvent::ReplyPublished { request, .. }
        | ReplyEvent::ReplyRefused { request, .. }
        | ReplyEvent::RequestLapsed { request, .. }
        | ReplyEvent::ReplyTakenOffline { request, .. } => stream_id(*request),
    }
}

/// Where a request stands in the director's register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterStatus {
    /// Neither published, refused nor lapsed. `overdue` once the deadline has passed.
    Pending {
        due_at: Timestamp,
        overdue: bool,
    },
    PublishedOnTime {
        published_at: Timestamp,
    },
    PublishedLate {
        published_at: Timestamp,
        late_by: SignedDuration,
    },
    Refused {
        ground: RefusalGround,
        late: bool,
    },
    Lapsed {
        cause: LapseCause,
    },
}

/// The register status of a request at `now`; `None` before it is received.
pub fn register_status(state: &ReplyState, now: Timestamp) -> Option<RegisterStatus> {
    let received = state.received.as_ref()?;
    let due_at = received.due_at;
    Some(match &state.outcome {
        None => RegisterStatus::Pending {
            due_at,
            overdue: is_late(due_at, now),
        },
        Some(Outcome::Published { at, .. }) => match overdue_by(due_at, *at) {
            None => RegisterStatus::PublishedOnTime { published_at: *at },
            Some(late_by) => RegisterStatus::PublishedLate {
                published_at: *at,
                late_by,
            },
        },
        Some(Outcome::Refused { ground, late, .. }) => RegisterStatus::Refused {
            ground: *ground,
            late: *late,
        },
        Some(Outcome::Lapsed { cause, .. }) => RegisterStatus::Lapsed { cause: *cause },
    })
}

/// Whether the request is still pending after its deadline.
pub fn is_overdue(state: &ReplyState, now: Timestamp) -> bool {
    matches!(
        register_status(state, now),
        Some(RegisterStatus::Pending { overdue: true, .. })
    )
}

/// Whether the requester has not been told what will be done although the deadline has passed.
/// A request that lapsed needs no notice.
pub fn notice_overdue(state: &ReplyState, now: Timestamp) -> bool {
    let Some(received) = &state.received else {
        return false;
    };
    let lapsed = matches!(state.outcome, Some(Outcome::Lapsed { .. }));
    state.notice.is_none() && !lapsed && is_late(received.due_at, now)
}

fn received(state: &ReplyState, request: ReplyRequestId) -> Result<&ReceivedRequest, DomainError> {
    match &state.received {
        Some(received) if received.request == request => Ok(received),
        _ => Err(DomainError::not_found(format!(
            "reply request {request} does not exist"
        ))),
    }
}

fn ensure_director(
    ctx: &Context,
    received: &ReceivedRequest,
    action: &str,
) -> Result<(), DomainError> {
    if !is_director(&ctx.actor, received.establishment) {
        return Err(DomainError::forbidden(format!(
            "only the publication director {action}"
        )));
    }
    Ok(())
}

fn ensure_pending(state: &ReplyState) -> Result<(), DomainError> {
    match &state.outcome {
        None => Ok(()),
        Some(Outcome::Published { .. }) => Err(DomainError::conflict(
            "the reply has already been published",
        )),
        Some(Outcome::Refused { .. }) => Err(DomainError::conflict("the reply has been refused")),
        Some(Outcome::Lapsed { .. }) => Err(DomainError::conflict("the request has lapsed")),
    }
}

/// Everything a reception needs besides who asks.
struct Reception<'a> {
    request: ReplyRequestId,
    publication: &'a ContestedPublication,
    contents: &'a RequestContents,
    requester: Requester,
    recorded_by: Option<AccountId>,
    received_at: Timestamp,
    addressed_to_director: bool,
    named_or_designated: bool,
}

fn receive(state: &ReplyState, reception: Reception<'_>) -> Result<Vec<ReplyEvent>, DomainError> {
    if state.received.is_some() {
        return Err(DomainError::conflict(format!(
            "reply request {} already exists",
            reception.request
        )));
    }
    if !reception.named_or_designated {
        return Err(DomainError::forbidden(
            "only a person named or designated in the publication may ask for a right of reply",
        ));
    }
    let publication = reception.publication;
    if reception.received_at < publication.made_public_at {
        return Err(DomainError::invalid(
            "a request cannot be received before the publication was made public",
        ));
    }
    let reply = reception.contents.reply_text.as_str();
    let reply_chars = length_chars(reply);
    Ok(vec![ReplyEvent::RequestReceived {
        request: Box::new(ReceivedRequest {
            request: reception.request,
            publication: publication.publication,
            establishment: publication.establishment,
            contested_version: publication.version,
            requester: reception.requester,
            recorded_by: reception.recorded_by,
            received_at: reception.received_at,
            due_at: reply_due_at(reception.received_at)?,
            contents: reception.contents.clone(),
            addressed_to_director: reception.addressed_to_director,
            in_time: is_within_request_window(publication.made_public_at, reception.received_at)?,
            window_closed_at: request_window_closes_at(publication.made_public_at)?,
            reply_chars,
            reply_lines: reply_lines(reply),
            contested_chars: publication.length_chars,
            reply_within_limits: reply_within_limits(reply, publication.length_chars),
        }),
    }])
}

pub fn decide(
    state: &ReplyState,
    command: &ReplyCommand,
    ctx: &Context,
) -> Result<Vec<ReplyEvent>, DomainError> {
    let me = ctx.actor.account;
    match command {
        ReplyCommand::Ask {
            request,
            publication,
            contents,
            named_or_designated,
            may_comment_directly,
        } => {
            if ctx.actor.is_system() {
                return Err(DomainError::forbidden(
                    "a right of reply is asked by a person",
                ));
            }
            if *may_comment_directly {
                return Err(DomainError::forbidden(
                    "the right of reply does not apply where the person can post an observation directly",
                ));
            }
            receive(
                state,
                Reception {
                    request: *request,
                    publication,
                    contents,
                    requester: Requester::Account { account: me },
                    recorded_by: None,
                    received_at: ctx.now,
                    addressed_to_director: true,
                    named_or_designated: *named_or_designated,
                },
            )
        }
        ReplyCommand::RecordLetter {
            request,
            publication,
            requester,
            postal_address,
            received_at,
            addressed_to_director,
            contents,
            named_or_designated,
        } => {
            if !is_director(&ctx.actor, publication.establishment) {
                return Err(DomainError::forbidden(
                    "only the publication director records a request received by letter",
                ));
            }
            if *received_at > ctx.now {
                return Err(DomainError::invalid(
                    "a letter cannot be received in the future",
                ));
            }
            receive(
                state,
                Reception {
                    request: *request,
                    publication,
                    contents,
                    requester: Requester::Outside {
                        identity: requester.clone(),
                        postal_address: postal_address.clone(),
                    },
                    recorded_by: Some(me),
                    received_at: *received_at,
                    addressed_to_director: *addressed_to_director,
                    named_or_designated: *named_or_designated,
                },
            )
        }
        ReplyCommand::NotifyRequester {
            request,
            intent,
            message,
        } => {
            let received = received(state, *request)?;
            ensure_director(ctx, received, "tells the requester what will be done")?;
            if matches!(state.outcome, Some(Outcome::Lapsed { .. })) {
                return Err(DomainError::conflict("the request has lapsed"));
            }
            if state.notice.is_some() {
                return Err(DomainError::conflict(
                    "the requester has already been told what will be done",
                ));
            }
            if let NoticeIntent::WillRefuse { ground } = intent {
                check_ground(received, *ground, message.as_ref())?;
            }
            Ok(vec![ReplyEvent::RequesterNotified {
                request: *request,
                publication: received.publication,
                intent: *intent,
                message: message.clone(),
                notified_at: ctx.now,
                due_at: received.due_at,
                late: is_late(received.due_at, ctx.now),
            }])
        }
        ReplyCommand::PublishReply { request } => {
            let received = received(state, *request)?;
            ensure_director(ctx, received, "publishes a reply")?;
            ensure_pending(state)?;
            Ok(vec![ReplyEvent::ReplyPublished {
                request: *request,
                publication: received.publication,
                text: received.contents.reply_text.clone(),
                published_at: ctx.now,
                due_at: received.due_at,
                late: is_late(received.due_at, ctx.now),
            }])
        }
        ReplyCommand::RefuseReply {
            request,
            ground,
            note,
        } => {
            let received = received(state, *request)?;
            ensure_director(ctx, received, "refuses a reply")?;
            ensure_pending(state)?;
            check_ground(received, *ground, note.as_ref())?;
            Ok(vec![ReplyEvent::ReplyRefused {
                request: *request,
                publication: received.publication,
                ground: *ground,
                note: note.clone(),
                refused_at: ctx.now,
                due_at: received.due_at,
                late: is_late(received.due_at, ctx.now),
            }])
        }
        ReplyCommand::DeclareLapse {
            request,
            cause,
            changed_at,
        } => {
            let received = received(state, *request)?;
            let allowed = match &received.requester {
                Requester::Account { account } => *account == me,
                Requester::Outside { .. } => is_director(&ctx.actor, received.establishment),
            };
            if !allowed {
                return Err(DomainError::forbidden(
                    "only the requester declares a request lapsed (the director records it for a letter)",
                ));
            }
            ensure_pending(state)?;
            if *changed_at > ctx.now {
                return Err(DomainError::invalid(
                    "the withdrawal or correction cannot be in the future",
                ));
            }
            Ok(vec![ReplyEvent::RequestLapsed {
                request: *request,
                publication: received.publication,
                cause: *cause,
                changed_at: *changed_at,
                declared_at: ctx.now,
                changed_within_deadline: !is_late(received.due_at, *changed_at),
            }])
        }
        ReplyCommand::TakeReplyOffline {
            request,
            publication_offline_since,
        } => {
            let received = received(state, *request)?;
            ensure_director(ctx, received, "takes a reply offline")?;
            let Some(Outcome::Published { at, .. }) = state.outcome else {
                return Err(DomainError::conflict("no published reply to take offline"));
            };
            if state.offline_at.is_some() {
                return Err(DomainError::conflict("the reply is already offline"));
            }
            if !reply_may_go_offline(at, *publication_offline_since, ctx.now) {
                return Err(DomainError::conflict(
                    "a reply stays online as long as the publication and at least one day",
                ));
            }
            Ok(vec![ReplyEvent::ReplyTakenOffline {
                request: *request,
                publication: received.publication,
                offline_at: ctx.now,
            }])
        }
    }
}

/// A formal ground must be borne out by the request's facts; another ground must be explained.
fn check_ground(
    received: &ReceivedRequest,
    ground: RefusalGround,
    explanation: Option<&Reason>,
) -> Result<(), DomainError> {
    let unfounded = match ground {
        RefusalGround::OutOfTime => received
            .in_time
            .then_some("the request was received in time"),
        RefusalGround::NotAddressedToDirector => received
            .addressed_to_director
            .then_some("the request was addressed to the director"),
        RefusalGround::ReplyTooLong => received
            .reply_within_limits
            .then_some("the reply keeps within the length of the message and 200 lines"),
        RefusalGround::Other => explanation
            .is_none()
            .then_some("a refusal on another ground must say which"),
        RefusalGround::ContraryToLawPublicOrderOrMorals
        | RefusalGround::HarmsThirdParties
        | RefusalGround::AttacksAuthorsHonour
        | RefusalGround::NoLinkToMessage => None,
    };
    match unfounded {
        Some(why) => Err(DomainError::invalid(why)),
        None => Ok(()),
    }
}

pub fn evolve(mut state: ReplyState, event: &ReplyEvent) -> ReplyState {
    match event {
        ReplyEvent::RequestReceived { request } => state.received = Some((**request).clone()),
        ReplyEvent::RequesterNotified {
            intent,
            notified_at,
            late,
            ..
        } => {
            state.notice = Some(Notice {
                intent: *intent,
                at: *notified_at,
                late: *late,
            });
        }
        ReplyEvent::ReplyPublished {
            published_at, late, ..
        } => {
            state.outcome = Some(Outcome::Published {
                at: *published_at,
                late: *late,
            });
        }
        ReplyEvent::ReplyRefused {
            ground,
            note,
            refused_at,
            late,
            ..
        } => {
            state.outcome = Some(Outcome::Refused {
                ground: *ground,
                note: note.clone(),
                at: *refused_at,
                late: *late,
            });
        }
        ReplyEvent::RequestLapsed {
            cause,
            changed_at,
            declared_at,
            ..
        } => {
            state.outcome = Some(Outcome::Lapsed {
                cause: *cause,
                changed_at: *changed_at,
                at: *declared_at,
            });
        }
        ReplyEvent::ReplyTakenOffline { offline_at, .. } => state.offline_at = Some(*offline_at),
    }
    state
}
