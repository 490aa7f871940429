//! Timetables: the weekly slots of one class (subject, teacher, room, day, start, end), and the
//! changes or cancellations of a single occurrence of a slot (a replacement teacher, another
//! room, a moved hour, a lesson cancelled). Times are Europe/Paris wall-clock.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::actor::Context;
use crate::deadline::paris;
use crate::error::DomainError;
use crate::ids::{AccountId, ClassId, EstablishmentId, SlotId};
use crate::policy::{self, require};
use crate::values::{Day, Reason, Room, Subject, TimeRange};

/// What happened to a class's timetable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TimetableEvent {
    SlotAdded {
        class: ClassId,
        establishment: EstablishmentId,
        slot: SlotId,
        subject: Subject,
        teacher: AccountId,
        room: Option<Room>,
        day: Day,
        time: TimeRange,
    },
    SlotRemoved {
        class: ClassId,
        slot: SlotId,
    },
    /// One occurrence (the slot on `date`) changes; `None` fields keep the weekly value.
    OccurrenceChanged {
        class: ClassId,
        slot: SlotId,
        date: Date,
        teacher: Option<AccountId>,
        room: Option<Room>,
        time: Option<TimeRange>,
        reason: Option<Reason>,
    },
    OccurrenceCancelled {
        class: ClassId,
        slot: SlotId,
        date: Date,
        reason: Option<Reason>,
    },
}

/// A weekly slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub subject: Subject,
    pub teacher: AccountId,
    pub room: Option<Room>,
    pub day: Day,
    pub time: TimeRange,
}

/// What became of one occurrence.
#[derive(Clone, Debug, PartialEq)]
pub enum OccurrenceChange {
    Changed {
        teacher: Option<AccountId>,
        room: Option<Room>,
        time: Option<TimeRange>,
    },
    Cancelled,
}

/// What the log says about one class's timetable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimetableState {
    pub class: Option<ClassId>,
    pub establishment: Option<EstablishmentId>,
    pub slots: BTreeMap<SlotId, Slot>,
    pub occurrences: BTreeMap<(SlotId, Date), OccurrenceChange>,
}

/// What may be asked of a timetable.
#[derive(Clone, Debug, PartialEq)]
pub enum TimetableCommand {
    AddSlot {
        class: ClassId,
        establishment: EstablishmentId,
        slot: SlotId,
        subject: Subject,
        teacher: AccountId,
        room: Option<Room>,
        day: Day,
        time: TimeRange,
        /// Fact from the class read model: `teacher` is assigned to `subject` in this class.
        teacher_assigned: bool,
        /// Fact from the timetable read model: the teacher or the room already has a slot
        /// overlapping this one in another class.
        clashes_elsewhere: bool,
    },
    RemoveSlot {
        class: ClassId,
        slot: SlotId,
    },
    ChangeOccurrence {
        class: ClassId,
        slot: SlotId,
        date: Date,
        teacher: Option<AccountId>,
        room: Option<Room>,
        time: Option<TimeRange>,
        reason: Option<Reason>,
        /// Fact: a replacement `teacher`, if any, is a teacher of the establishment.
        replacement_is_teacher_here: bool,
    },
    CancelOccurrence {
        class: ClassId,
        slot: SlotId,
        date: Date,
        reason: Option<Reason>,
    },
}

/// When the occurrence of `slot` on `date` starts (Europe/Paris).
pub fn occurrence_start(date: Date, time: &TimeRange) -> Result<Timestamp, DomainError> {
    let tz = paris().map_err(DomainError::from)?;
    date.to_datetime(time.start())
        .to_zoned(tz)
        .map(|z| z.timestamp())
        .map_err(|e| DomainError::invalid(format!("occurrence time out of range: {e}")))
}

/// Decides a command against the timetable's state.
pub fn decide(
    state: &TimetableState,
    command: &TimetableCommand,
    ctx: &Context,
) -> Result<Vec<TimetableEvent>, DomainError> {
    match command {
        TimetableCommand::AddSlot {
            class,
            establishment,
            slot,
            subject,
            teacher,
            room,
            day,
            time,
            teacher_assigned,
            clashes_elsewhere,
        } => {
            require(
                policy::may_edit_timetable(&ctx.actor, *establishment),
                "only staff and administrators of the establishment edit timetables",
            )?;
            if state.class.is_some_and(|c| c != *class)
                || state.establishment.is_some_and(|e| e != *establishment)
            {
                return Err(DomainError::invalid(
                    "slot for another class or establishment",
                ));
            }
            if state.slots.contains_key(slot) {
                return Err(DomainError::conflict("slot already exists"));
            }
            if !teacher_assigned {
                return Err(DomainError::invalid(
                    "the teacher is not assigned to this subject in this class",
                ));
            }
            if let Some((other, _)) = state
                .slots
                .iter()
                .find(|(_, s)| s.day == *day && s.time.overlaps(time))
            {
                return Err(DomainError::conflict(format!(
                    "the class already has slot {other} at that time"
                )));
            }
            if *clashes_elsewhere {
                return Err(DomainError::conflict(
                    "the teacher or the room is busy at that time",
                ));
            }
            Ok(vec![TimetableEvent::SlotAdded {
                class: *class,
                establishment: *establishment,
                slot: *slot,
                subject: subject.clone(),
                teacher: *teacher,
                room: room.clone(),
                day: *day,
                time: *time,
            }])
        }
        TimetableCommand::RemoveSlot { class, slot } => {
            require_editor(state, ctx)?;
            if !state.slots.contains_key(slot) {
                return Err(DomainError::not_found("no such slot"));
            }
            Ok(vec![TimetableEvent::SlotRemoved {
                class: *class,
                slot: *slot,
            }])
        }
        TimetableCommand::ChangeOccurrence {
            class,
            slot,
            date,
            teacher,
            room,
            time,
            reason,
            replacement_is_teacher_here,
        } => {
            require_editor(state, ctx)?;
            let weekly = require_upcoming_occurrence(state, *slot, *date, ctx)?;
            if teacher.is_none() && room.is_none() && time.is_none() {
                return Err(DomainError::invalid(
                    "a change changes the teacher, room or time",
                ));
            }
            if teacher.is_some() && !replacement_is_teacher_here {
                return Err(DomainError::invalid(
                    "the replacement is not a teacher of the establishment",
                ));
            }
            if let Some(new_time) = time {
                let clash = state
                    .slots
                    .iter()
                    .any(|(id, s)| id != slot && s.day == weekly.day && s.time.overlaps(new_time));
                if clash {
                    return Err(DomainError::conflict(
                        "the moved occurrence overlaps another slot of the class",
                    ));
                }
            }
            Ok(vec![TimetableEvent::OccurrenceChanged {
                class: *class,
                slot: *slot,
                date: *date,
                teacher: *teacher,
                room: room.clone(),
                time: *time,
                reason: reason.clone(),
            }])
        }
        TimetableCommand::CancelOccurrence {
            class,
            slot,
            date,
            reason,
        } => {
            require_editor(state, ctx)?;
            require_upcoming_occurrence(state, *slot, *date, ctx)?;
            Ok(vec![TimetableEvent::OccurrenceCancelled {
                class: *class,
                slot: *slot,
                date: *date,
                reason: reason.clone(),
            }])
        }
    }
}

fn require_editor(state: &TimetableState, ctx: &Context) -> Result<(), DomainError> {
    let Some(establishment) = state.establishment else {
        return Err(DomainError::not_found("the class has no timetable"));
    };
    require(
        policy::may_edit_timetable(&ctx.actor, establishment),
        "only staff and administrators of the establishment edit timetables",
    )
}

/// The slot exists, `date` falls on its day, the occurrence is not cancelled and has not started.
fn require_upcoming_occurrence<'a>(
    state: &'a TimetableState,
    slot: SlotId,
    date: Date,
    ctx: &Context,
) -> Result<&'a Slot, DomainError> {
    let Some(weekly) = state.slots.get(&slot) else {
        return Err(DomainError::not_found("no such slot"));
    };
    if Day::of(date) != weekly.day {
        return Err(DomainError::invalid(format!(
            "{date} is not a {:?}",
            weekly.day
        )));
    }
    if state.occurrences.get(&(slot, date)) == Some(&OccurrenceChange::Cancelled) {
        return Err(DomainError::conflict("this occurrence is cancelled"));
    }
    if ctx.now >= occurrence_start(date, &weekly.time)? {
        return Err(DomainError::deadline_passed(
            "the occurrence has already started",
        ));
    }
    Ok(weekly)
}

/// Applies an event to the state.
pub fn evolve(mut state: TimetableState, event: &TimetableEvent) -> TimetableState {
    match event {
        TimetableEvent::SlotAdded {
            class,
            establishment,
            slot,
            subject,
            teacher,
            room,
            day,
            time,
        } => {
            state.class = Some(*class);
            state.establishment = Some(*establishment);
            state.slots.insert(
                *slot,
                Slot {
                    subject: subject.clone(),
                    teacher: *teacher,
                    room: room.clone(),
                    day: *day,
                    time: *time,
                },
            );
        }
        TimetableEvent::SlotRemoved { slot, .. } => {
            state.slots.remove(slot);
            state.occurrences.retain(|(s, _), _| s != slot);
        }
        TimetableEvent::OccurrenceChanged {
            slot,
            date,
            teacher,
            room,
            time,
            ..
        } => {
            state.occurrences.insert(
                (*slot, *date),
                OccurrenceChange::Changed {
                    teacher: *teacher,
                    room: room.clone(),
                    time: *time,
                },
            );
        }
        TimetableEvent::OccurrenceCancelled { slot, date, .. } => {
            state
                .occurrences
                .insert((*slot, *date), OccurrenceChange::Cancelled);
        }
    }
    state
}

/// The stream of one class's timetable.
pub fn stream_id(class: ClassId) -> String {
    format!("timetable-{class}")
}

/// The stream a timetable event belongs to.
pub fn event_stream_id(event: &TimetableEvent) -> String {
    match event {
        TimetableEvent::SlotAdded { class, .. }
        | TimetableEvent::SlotRemoved { class, .. }
        | TimetableEvent::OccurrenceChanged { class, .. }
        | TimetableEvent::OccurrenceCancelled { class, .. } => stream_id(*class),
    }
}
