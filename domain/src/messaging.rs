//! Private messaging: conversations with participants, messages, read marks, who may write to
//! whom, and reports of a message to moderation.
//!
//! Messages between users are private correspondence (Code pénal 226-15, 432-9 for public agents):
//! no one reads a message they neither sent nor received, whatever their role — the publication
//! director and the admins included. `may_read_message` is the only reading rule and knows no
//! role. Content reaches moderation only when a recipient reports a message; the
//! `MessageReported` event then carries that message (and only that message) for moderation.
//!
//! Who may write to whom (`may_write_to`), acting under one profile in the conversation's
//! establishment: students to the teachers of their classes, to staff and to their classmates;
//! parents to the teachers of their children's classes and to staff; teachers and staff to anyone
//! in the establishment; partners to staff. Other profiles (admins, publication director, analyst)
//! do not write as such. The rule is checked when a conversation is started and when participants
//! are added; inside a conversation, every participant may answer the others.
//!
//! The recipients of a message are the participants at the time it is sent, except its sender:
//! someone added later does not read what was written before they joined.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Context, Profile};
use crate::error::DomainError;
use crate::ids::{AccountId, ClassId, ConversationId, EstablishmentId, MessageId, ReportId};
use crate::values::{Body, Reason, Title};

/// At most this many participants in one conversation.
pub const PARTICIPANTS_MAX: usize = 500;
/// At most this many messages in one conversation; a longer exchange starts a new one.
pub const MESSAGES_MAX: usize = 10_000;

/// What the application layer knows about a prospective recipient, relative to the
/// conversation's establishment, from its read models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientFacts {
    pub account: AccountId,
    /// The profiles the recipient holds in the establishment (empty if none).
    pub profiles: Vec<Profile>,
    /// The classes the recipient is enrolled in, as a student, this school year.
    pub enrolled_in: Vec<ClassId>,
    /// The classes the recipient teaches.
    pub teaches: Vec<ClassId>,
}

impl RecipientFacts {
    fn holds(&self, profile: Profile) -> bool {
        self.profiles.contains(&profile)
    }
}

/// What the application layer knows about the writer beyond the `Actor`: for a parent, the
/// classes their children are enrolled in this school year.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SenderFacts {
    pub children_classes: Vec<ClassId>,
}

fn shares_class(a: &[ClassId], b: &[ClassId]) -> bool {
    a.iter().any(|class| b.contains(class))
}

/// Whether `sender`, acting under its current profile in `establishment`, may write to
/// `recipient` (see the module comment for the rule).
pub fn may_write_to(
    sender: &Actor,
    sender_facts: &SenderFacts,
    establishment: EstablishmentId,
    recipient: &RecipientFacts,
) -> bool {
    if !sender.acts_as_in(sender.acting_as, establishment)
        || recipient.account == sender.account
        || recipient.profiles.is_empty()
    {
        return false;
    }
    let recipient_teaches = |classes: &[ClassId]| {
        recipient.holds(Profile::Teacher) && shares_class(&recipient.teaches, classes)
    };
    let recipient_is_staff = recipient.holds(Profile::Staff);
    match sender.acting_as {
        Profile::Student => {
            recipient_teaches(&sender.enrolled_in)
                || recipient_is_staff
                || (recipient.holds(Profile::Student)
                    && shares_class(&recipient.enrolled_in, &sender.enrolled_in))
        }
        Profile::Parent => recipient_teaches(&sender_facts.children_classes) || recipient_is_staff,
        Profile::Teacher | Profile::Staff => true,
        Profile::Partner => recipient_is_staff,
        Profile::EstablishmentAdmin
        | Profile::PublicationDirector
        | Profile::Analyst
        | Profile::PlatformAdmin => false,
    }
}

/// One message as the conversation keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRecord {
    pub message: MessageId,
    pub sender: AccountId,
    /// The participants other than the sender when it was sent.
    pub recipients: BTreeSet<AccountId>,
    pub body: Body,
    pub sent_at: Timestamp,
    /// Recipients who have read it, with the time they did.
    pub read_by: Vec<(AccountId, Timestamp)>,
    /// Reports made about it.
    pub reports: Vec<ReportId>,
    /// Recipients who reported it.
    pub reported_by: BTreeSet<AccountId>,
}

/// A conversation rebuilt from its events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConversationState {
    pub conversation: Option<ConversationId>,
    pub establishment: Option<EstablishmentId>,
    pub subject: Option<Title>,
    /// The current participants.
    pub participants: BTreeSet<AccountId>,
    /// Messages in the order they were sent.
    pub messages: Vec<MessageRecord>,
}

impl ConversationState {
    pub fn message(&self, message: MessageId) -> Option<&MessageRecord> {
        self.messages.iter().find(|m| m.message == message)
    }

    fn message_mut(&mut self, message: MessageId) -> Option<&mut MessageRecord> {
        self.messages.iter_mut().find(|m| m.message == message)
    }

    fn has_report(&self, report: ReportId) -> bool {
        self.messages.iter().any(|m| m.reports.contains(&report))
    }
}

/// Whether `reader` may read `message`: only its sender and its recipients, whatever their
/// profile. No role bypasses this.
pub fn may_read_message(message: &MessageRecord, reader: AccountId) -> bool {
    message.sender == reader || message.recipients.contains(&reader)
}

/// The messages of a conversation `reader` may read, in order.
pub fn messages_visible_to(
    state: &ConversationState,
    reader: AccountId,
) -> impl Iterator<Item = &MessageRecord> {
    state
        .messages
        .iter()
        .filter(move |m| may_read_message(m, reader))
}

/// How many messages `reader` received in this conversation and has not read.
pub fn unread_count(state: &ConversationState, reader: AccountId) -> usize {
    state
        .messages
        .iter()
        .filter(|m| m.recipients.contains(&reader) && !m.read_by.iter().any(|(r, _)| *r == reader))
        .count()
}

#[derive(Clone, Debug, PartialEq)]
pub enum MessagingCommand {
    /// Starts a conversation with a first message to the recipients.
    StartConversation {
        conversation: ConversationId,
        establishment: EstablishmentId,
        subject: Title,
        recipients: Vec<RecipientFacts>,
        sender_facts: SenderFacts,
        message: MessageId,
        body: Body,
    },
    /// Writes in a conversation the actor takes part in, to the other participants.
    SendMessage {
        conversation: ConversationId,
        message: MessageId,
        body: Body,
    },
    /// Adds participants; each must be someone the actor may write to.
    AddParticipants {
        conversation: ConversationId,
        recipients: Vec<RecipientFacts>,
        sender_facts: SenderFacts,
    },
    /// The actor leaves the conversation and receives no further message in it.
    LeaveConversation { conversation: ConversationId },
    MarkRead {
        conversation: ConversationId,
        message: MessageId,
    },
    /// A recipient reports a message to moderation.
    ReportMessage {
        conversation: ConversationId,
        message: MessageId,
        report: ReportId,
        reason: Option<Reason>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MessagingEvent {
    ConversationStarted {
        conversation: ConversationId,
        establishment: EstablishmentId,
        subject: Title,
        started_by: AccountId,
        /// Everyone taking part, the starter included.
        participants: Vec<AccountId>,
    },
    MessageSent {
        conversation: ConversationId,
        message: MessageId,
        sender: AccountId,
        recipients: Vec<AccountId>,
        body: Body,
        sent_at: Timestamp,
    },
    ParticipantsAdded {
        conversation: ConversationId,
        added_by: AccountId,
        participants: Vec<AccountId>,
    },
    ParticipantLeft {
        conversation: ConversationId,
        participant: AccountId,
    },
    MessageRead {
        conversation: ConversationId,
        message: MessageId,
        reader: AccountId,
        read_at: Timestamp,
    },
    /// A recipient reported a message. This is everything moderation may see: the reported
    /// message, its sender and time, the reporter and their reason — nothing else of the
    /// conversation.
    MessageReported {
        conversation: ConversationId,
        establishment: EstablishmentId,
        message: MessageId,
        report: ReportId,
        reporter: AccountId,
        sender: AccountId,
        body: Body,
        sent_at: Timestamp,
        reported_at: Timestamp,
        reason: Option<Reason>,
    },
}

/// The stream of one conversation.
pub fn stream_id(conversation: ConversationId) -> String {
    format!("conversation-{conversation}")
}

/// The stream a messaging event belongs to.
pub fn event_stream_id(event: &MessagingEvent) -> String {
    match event {
        MessagingEvent::ConversationStarted { conversation, .. }
        | MessagingEvent::MessageSent { conversation, .. }
        | MessagingEvent::ParticipantsAdded { conversation, .. }
        | MessagingEvent::ParticipantLeft { conversation, .. }
        | MessagingEvent::MessageRead { conversation, .. }
        | MessagingEvent::MessageReported { conversation, .. } => stream_id(*conversation),
    }
}

/// Checks a list of new recipients: not empty, no one twice, within the participant limit, each
/// one someone the actor may write to. Returns their accounts in the given order.
fn checked_recipients(
    ctx: &Context,
    sender_facts: &SenderFacts,
    establishment: EstablishmentId,
    recipients: &[RecipientFacts],
    participants_before: usize,
) -> Result<Vec<AccountId>, DomainError> {
    if recipients.is_empty() {
        return Err(DomainError::invalid("at least one recipient is needed"));
    }
    if participants_before + recipients.len() > PARTICIPANTS_MAX {
        return Err(DomainError::invalid(format!(
            "a conversation has at most {PARTICIPANTS_MAX} participants"
        )));
    }
    let mut accounts = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        if accounts.contains(&recipient.account) {
            return Err(DomainError::invalid(format!(
                "recipient {} is listed twice",
                recipient.account
            )));
        }
        if !may_write_to(&ctx.actor, sender_facts, establishment, recipient) {
            return Err(DomainError::forbidden(format!(
                "a {} may not write to {} here",
                ctx.actor.acting_as.as_str(),
                recipient.account
            )));
        }
        accounts.push(recipient.account);
    }
    Ok(accounts)
}

fn existing(
    state: &ConversationState,
    conversation: ConversationId,
) -> Result<EstablishmentId, DomainError> {
    match (state.conversation, state.establishment) {
        (Some(known), Some(establishment)) if known == conversation => Ok(establishment),
        _ => Err(DomainError::not_found(format!(
            "conversation {conversation} does not exist"
        ))),
    }
}

fn message_of(
    state: &ConversationState,
    message: MessageId,
) -> Result<&MessageRecord, DomainError> {
    state
        .message(message)
        .ok_or_else(|| DomainError::not_found(format!("message {message} does not exist")))
}

fn ensure_new_message(state: &ConversationState, message: MessageId) -> Result<(), DomainError> {
    if state.message(message).is_some() {
        return Err(DomainError::conflict(format!(
            "message {message} already exists"
        )));
    }
    if state.messages.len() >= MESSAGES_MAX {
        return Err(DomainError::conflict(format!(
            "this conversation holds its maximum of {MESSAGES_MAX} messages: start a new one"
        )));
    }
    Ok(())
}

pub fn decide(
    state: &ConversationState,
    command: &MessagingCommand,
    ctx: &Context,
) -> Result<Vec<MessagingEvent>, DomainError> {
    let me = ctx.actor.account;
    match command {
        MessagingCommand::StartConversation {
            conversation,
            establishment,
            subject,
            recipients,
            sender_facts,
            message,
            body,
        } => {
            if state.conversation.is_some() {
                return Err(DomainError::conflict(format!(
                    "conversation {conversation} already exists"
                )));
            }
            let accounts = checked_recipients(ctx, sender_facts, *establishment, recipients, 1)?;
            let mut participants = vec![me];
            participants.extend(accounts.iter().copied());
            Ok(vec![
                MessagingEvent::ConversationStarted {
                    conversation: *conversation,
                    establishment: *establishment,
                    subject: subject.clone(),
                    started_by: me,
                    participants,
                },
                MessagingEvent::MessageSent {
                    conversation: *conversation,
                    message: *message,
                    sender: me,
                    recipients: accounts,
                    body: body.clone(),
                    sent_at: ctx.now,
                },
            ])
        }
        MessagingCommand::SendMessage {
            conversation,
            message,
            body,
        } => {
            existing(state, *conversation)?;
            if !state.participants.contains(&me) {
                return Err(DomainError::forbidden(
                    "only a participant writes in a conversation",
                ));
            }
            ensure_new_message(state, *message)?;
            let recipients: Vec<AccountId> = state
                .participants
                .iter()
                .copied()
                .filter(|p| *p != me)
                .collect();
            if recipients.is_empty() {
                return Err(DomainError::conflict(
                    "every other participant has left this conversation",
                ));
            }
            Ok(vec![MessagingEvent::MessageSent {
                conversation: *conversation,
                message: *message,
                sender: me,
                recipients,
                body: body.clone(),
                sent_at: ctx.now,
            }])
        }
        MessagingCommand::AddParticipants {
            conversation,
            recipients,
            sender_facts,
        } => {
            let establishment = existing(state, *conversation)?;
            if !state.participants.contains(&me) {
                return Err(DomainError::forbidden(
                    "only a participant adds people to a conversation",
                ));
            }
            if let Some(already) = recipients
                .iter()
                .find(|r| state.participants.contains(&r.account))
            {
                return Err(DomainError::conflict(format!(
                    "{} already takes part in this conversation",
                    already.account
                )));
            }
            let accounts = checked_recipients(
                ctx,
                sender_facts,
                establishment,
                recipients,
                state.participants.len(),
            )?;
            Ok(vec![MessagingEvent::ParticipantsAdded {
                conversation: *conversation,
                added_by: me,
                participants: accounts,
            }])
        }
        MessagingCommand::LeaveConversation { conversation } => {
            existing(state, *conversation)?;
            if !state.participants.contains(&me) {
                return Err(DomainError::conflict(
                    "the actor does not take part in this conversation",
                ));
            }
            Ok(vec![MessagingEvent::ParticipantLeft {
                conversation: *conversation,
                participant: me,
            }])
        }
        MessagingCommand::MarkRead {
            conversation,
            message,
        } => {
            existing(state, *conversation)?;
            let record = message_of(state, *message)?;
            if !record.recipients.contains(&me) {
                return Err(DomainError::forbidden(
                    "only a recipient of a message marks it read",
                ));
            }
            if record.read_by.iter().any(|(reader, _)| *reader == me) {
                return Ok(Vec::new());
            }
            Ok(vec![MessagingEvent::MessageRead {
                conversation: *conversation,
                message: *message,
                reader: me,
                read_at: ctx.now,
            }])
        }
        MessagingCommand::ReportMessage {
            conversation,
            message,
            report,
            reason,
        } => {
            let establishment = existing(state, *conversation)?;
            let record = message_of(state, *message)?;
            if !record.recipients.contains(&me) {
                return Err(DomainError::forbidden(
                    "only a recipient of a message reports it",
                ));
            }
            if record.reported_by.contains(&me) {
                return Err(DomainError::conflict(
                    "this message has already been reported by this recipient",
                ));
            }
            if state.has_report(*report) {
                return Err(DomainError::conflict(format!(
                    "report {report} already exists"
                )));
            }
            Ok(vec![MessagingEvent::MessageReported {
                conversation: *conversation,
                establishment,
                message: *message,
                report: *report,
                reporter: me,
                sender: record.sender,
                body: record.body.clone(),
                sent_at: record.sent_at,
                reported_at: ctx.now,
                reason: reason.clone(),
            }])
        }
    }
}

pub fn evolve(mut state: ConversationState, event: &MessagingEvent) -> ConversationState {
    match event {
        MessagingEvent::ConversationStarted {
            conversation,
            establishment,
            subject,
            participants,
            ..
        } => {
            state.conversation = Some(*conversation);
            state.establishment = Some(*establishment);
            state.subject = Some(subject.clone());
            state.participants = participants.iter().copied().collect();
        }
        MessagingEvent::MessageSent {
            message,
            sender,
            recipients,
            body,
            sent_at,
            ..
        } => state.messages.push(MessageRecord {
            message: *message,
            sender: *sender,
            recipients: recipients.iter().copied().collect(),
            body: body.clone(),
            sent_at: *sent_at,
            read_by: Vec::new(),
            reports: Vec::new(),
            reported_by: BTreeSet::new(),
        }),
        MessagingEvent::ParticipantsAdded { participants, .. } => {
            state.participants.extend(participants.iter().copied());
        }
        MessagingEvent::ParticipantLeft { participant, .. } => {
            state.participants.remove(participant);
        }
        MessagingEvent::MessageRead {
            message,
            reader,
            read_at,
            ..
        } => {
            if let Some(record) = state.message_mut(*message) {
                record.read_by.push((*reader, *read_at));
            }
        }
        MessagingEvent::MessageReported {
            message,
            report,
            reporter,
            ..
        } => {
            if let Some(record) = state.message_mut(*message) {
                record.reports.push(*report);
                record.reported_by.insert(*reporter);
            }
        }
    }
    state
}
