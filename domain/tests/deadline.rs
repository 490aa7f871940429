//! The right-of-reply time limits: explicit cases around daylight-saving changes, year ends and
//! month ends, and properties over many reception instants.

use domain::deadline::{
    REPLY_DAYS, is_late, is_within_request_window, overdue_by, paris, paris_date, reply_due_at,
    request_window_closes_at, request_window_last_day, time_left,
};
use jiff::civil::{Date, Weekday, date};
use jiff::{SignedDuration, Timestamp, ToSpan};
use proptest::prelude::*;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn due(received: &str) -> Timestamp {
    reply_due_at(ts(received)).unwrap()
}

#[test]
fn an_ordinary_reception_is_due_at_paris_midnight_four_days_later() {
    // Wednesday 4 February 2026, 10:00 Paris (UTC+1): due 24:00 Saturday 7 = 00:00 Sunday 8.
    assert_eq!(due("2026-02-04T09:00:00Z"), ts("2026-02-07T23:00:00Z"));
    // Summer time (UTC+2): 10 June 2026 → 00:00 Paris of 14 June.
    assert_eq!(due("2026-06-10T08:00:00Z"), ts("2026-06-13T22:00:00Z"));
}

#[test]
fn the_hour_of_reception_within_the_paris_day_does_not_matter() {
    // 00:00:00 and 23:59:59 Paris on 4 February 2026 share their deadline.
    assert_eq!(due("2026-02-03T23:00:00Z"), ts("2026-02-07T23:00:00Z"));
    assert_eq!(due("2026-02-04T22:59:59Z"), ts("2026-02-07T23:00:00Z"));
    // One second later it is 5 February in Paris, though still 4 February in UTC.
    assert_eq!(due("2026-02-04T23:00:00Z"), ts("2026-02-08T23:00:00Z"));
}

#[test]
fn weekends_count_as_days() {
    // Friday 6 February 2026 → due at the end of Monday 9 February.
    assert_eq!(due("2026-02-06T12:00:00Z"), ts("2026-02-09T23:00:00Z"));
}

#[test]
fn spring_forward_on_the_last_sunday_of_march() {
    // 2026: summer time starts Sunday 29 March at 02:00 Paris.
    // Received Wednesday 25 March at 23:59:59 Paris (UTC+1): due 00:00 of 29 March, still winter.
    assert_eq!(due("2026-03-25T22:59:59Z"), ts("2026-03-28T23:00:00Z"));
    // Received Thursday 26 March at 00:30 Paris: due 00:00 of Monday 30 March, now UTC+2.
    assert_eq!(due("2026-03-25T23:30:00Z"), ts("2026-03-29T22:00:00Z"));
    // Received on the Sunday itself, before and after the change: due 00:00 of 2 April (UTC+2).
    assert_eq!(due("2026-03-29T00:30:00Z"), ts("2026-04-01T22:00:00Z"));
    assert_eq!(due("2026-03-29T01:30:00Z"), ts("2026-04-01T22:00:00Z"));
    // From 26 March 00:30 to 30 March 00:00 is 95.5 hours on the clock, but only 94.5 elapse:
    // one hour was skipped.
    assert_eq!(
        ts("2026-03-25T23:30:00Z").duration_until(due("2026-03-25T23:30:00Z")),
        SignedDuration::from_mins(94 * 60 + 30)
    );
}

#[test]
fn fall_back_on_the_last_sunday_of_october() {
    // 2026: winter time starts Sunday 25 October at 03:00 Paris (back to 02:00).
    // Received Wednesday 21 October at 23:59:59 Paris (UTC+2): due 00:00 of 25 October, still summer.
    assert_eq!(due("2026-10-21T21:59:59Z"), ts("2026-10-24T22:00:00Z"));
    // Received Thursday 22 October at noon: due 00:00 of Monday 26 October, now UTC+1.
    assert_eq!(due("2026-10-22T10:00:00Z"), ts("2026-10-25T23:00:00Z"));
    // Received during the repeated hour 02:00–03:00 of the Sunday, both times round.
    assert_eq!(due("2026-10-25T00:30:00Z"), ts("2026-10-28T23:00:00Z"));
    assert_eq!(due("2026-10-25T01:30:00Z"), ts("2026-10-28T23:00:00Z"));
    // Reception at 00:00 Thursday 22 October to due: four days, one of them 25 hours long.
    assert_eq!(
        ts("2026-10-21T22:00:00Z").duration_until(due("2026-10-21T22:00:00Z")),
        SignedDuration::from_hours(97)
    );
}

#[test]
fn year_end_and_new_year() {
    // Received Monday 28 December 2026: due 24:00 of 31 December = 00:00 of 1 January 2027.
    assert_eq!(due("2026-12-28T12:00:00Z"), ts("2026-12-31T23:00:00Z"));
    // Received on 31 December at noon: due 00:00 of 4 January 2027.
    assert_eq!(due("2026-12-31T12:00:00Z"), ts("2027-01-03T23:00:00Z"));
    // Received at 00:30 Paris on 1 January 2027, still 31 December in UTC: due 00:00 of 5 January.
    assert_eq!(due("2026-12-31T23:30:00Z"), ts("2027-01-04T23:00:00Z"));
}

#[test]
fn leap_day_counts() {
    // Received Sunday 27 February 2028 (a leap year): 28, 29 February, 1 March → due 00:00 of 2 March.
    assert_eq!(due("2028-02-27T10:00:00Z"), ts("2028-03-01T23:00:00Z"));
    // The same date in 2027: 28 February, 1, 2 March → due 00:00 of 3 March.
    assert_eq!(due("2027-02-27T10:00:00Z"), ts("2027-03-02T23:00:00Z"));
}

#[test]
fn the_due_instant_itself_is_late() {
    let due_at = due("2026-02-04T09:00:00Z");
    let just_before = due_at.checked_sub(SignedDuration::from_nanos(1)).unwrap();
    assert!(!is_late(due_at, just_before));
    assert!(is_late(due_at, due_at));
    assert_eq!(time_left(due_at, due_at), None);
    assert_eq!(
        time_left(due_at, just_before),
        Some(SignedDuration::from_nanos(1))
    );
}

#[test]
fn time_left_and_overdue_are_complementary() {
    let due_at = ts("2026-02-07T23:00:00Z");
    let now = ts("2026-02-07T20:00:00Z");
    assert_eq!(time_left(due_at, now), Some(SignedDuration::from_hours(3)));
    assert_eq!(overdue_by(due_at, now), None);
    let later = ts("2026-02-08T01:30:00Z");
    assert_eq!(time_left(due_at, later), None);
    assert_eq!(
        overdue_by(due_at, later),
        Some(SignedDuration::from_mins(150))
    );
    assert_eq!(overdue_by(due_at, due_at), Some(SignedDuration::ZERO));
}

#[test]
fn the_request_window_ends_with_the_same_numbered_day_three_months_later() {
    let published = ts("2026-01-15T10:00:00Z");
    assert_eq!(
        request_window_last_day(published).unwrap(),
        date(2026, 4, 15)
    );
    // 00:00 Paris of 16 April 2026 (UTC+2).
    let closes = request_window_closes_at(published).unwrap();
    assert_eq!(closes, ts("2026-04-15T22:00:00Z"));
    assert!(is_within_request_window(published, ts("2026-04-15T21:59:59Z")).unwrap());
    assert!(!is_within_request_window(published, closes).unwrap());
}

#[test]
fn the_request_window_in_short_months_ends_on_their_last_day() {
    let last_day = |published: &str| request_window_last_day(ts(published)).unwrap();
    assert_eq!(last_day("2025-11-30T10:00:00Z"), date(2026, 2, 28));
    assert_eq!(last_day("2027-11-30T10:00:00Z"), date(2028, 2, 29));
    assert_eq!(last_day("2026-05-31T10:00:00Z"), date(2026, 8, 31));
    assert_eq!(last_day("2026-03-31T10:00:00Z"), date(2026, 6, 30));
}

#[test]
fn the_request_window_counts_from_the_paris_date_of_publication() {
    // 23:30 UTC on 31 December 2026 is already 1 January 2027 in Paris.
    let published = ts("2026-12-31T23:30:00Z");
    assert_eq!(
        request_window_last_day(published).unwrap(),
        date(2027, 4, 1)
    );
    assert_eq!(
        request_window_closes_at(published).unwrap(),
        ts("2027-04-01T22:00:00Z")
    );
}

#[test]
fn a_request_before_publication_is_not_in_the_window() {
    let published = ts("2026-01-15T10:00:00Z");
    assert!(!is_within_request_window(published, ts("2026-01-15T09:59:59Z")).unwrap());
    assert!(is_within_request_window(published, published).unwrap());
}

/// Instants between 1990 and 2100, to the second.
fn any_instant() -> impl Strategy<Value = Timestamp> {
    (631_152_000i64..4_102_444_800i64).prop_map(|s| Timestamp::from_second(s).unwrap())
}

/// The last Sunday of a month.
fn last_sunday(year: i16, month: i8) -> Date {
    date(year, month, 1)
        .nth_weekday_of_month(-1, Weekday::Sunday)
        .unwrap()
}

/// Instants within five days either side of a daylight-saving change or of a new year, at any
/// second of the day.
fn instant_near_a_change() -> impl Strategy<Value = Timestamp> {
    (1996i16..2100, 0usize..3, -5i32..=5, 0i64..86_400).prop_map(
        |(year, which, offset_days, second)| {
            let anchor = match which {
                0 => last_sunday(year, 3),
                1 => last_sunday(year, 10),
                _ => date(year, 12, 31),
            };
            let day = anchor.checked_add(offset_days.days()).unwrap();
            let start = day.to_zoned(paris().unwrap()).unwrap().timestamp();
            start
                .checked_add(SignedDuration::from_secs(second))
                .unwrap()
        },
    )
}

fn check_deadline(received: Timestamp) -> Result<(), TestCaseError> {
    let due_at = reply_due_at(received).unwrap();
    let local_due = due_at.to_zoned(paris().unwrap());
    let reception_day = paris_date(received).unwrap();
    // The due instant is a Paris midnight, four calendar days after the day of reception.
    prop_assert_eq!(local_due.time(), jiff::civil::time(0, 0, 0, 0));
    prop_assert_eq!(
        local_due.date(),
        reception_day.checked_add((REPLY_DAYS + 1).days()).unwrap()
    );
    // The last on-time instant is on the third day after reception.
    let last_on_time = due_at.checked_sub(SignedDuration::from_nanos(1)).unwrap();
    let last_day = paris_date(last_on_time).unwrap();
    prop_assert_eq!(
        reception_day.until(last_day).unwrap().get_days(),
        REPLY_DAYS
    );
    // Strictly after reception, between 71 hours (late reception, a 23-hour day) and 97 hours
    // (reception at midnight, a 25-hour day).
    prop_assert!(due_at > received);
    prop_assert!(!is_late(due_at, received));
    let length = received.duration_until(due_at);
    prop_assert!(length > SignedDuration::from_hours(71));
    prop_assert!(length <= SignedDuration::from_hours(97));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_deadline_is_the_paris_midnight_ending_the_third_day(received in any_instant()) {
        check_deadline(received)?;
    }

    #[test]
    fn the_deadline_holds_across_changes_and_year_ends(received in instant_near_a_change()) {
        check_deadline(received)?;
    }

    #[test]
    fn the_deadline_is_monotonic_in_reception_time(
        a in instant_near_a_change(),
        gap_s in 0i64..400_000,
    ) {
        let b = a.checked_add(SignedDuration::from_secs(gap_s)).unwrap();
        prop_assert!(reply_due_at(a).unwrap() <= reply_due_at(b).unwrap());
        if paris_date(a).unwrap() == paris_date(b).unwrap() {
            prop_assert_eq!(reply_due_at(a).unwrap(), reply_due_at(b).unwrap());
        }
    }

    #[test]
    fn the_window_is_three_calendar_months_of_paris_days(
        published in any_instant(),
        delay_s in 0i64..10_000_000,
    ) {
        let last_day = request_window_last_day(published).unwrap();
        let published_day = paris_date(published).unwrap();
        let days = published_day.until(last_day).unwrap().get_days();
        prop_assert!((89..=92).contains(&days), "{} days", days);
        let closes = request_window_closes_at(published).unwrap();
        prop_assert_eq!(closes.to_zoned(paris().unwrap()).time(), jiff::civil::time(0, 0, 0, 0));
        let received = published.checked_add(SignedDuration::from_secs(delay_s)).unwrap();
        prop_assert_eq!(
            is_within_request_window(published, received).unwrap(),
            paris_date(received).unwrap() <= last_day
        );
    }
}
