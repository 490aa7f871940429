//! The inbox: per user, the conversations they take or took part in with unread counts, the
//! messages of a conversation for its participants only, and the queue of reported messages for
//! moderation.
//!
//! Private correspondence: a message's body is returned only to someone allowed by
//! `domain::messaging::may_read_message` (its sender and its recipients), whatever their role;
//! every query that returns bodies takes the viewer's account id, and anyone else gets
//! [`InboxError::NotParticipant`]. The moderation queue holds only what a report carries (the
//! reported message, its sender and time, the reporter and the reason), never the rest of the
//! conversation.
//!
//! Key layout (tree `inbox@v1`):
//! - `conv/<conversation:16>` → [`Conversation`] (subject, establishment, participants, the
//!   number of messages).
//! - `msg/<conversation:16>/<sequence:u64>` → [`StoredMessage`], sequence = order of sending
//!   from 0.
//! - `mid/<message:16>` → `(conversation, sequence)` (bincode), to find a message from a read
//!   mark.
//! - `box/<account:16>/<conversation:16>` → [`InboxEntry`]: one per person who ever took part,
//!   with their unread count.
//! - `rep/<establishment:16>/<reported_at:i64 µs>/<report:16>` → [`ReportedMessage`].

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::EventBody;
use domain::ids::{AccountId, ConversationId, EstablishmentId, MessageId, ReportId};
use domain::messaging::{MessageRecord, MessagingEvent, may_read_message};
use eventlog::RecordedEvent;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::audit::decode;
use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt};
use crate::{Projection, ProjectionError};

/// The name of the inbox projection.
pub const INBOX: &str = "inbox";
/// The most messages one page of a conversation returns.
pub const MESSAGES_PAGE_MAX: usize = 200;

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Inbox)]
}

/// Why an inbox query refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxError {
    #[error("no such conversation or message")]
    NotFound,
    /// The viewer neither sent nor received it: private correspondence.
    #[error("only the participants read this correspondence")]
    NotParticipant,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A conversation as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub conversation: ConversationId,
    pub establishment: EstablishmentId,
    pub subject: String,
    pub started_by: AccountId,
    pub started_at: Timestamp,
    /// The current participants.
    pub participants: BTreeSet<AccountId>,
    pub messages: u64,
}

/// A message as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub message: MessageId,
    pub sequence: u64,
    pub sender: AccountId,
    pub recipients: BTreeSet<AccountId>,
    pub body: String,
    pub sent_at: Timestamp,
    pub read_by: Vec<(AccountId, Timestamp)>,
}

impl StoredMessage {
    /// Whether `reader` may read it, by the domain's one reading rule.
    fn readable_by(&self, reader: AccountId) -> bool {
        let Ok(body) = domain::values::Body::new(self.body.clone()) else {
            return false;
        };
        let record = MessageRecord {
            message: self.message,
            sender: self.sender,
            recipients: self.recipients.clone(),
            body,
            sent_at: self.sent_at,
            read_by: self.read_by.clone(),
            reports: Vec::new(),
            reported_by: BTreeSet::new(),
        };
        may_read_message(&record, reader)
    }
}

/// One person's line for one conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    pub conversation: ConversationId,
    pub unread: u64,
    /// When the last message this person sent or received was sent.
    pub last_message_at: Option<Timestamp>,
    /// Whether they left the conversation (they keep reading what they received).
    pub left: bool,
}

/// A reported message, as its report exposes it to moderation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedMessage {
    pub report: ReportId,
    pub conversation: ConversationId,
    pub establishment: EstablishmentId,
    pub message: MessageId,
    pub reporter: AccountId,
    pub sender: AccountId,
    pub body: String,
    pub sent_at: Timestamp,
    pub reported_at: Timestamp,
    pub reason: Option<String>,
}

/// Folds messaging events.
#[derive(Debug, Clone, Copy)]
pub struct Inbox;

fn conversation_key(conversation: ConversationId) -> Vec<u8> {
    Key::new("conv").uuid(conversation.as_uuid()).into_vec()
}

fn message_key(conversation: ConversationId, sequence: u64) -> Vec<u8> {
    Key::new("msg")
        .uuid(conversation.as_uuid())
        .u64(sequence)
        .into_vec()
}

fn message_index_key(message: MessageId) -> Vec<u8> {
    Key::new("mid").uuid(message.as_uuid()).into_vec()
}

fn box_key(account: AccountId, conversation: ConversationId) -> Vec<u8> {
    Key::new("box")
        .uuid(account.as_uuid())
        .uuid(conversation.as_uuid())
        .into_vec()
}

fn inconsistent(what: String) -> ProjectionError {
    ProjectionError::Inconsistent(what)
}

fn load_conversation(
    store: &dyn Store,
    conversation: ConversationId,
) -> Result<Conversation, ProjectionError> {
    store
        .get_value(&conversation_key(conversation))?
        .ok_or_else(|| inconsistent(format!("conversation {conversation} was never started")))
}

/// Opens (or reopens) a person's line for a conversation.
fn join(
    store: &mut dyn Store,
    account: AccountId,
    conversation: ConversationId,
) -> Result<(), StoreError> {
    let key = box_key(account, conversation);
    let entry = match store.get_value::<InboxEntry>(&key)? {
        Some(entry) => InboxEntry {
            left: false,
            ..entry
        },
        None => InboxEntry {
            conversation,
            unread: 0,
            last_message_at: None,
            left: false,
        },
    };
    store.put_value(key, &entry)
}

impl Projection for Inbox {
    fn name(&self) -> &'static str {
        INBOX
    }

    fn version(&self) -> u32 {
        1
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        if !event.event_type.starts_with("messaging.") {
            return Ok(());
        }
        let decoded = decode(event)?;
        let EventBody::Messaging(body) = decoded.body else {
            return Ok(());
        };
        match body {
            MessagingEvent::ConversationStarted {
                conversation,
                establishment,
                subject,
                started_by,
                participants,
            } => {
                for account in &participants {
                    join(store, *account, conversation)?;
                }
                let record = Conversation {
                    conversation,
                    establishment,
                    subject: subject.as_str().to_owned(),
                    started_by,
                    started_at: decoded.at,
                    participants: participants.into_iter().collect(),
                    messages: 0,
                };
                store.put_value(conversation_key(conversation), &record)?;
            }
            MessagingEvent::MessageSent {
                conversation,
                message,
                sender,
                recipients,
                body,
                sent_at,
            } => {
                let mut record = load_conversation(store, conversation)?;
                let sequence = record.messages;
                record.messages += 1;
                store.put_value(conversation_key(conversation), &record)?;
                for (account, unread) in recipients
                    .iter()
                    .map(|r| (*r, 1))
                    .chain(std::iter::once((sender, 0)))
                {
                    let key = box_key(account, conversation);
                    let mut entry: InboxEntry = store.get_value(&key)?.ok_or_else(|| {
                        inconsistent(format!(
                            "{account} gets a message in {conversation} without taking part"
                        ))
                    })?;
                    entry.unread += unread;
                    entry.last_message_at = Some(sent_at);
                    store.put_value(key, &entry)?;
                }
                let stored = StoredMessage {
                    message,
                    sequence,
                    sender,
                    recipients: recipients.into_iter().collect(),
                    body: body.as_str().to_owned(),
                    sent_at,
                    read_by: Vec::new(),
                };
                store.put_value(message_key(conversation, sequence), &stored)?;
                store.put_value(message_index_key(message), &(conversation, sequence))?;
            }
            MessagingEvent::ParticipantsAdded {
                conversation,
                participants,
                ..
            } => {
                let mut record = load_conversation(store, conversation)?;
                for account in participants {
                    join(store, account, conversation)?;
                    record.participants.insert(account);
                }
                store.put_value(conversation_key(conversation), &record)?;
            }
            MessagingEvent::ParticipantLeft {
                conversation,
                participant,
            } => {
                let mut record = load_conversation(store, conversation)?;
                record.participants.remove(&participant);
                store.put_value(conversation_key(conversation), &record)?;
                let key = box_key(participant, conversation);
                if let Some(mut entry) = store.get_value::<InboxEntry>(&key)? {
                    entry.left = true;
                    store.put_value(key, &entry)?;
                }
            }
            MessagingEvent::MessageRead {
                conversation,
                message,
                reader,
                read_at,
            } => {
                let key = message_key(conversation, sequence_of(store, message)?);
                let mut stored: StoredMessage = store
                    .get_value(&key)?
                    .ok_or_else(|| inconsistent(format!("message {message} is unknown")))?;
                if stored.recipients.contains(&reader)
                    && !stored.read_by.iter().any(|(r, _)| *r == reader)
                {
                    stored.read_by.push((reader, read_at));
                    store.put_value(key, &stored)?;
                    let key = box_key(reader, conversation);
                    if let Some(mut entry) = store.get_value::<InboxEntry>(&key)? {
                        entry.unread = entry.unread.saturating_sub(1);
                        store.put_value(key, &entry)?;
                    }
                }
            }
            MessagingEvent::MessageReported {
                conversation,
                establishment,
                message,
                report,
                reporter,
                sender,
                body,
                sent_at,
                reported_at,
                reason,
            } => {
                let reported = ReportedMessage {
                    report,
                    conversation,
                    establishment,
                    message,
                    reporter,
                    sender,
                    body: body.as_str().to_owned(),
                    sent_at,
                    reported_at,
                    reason: reason.map(|r| r.as_str().to_owned()),
                };
                let key = Key::new("rep")
                    .uuid(establishment.as_uuid())
                    .i64(reported_at.as_microsecond())
                    .uuid(report.as_uuid())
                    .into_vec();
                store.put_value(key, &reported)?;
            }
        }
        Ok(())
    }
}

fn sequence_of(store: &dyn Store, message: MessageId) -> Result<u64, ProjectionError> {
    let (_, sequence): (ConversationId, u64) = store
        .get_value(&message_index_key(message))?
        .ok_or_else(|| inconsistent(format!("message {message} is unknown")))?;
    Ok(sequence)
}

/// One line of a person's inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub conversation: ConversationId,
    pub subject: String,
    pub establishment: EstablishmentId,
    pub participants: Vec<AccountId>,
    pub unread: u64,
    pub last_message_at: Option<Timestamp>,
    pub left: bool,
}

/// A message as its reader sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub message: MessageId,
    pub sender: AccountId,
    pub recipients: Vec<AccountId>,
    pub body: String,
    pub sent_at: Timestamp,
    /// Whether the viewer read it (always true for the sender).
    pub read: bool,
}

/// The conversations `viewer` takes or took part in, the most recently active first.
pub fn conversations(
    store: &dyn ReadStore,
    viewer: AccountId,
) -> Result<Vec<ConversationSummary>, StoreError> {
    let prefix = Key::new("box").uuid(viewer.as_uuid()).into_vec();
    let mut out = Vec::new();
    for (_, entry) in store.scan_values::<InboxEntry>(&prefix)? {
        let key = conversation_key(entry.conversation);
        let Some(record) = store.get_value::<Conversation>(&key)? else {
            return Err(StoreError::Decode {
                key,
                reason: "an inbox line names a conversation the view does not hold".into(),
            });
        };
        out.push(ConversationSummary {
            conversation: entry.conversation,
            subject: record.subject,
            establishment: record.establishment,
            participants: record.participants.into_iter().collect(),
            unread: entry.unread,
            last_message_at: entry.last_message_at.or(Some(record.started_at)),
            left: entry.left,
        });
    }
    out.sort_by(|a, b| {
        b.last_message_at
            .cmp(&a.last_message_at)
            .then(a.conversation.cmp(&b.conversation))
    });
    Ok(out)
}

/// How many messages `viewer` received and has not read, over every conversation.
pub fn unread_total(store: &dyn ReadStore, viewer: AccountId) -> Result<u64, StoreError> {
    let prefix = Key::new("box").uuid(viewer.as_uuid()).into_vec();
    Ok(store
        .scan_values::<InboxEntry>(&prefix)?
        .iter()
        .map(|(_, e)| e.unread)
        .sum())
}

fn view_of(message: StoredMessage, viewer: AccountId) -> MessageView {
    let read = message.sender == viewer || message.read_by.iter().any(|(r, _)| *r == viewer);
    MessageView {
        message: message.message,
        sender: message.sender,
        recipients: message.recipients.into_iter().collect(),
        body: message.body,
        sent_at: message.sent_at,
        read,
    }
}

/// The messages of a conversation `viewer` may read, in the order they were sent, starting
/// after sequence `after` (exclusive; `None` from the start), at most `limit` (capped at
/// [`MESSAGES_PAGE_MAX`]). Someone who never took part gets `NotParticipant`; a participant
/// added later does not see what was written before they joined.
pub fn messages(
    store: &dyn ReadStore,
    viewer: AccountId,
    conversation: ConversationId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<MessageView>, InboxError> {
    if store
        .get(&conversation_key(conversation))
        .map_err(InboxError::Store)?
        .is_none()
    {
        return Err(InboxError::NotFound);
    }
    if store.get(&box_key(viewer, conversation))?.is_none() {
        return Err(InboxError::NotParticipant);
    }
    let limit = limit.min(MESSAGES_PAGE_MAX);
    let prefix = Key::new("msg").uuid(conversation.as_uuid()).into_vec();
    // A page after a cursor seeks to the next message instead of stepping over the earlier ones.
    let from = match after {
        Some(a) => message_key(conversation, a.saturating_add(1)),
        None => prefix.clone(),
    };
    let mut out = Vec::new();
    let mut failure = None;
    store.visit_prefix_from(&prefix, &from, &mut |key, value| {
        if out.len() >= limit {
            return std::ops::ControlFlow::Break(());
        }
        match crate::store::decode_value::<StoredMessage>(key, value) {
            Ok(m) if after.is_some_and(|a| m.sequence <= a) => {}
            Ok(m) if m.readable_by(viewer) => out.push(view_of(m, viewer)),
            Ok(_) => {}
            Err(e) => {
                failure = Some(e);
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    })?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(out),
    }
}

/// One message, for its sender and recipients only.
pub fn message(
    store: &dyn ReadStore,
    viewer: AccountId,
    message: MessageId,
) -> Result<MessageView, InboxError> {
    let Some((conversation, sequence)) =
        store.get_value::<(ConversationId, u64)>(&message_index_key(message))?
    else {
        return Err(InboxError::NotFound);
    };
    let stored: StoredMessage = store
        .get_value(&message_key(conversation, sequence))?
        .ok_or(InboxError::NotFound)?;
    if !stored.readable_by(viewer) {
        return Err(InboxError::NotParticipant);
    }
    Ok(view_of(stored, viewer))
}

/// The reported messages of an establishment, oldest report first: the moderation queue. Each
/// holds only what its report carries.
pub fn reported_messages(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
) -> Result<Vec<ReportedMessage>, StoreError> {
    let prefix = Key::new("rep").uuid(establishment.as_uuid()).into_vec();
    Ok(store
        .scan_values::<ReportedMessage>(&prefix)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}
