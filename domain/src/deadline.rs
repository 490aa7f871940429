//! Legal time limits of the right of reply, computed in Europe/Paris civil time.
//!
//! Two limits come from the law (LCEN art. 6-IV, décret 2007-1527; see ENT.md):
//!
//! - The reply deadline. The publication director inserts the reply, and tells the requester what
//!   will be done, within three days of receiving the request. No text speaks of working days, so
//!   the days are calendar days, weekends and holidays included. A request received on Paris date
//!   `D`, at any hour, is due at 24:00 of `D + 3`, which is the instant 00:00 of `D + 4` in Paris.
//!   That instant is already late: an action is on time when it happens strictly before it.
//! - The request window. A request may be made at most three months after the message was made
//!   available to the public. Months are calendar months counted in Paris dates, from date to
//!   same-numbered date ("de quantième à quantième"), the day of publication itself not counted:
//!   for a message public on Paris date `P`, the last day of the window is `P + 3 months` (when that
//!   month is too short, its last day, e.g. 30 November → 28 or 29 February), and a request received
//!   until 24:00 of that day, Paris time, is in time. Any doubt on the edge day is resolved in
//!   favour of the requester, whose right the law protects.
//!
//! All the arithmetic goes through Paris civil dates, so daylight-saving changes (last Sundays of
//! March and October) and year ends need no special case: a "day" is a Paris calendar day, 23, 24
//! or 25 hours long. The functions are pure; the current time is always passed in.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// The time zone every legal limit of the service is counted in.
pub const LEGAL_TIME_ZONE: &str = "Europe/Paris";

/// Calendar days the director has to insert the reply and to answer the requester, counted after
/// the day of reception.
pub const REPLY_DAYS: i32 = 3;

/// Calendar months after the message went public during which a right of reply may be asked.
pub const REQUEST_WINDOW_MONTHS: i32 = 3;

/// Why a legal limit could not be computed. Both cases are outside any real school's life (the time
/// zone database is bundled into the binary; dates stay far from year 9999), but they are typed
/// rather than panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("the time zone {LEGAL_TIME_ZONE} is not available: {0}")]
    TimeZoneUnavailable(String),
    #[error("the legal limit falls outside the supported range of dates")]
    OutOfRange,
}

impl From<DeadlineError> for crate::error::DomainError {
    fn from(error: DeadlineError) -> Self {
        crate::error::DomainError::invalid(error.to_string())
    }
}

/// The Europe/Paris time zone from the bundled database.
pub fn paris() -> Result<TimeZone, DeadlineError> {
    TimeZone::get(LEGAL_TIME_ZONE).map_err(|e| DeadlineError::TimeZoneUnavailable(e.to_string()))
}

/// The Paris calendar date on which an instant falls.
pub fn paris_date(at: Timestamp) -> Result<Date, DeadlineError> {
    Ok(at.to_zoned(paris()?).date())
}

/// The first instant of a Paris calendar date (its midnight, or the first instant after a
/// daylight-saving gap should one ever cover midnight).
pub fn paris_start_of_day(date: Date) -> Result<Timestamp, DeadlineError> {
    let zoned = date
        .to_zoned(paris()?)
        .and_then(|z| z.start_of_day())
        .map_err(|_| DeadlineError::OutOfRange)?;
    Ok(zoned.timestamp())
}

/// The instant a right-of-reply request received at `received_at` falls due: 24:00 of the third
/// Paris calendar day after the day of reception, i.e. 00:00 Paris of the fourth day, in UTC.
pub fn reply_due_at(received_at: Timestamp) -> Result<Timestamp, DeadlineError> {
    let reception_day = paris_date(received_at)?;
    let first_late_day = reception_day
        .checked_add((REPLY_DAYS + 1).days())
        .map_err(|_| DeadlineError::OutOfRange)?;
    paris_start_of_day(first_late_day)
}

/// Whether something done at `at` is late for a limit falling at `due_at`. The due instant itself
/// is late: it is already the first instant of the next day.
pub fn is_late(due_at: Timestamp, at: Timestamp) -> bool {
    at >= due_at
}

/// The time left before `due_at`, as seen at `now`; `None` once the limit has passed.
pub fn time_left(due_at: Timestamp, now: Timestamp) -> Option<SignedDuration> {
    if is_late(due_at, now) {
        None
    } else {
        Some(now.duration_until(due_at))
    }
}

/// How long past `due_at` it is at `now`; `None` while still on time.
pub fn overdue_by(due_at: Timestamp, now: Timestamp) -> Option<SignedDuration> {
    if is_late(due_at, now) {
        Some(due_at.duration_until(now))
    } else {
        None
    }
}

/// The last Paris calendar day on which a right of reply may be asked about a message made public
/// at `published_at` (see the module comment for the edge day).
pub fn request_window_last_day(published_at: Timestamp) -> Result<Date, DeadlineError> {
    paris_date(published_at)?
        .checked_add(REQUEST_WINDOW_MONTHS.months())
        .map_err(|_| DeadlineError::OutOfRange)
}

/// The first instant at which a request about a message made public at `published_at` is out of
/// time: 00:00 Paris of the day after the window's last day.
pub fn request_window_closes_at(published_at: Timestamp) -> Result<Timestamp, DeadlineError> {
    let day_after = request_window_last_day(published_at)?
        .tomorrow()
        .map_err(|_| DeadlineError::OutOfRange)?;
    paris_start_of_day(day_after)
}

/// Whether a request received at `received_at` is within the window of a message made public at
/// `published_at`. A reception before the message went public is not within its window.
pub fn is_within_request_window(
    published_at: Timestamp,
    received_at: Timestamp,
) -> Result<bool, DeadlineError> {
    if received_at < published_at {
        return Ok(false);
    }
    Ok(received_at < request_window_closes_at(published_at)?)
}
