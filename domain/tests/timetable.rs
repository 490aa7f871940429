//! Timetables: weekly slots and single-occurrence changes and cancellations, given / when / then.

mod common;

use common::*;
use domain::actor::Context;
use domain::error::DomainError;
use domain::ids::SlotId;
use domain::timetable::*;
use domain::values::*;
use jiff::civil::{Date, date, time};

fn run(
    given: &[TimetableEvent],
    command: TimetableCommand,
    ctx: &Context,
) -> Result<Vec<TimetableEvent>, DomainError> {
    given_when(given, evolve, decide, command, ctx)
}

/// Monday 2 March 2026, 08:00 UTC (09:00 in Paris).
const NOW: &str = "2026-03-02T08:00:00Z";

fn slot() -> SlotId {
    SlotId::from_uuid(uuid(300))
}

fn hours(from: i8, to: i8) -> TimeRange {
    TimeRange::new(time(from, 0, 0, 0), time(to, 0, 0, 0)).unwrap()
}

fn room(s: &str) -> Room {
    Room::new(s).unwrap()
}

fn add(slot: SlotId, day: Day, time: TimeRange, assigned: bool, clash: bool) -> TimetableCommand {
    TimetableCommand::AddSlot {
        class: class(),
        establishment: est(),
        slot,
        subject: maths(),
        teacher: account(TEACHER),
        room: Some(room("B204")),
        day,
        time,
        teacher_assigned: assigned,
        clashes_elsewhere: clash,
    }
}

/// Mondays 8:00 to 10:00, Paris time.
fn added() -> TimetableEvent {
    TimetableEvent::SlotAdded {
        class: class(),
        establishment: est(),
        slot: slot(),
        subject: maths(),
        teacher: account(TEACHER),
        room: Some(room("B204")),
        day: Day::Monday,
        time: hours(8, 10),
    }
}

fn cancel(on: Date) -> TimetableCommand {
    TimetableCommand::CancelOccurrence {
        class: class(),
        slot: slot(),
        date: on,
        reason: Some(reason("Professeur absent")),
    }
}

#[test]
fn staff_add_a_weekly_slot() {
    let events = run(
        &[],
        add(slot(), Day::Monday, hours(8, 10), true, false),
        &at(staff(), NOW),
    );
    assert_eq!(events.unwrap(), vec![added()]);
    assert_eq!(stream_id(class()), format!("timetable-{}", class()));
}

#[test]
fn slot_rules() {
    let ctx = at(admin(), NOW);
    let cmd = || add(slot(), Day::Monday, hours(8, 10), true, false);
    assert_refused(run(&[], cmd(), &at(teacher(), NOW)), "FORBIDDEN");
    assert_refused(
        run(
            &[],
            add(slot(), Day::Monday, hours(8, 10), false, false),
            &ctx,
        ),
        "INVALID",
    );
    assert_refused(
        run(
            &[],
            add(slot(), Day::Monday, hours(8, 10), true, true),
            &ctx,
        ),
        "CONFLICT",
    );
    assert_refused(run(&[added()], cmd(), &ctx), "CONFLICT");
    let other = SlotId::from_uuid(uuid(301));
    let overlapping = add(other, Day::Monday, hours(9, 11), true, false);
    assert_refused(run(&[added()], overlapping, &ctx), "CONFLICT");
    assert!(
        run(
            &[added()],
            add(other, Day::Monday, hours(10, 11), true, false),
            &ctx
        )
        .is_ok()
    );
    assert!(
        run(
            &[added()],
            add(other, Day::Tuesday, hours(8, 10), true, false),
            &ctx
        )
        .is_ok()
    );
}

#[test]
fn a_slot_is_removed() {
    let remove = TimetableCommand::RemoveSlot {
        class: class(),
        slot: slot(),
    };
    let events = run(&[added()], remove.clone(), &at(staff(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![TimetableEvent::SlotRemoved {
            class: class(),
            slot: slot(),
        }]
    );
    assert_refused(
        run(&[added()], remove.clone(), &at(student(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(run(&[], remove, &at(staff(), NOW)), "NOT_FOUND");
}

#[test]
fn one_occurrence_is_cancelled_before_it_starts() {
    let monday = date(2026, 3, 9);
    let events = run(&[added()], cancel(monday), &at(staff(), NOW)).unwrap();
    let cancelled = TimetableEvent::OccurrenceCancelled {
        class: class(),
        slot: slot(),
        date: monday,
        reason: Some(reason("Professeur absent")),
    };
    assert_eq!(events, vec![cancelled.clone()]);
    assert_refused(
        run(&[added(), cancelled], cancel(monday), &at(staff(), NOW)),
        "CONFLICT",
    );
    assert_refused(
        run(&[added()], cancel(date(2026, 3, 10)), &at(staff(), NOW)),
        "INVALID",
    );
    assert_refused(
        run(&[added()], cancel(monday), &at(teacher(), NOW)),
        "FORBIDDEN",
    );
    // Today's 8:00 Paris lesson started at 07:00 UTC, before NOW.
    assert_refused(
        run(&[added()], cancel(date(2026, 3, 2)), &at(staff(), NOW)),
        "DEADLINE_PASSED",
    );
}

#[test]
fn the_start_of_an_occurrence_follows_paris_summer_time() {
    // Summer time starts on Sunday 29 March 2026: Monday 30 March 8:00 Paris is 06:00 UTC.
    let monday = date(2026, 3, 30);
    assert_eq!(
        occurrence_start(monday, &hours(8, 10)).unwrap(),
        ts("2026-03-30T06:00:00Z")
    );
    assert!(
        run(
            &[added()],
            cancel(monday),
            &at(staff(), "2026-03-30T05:59:59Z")
        )
        .is_ok()
    );
    let late = run(
        &[added()],
        cancel(monday),
        &at(staff(), "2026-03-30T06:00:00Z"),
    );
    assert_refused(late, "DEADLINE_PASSED");
}

#[test]
fn one_occurrence_changes_teacher_room_or_time() {
    let monday = date(2026, 3, 9);
    let change = |teacher, room: Option<Room>, time, here| TimetableCommand::ChangeOccurrence {
        class: class(),
        slot: slot(),
        date: monday,
        teacher,
        room,
        time,
        reason: None,
        replacement_is_teacher_here: here,
    };
    let replacement = Some(account(OTHER_TEACHER));
    let events = run(
        &[added()],
        change(replacement, None, None, true),
        &at(staff(), NOW),
    );
    assert_eq!(
        events.unwrap(),
        vec![TimetableEvent::OccurrenceChanged {
            class: class(),
            slot: slot(),
            date: monday,
            teacher: replacement,
            room: None,
            time: None,
            reason: None,
        }]
    );
    let ctx = at(staff(), NOW);
    assert_refused(
        run(&[added()], change(replacement, None, None, false), &ctx),
        "INVALID",
    );
    assert_refused(
        run(&[added()], change(None, None, None, true), &ctx),
        "INVALID",
    );
    assert!(
        run(
            &[added()],
            change(None, Some(room("CDI")), None, false),
            &ctx
        )
        .is_ok()
    );
    let other = TimetableEvent::SlotAdded {
        class: class(),
        establishment: est(),
        slot: SlotId::from_uuid(uuid(301)),
        subject: history(),
        teacher: account(OTHER_TEACHER),
        room: None,
        day: Day::Monday,
        time: hours(10, 12),
    };
    let moved = change(None, None, Some(hours(11, 12)), false);
    assert_refused(run(&[added(), other.clone()], moved, &ctx), "CONFLICT");
    let earlier = change(None, None, Some(hours(7, 8)), false);
    assert!(run(&[added(), other], earlier, &ctx).is_ok());
}

#[test]
fn a_timetable_belongs_to_one_class_of_one_establishment() {
    let mut elsewhere = add(
        SlotId::from_uuid(uuid(301)),
        Day::Friday,
        hours(8, 9),
        true,
        false,
    );
    if let TimetableCommand::AddSlot { class, .. } = &mut elsewhere {
        *class = other_class();
    }
    assert_refused(run(&[added()], elsewhere, &at(staff(), NOW)), "INVALID");
}
