//! A realistic, deterministic event history of a whole région, for the projections benchmarks.
//!
//! The région has several académies and some six hundred establishments (écoles, collèges,
//! lycées, lycées professionnels; public and private under contract), registered with their ENT
//! deployment dates (most in the past, a few withdrawn and deployed again, a few during the
//! simulated fortnight). The deployed establishments are populated until the student budget
//! (one student per 50 target events) is spent: a director, staff, teachers, classes with their
//! teachers per subject, a work group and a weekly timetable, students enrolled, and one or two
//! parents per student (siblings share theirs). Each school day then brings what a real ENT
//! records, in proportions taken from usage (logins and service visits are the bulk): logins
//! with sessions and visits per profile, homework and submissions (some late, some handed in
//! again, some by a group), evaluations with grades (published, a few corrected), absences and
//! lateness justified by parents and reviewed by staff, timetable changes and cancellations,
//! conversations between teachers or staff and families with replies and read marks (a few
//! reported), news and class-space publications (pre-moderated ones approved by the director,
//! some reported, a few withdrawn), and right-of-reply requests answered, refused or left open.
//!
//! Every event is one the domain could produce: the rare publishing and reply flows go through
//! the domain's `decide` functions (their facts are intricate), and the bulk is built directly
//! as domain events from a model of the région that keeps them consistent (an account exists
//! before it logs in, a grade is corrected only once recorded, a message reaches only the
//! participants…). Events are encoded with `domain::codec::encode`.
//!
//! Everything derives from the seed: ids come from the generator's `StdRng`, times from the
//! simulated calendar. Only the log's own `recorded_at_us` is the real clock.
//!
//! [`cached_log`] writes the history to a `FileLog` under `target/bench-data/` (kept between
//! runs, keyed by seed and size) in appends of up to 256 events, hundreds of them in flight at
//! once, so the log's group commit writes thousands of events per `fdatasync`.

// Each benchmark uses part of this module (and of the fields it keeps for the others).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use domain::absence::{AbsenceEvent, AbsenceKind};
use domain::account::{AccountEvent, IsoWeek, SessionEnd};
use domain::actor::{ActorRef, Profile};
use domain::class::ClassEvent;
use domain::establishment::EstablishmentEvent;
use domain::evaluation::{EvaluationEvent, Mark};
use domain::event::{Event, EventBody};
use domain::homework::{HomeworkEvent, Submitter};
use domain::ids::{
    AbsenceId, AccountId, AssignmentId, ClassId, ConversationId, DesignationId, EstablishmentId,
    EvaluationId, GroupId, MessageId, PublicationId, ReplyRequestId, ReportId, SessionId, SlotId,
    SpaceId, SubmissionId,
};
use domain::legal::{Designation, LegalEvent, NamedAccount};
use domain::messaging::MessagingEvent;
use domain::publication::{
    PublicationCommand, PublicationState, SpaceCommand, SpaceFacts, SpaceKind, SpaceState,
    WithdrawalGround,
};
use domain::reply::{
    ContestedPassages, ContestedPublication, MessageKind, NoticeIntent, RefusalGround,
    ReplyCommand, ReplyState, RequestContents,
};
use domain::timetable::TimetableEvent;
use domain::values::{
    Coefficient, Day, Digest256, EstablishmentKind, GradeValue, Login, Scale, SchoolYear, Sector,
    Service, Text, TimeRange, Uai,
};
use domain::{Actor, Context};
use eventlog::{
    AppendOutcome, AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig, Metadata,
    Position, ProposedEvent, StreamAppend, StreamId,
};
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use jiff::civil::{Date, Time, date};
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// The seed of every benchmark log.
pub const SEED: u64 = 2026;

/// Part of the cached log's name: bump it whenever the generator changes what it writes.
const GENERATOR_VERSION: u32 = 2;

/// Target events per simulated student: sizes the population to the log.
const EVENTS_PER_STUDENT: u64 = 50;

/// The first simulated school day: Monday 7 September 2026 (the school year started on the 1st).
fn first_day() -> Date {
    date(2026, 9, 7)
}

/// The académies of the région, with the départements (first three UAI digits) of each.
const ACADEMIES: &[(&str, &[u32])] = &[
    ("Versailles", &[78, 91, 92, 95]),
    ("Créteil", &[77, 93, 94]),
    ("Paris", &[75]),
];

const SUBJECTS: &[&str] = &[
    "Mathématiques",
    "Français",
    "Histoire-géographie",
    "Anglais",
    "Sciences de la vie et de la Terre",
    "Physique-chimie",
];

const GIVEN_NAMES: &[&str] = &[
    "Léa", "Hugo", "Chloé", "Louis", "Emma", "Gabriel", "Jade", "Raphaël", "Inès", "Arthur",
    "Louise", "Jules", "Alice", "Adam", "Lina", "Nathan", "Sarah", "Karim", "Aïcha", "Tom",
];

const FAMILY_NAMES: &[&str] = &[
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "Diallo", "Nguyen", "Haddad",
];

/// A text value that is valid by construction (the benchmark's own constants).
fn text<const MAX: usize, const MULTILINE: bool>(s: &str) -> Text<MAX, MULTILINE> {
    Text::new(s).expect("the generator's texts are valid")
}

/// A generated log on disk.
#[derive(Debug, Clone)]
pub struct LogInfo {
    pub dir: PathBuf,
    /// Events in the log.
    pub events: u64,
    /// The last position of each simulated day (setup first, dated the day before the first).
    pub days: Vec<(Date, Position)>,
    /// Establishments registered, populated, and accounts created.
    pub establishments: usize,
    pub populated: usize,
    pub accounts: usize,
    /// Commands the domain refused along the way (the generator then does without).
    pub refused: u64,
    /// Seconds spent generating and appending (when generated by this run).
    pub generate_secs: Option<f64>,
}

/// Where benchmark data lives: `target/bench-data/` of the workspace (ignored by git).
pub fn bench_data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-data")
}

const SUMMARY_FILE: &str = "generated.txt";

/// The log of `target_events` events for `seed`, generated once and then reused.
pub fn cached_log(seed: u64, target_events: u64) -> LogInfo {
    let dir = bench_data_dir().join(format!(
        "region-v{GENERATOR_VERSION}-seed{seed}-{target_events}"
    ));
    if let Some(info) = read_summary(&dir) {
        return info;
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("an unfinished benchmark log can be removed");
    }
    std::fs::create_dir_all(&dir).expect("the benchmark data directory can be created");
    eprintln!(
        "generating a région of {target_events} events (seed {seed}) into {}",
        dir.display()
    );
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut info = runtime.block_on(async {
        let log = FileLog::open(&dir, LogConfig::default()).expect("the benchmark log opens");
        let info = generate_into(&log, seed, target_events, u64::MAX).await;
        log.close().await;
        info
    });
    info.dir = dir.clone();
    info.generate_secs = Some(started.elapsed().as_secs_f64());
    write_summary(&dir, &info);
    eprintln!(
        "generated {} events in {:.1} s ({:.0} events/s)",
        info.events,
        started.elapsed().as_secs_f64(),
        info.events as f64 / started.elapsed().as_secs_f64()
    );
    info
}

fn write_summary(dir: &Path, info: &LogInfo) {
    let mut s = format!(
        "events {}\nestablishments {}\npopulated {}\naccounts {}\nrefused {}\ngenerate_secs {}\n",
        info.events,
        info.establishments,
        info.populated,
        info.accounts,
        info.refused,
        info.generate_secs.unwrap_or(0.0)
    );
    for (day, position) in &info.days {
        s.push_str(&format!("day {day} {position}\n"));
    }
    std::fs::write(dir.join(SUMMARY_FILE), s).expect("the summary is written");
}

fn read_summary(dir: &Path) -> Option<LogInfo> {
    let text = std::fs::read_to_string(dir.join(SUMMARY_FILE)).ok()?;
    let mut info = LogInfo {
        dir: dir.to_path_buf(),
        events: 0,
        days: Vec::new(),
        establishments: 0,
        populated: 0,
        accounts: 0,
        refused: 0,
        generate_secs: None,
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (words.next()?, words.next()?) {
            ("events", n) => info.events = n.parse().ok()?,
            ("establishments", n) => info.establishments = n.parse().ok()?,
            ("populated", n) => info.populated = n.parse().ok()?,
            ("accounts", n) => info.accounts = n.parse().ok()?,
            ("refused", n) => info.refused = n.parse().ok()?,
            ("generate_secs", n) => info.generate_secs = n.parse().ok(),
            ("day", d) => info
                .days
                .push((d.parse().ok()?, words.next()?.parse().ok()?)),
            _ => return None,
        }
    }
    Some(info)
}

/// What the generator thread hands to the appender.
enum Batch {
    Events(Vec<(StreamId, ProposedEvent)>),
    /// Every event of this simulated day was sent.
    DayEnd(Date),
    Done(Box<LogInfo>),
}

/// Generates the région into `log`, appending its first `bulk_events` events in bulk (many
/// appends in flight) and dropping the rest; returns the summary.
pub async fn generate_into(
    log: &FileLog,
    seed: u64,
    target_events: u64,
    bulk_events: u64,
) -> LogInfo {
    let (info, _) = generate_split(log, seed, target_events, bulk_events).await;
    info
}

/// Like [`generate_into`], and returns the events past `bulk_events` (up to `target_events`,
/// encoded, in order) for the caller to append at its own pace.
pub async fn generate_split(
    log: &FileLog,
    seed: u64,
    target_events: u64,
    bulk_events: u64,
) -> (LogInfo, Vec<(StreamId, ProposedEvent)>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(8);
    let generator = std::thread::spawn(move || {
        let mut region = Region::new(seed, target_events, tx);
        region.run();
    });
    let mut sink = Sink::new(log);
    let mut days = Vec::new();
    let mut rest = Vec::new();
    let mut appended = 0u64;
    let mut info = None;
    // The receiving side blocks; batches are large, so a blocking receive between appends
    // costs little (the log's writer runs on its own thread).
    while let Ok(batch) = rx.recv() {
        match batch {
            Batch::Events(events) => {
                for event in events {
                    if appended < bulk_events {
                        sink.push(event).await;
                        appended += 1;
                    } else {
                        rest.push(event);
                    }
                }
            }
            Batch::DayEnd(day) => {
                let position = sink.barrier().await;
                if position > 0 {
                    days.push((day, position));
                }
            }
            Batch::Done(summary) => info = Some(*summary),
        }
    }
    sink.barrier().await;
    generator.join().expect("the generator thread ends");
    let mut info = info.expect("the generator reports what it made");
    info.days = days;
    info.dir = PathBuf::new();
    (info, rest)
}

/// Most appends in flight at once (the log queues up to 4096).
const APPENDS_IN_FLIGHT_MAX: usize = 512;

/// Cuts consecutive events into appends (a stream appears once per append, so an append ends
/// where a stream comes back after another one) and keeps many in flight. The log takes appends
/// in the order they are first polled, which is the order they are pushed here (each is polled
/// once right away, outside tokio's cooperative budget); positions are checked to come out in
/// that order.
struct Sink<'a> {
    log: &'a FileLog,
    streams: Vec<StreamAppend>,
    seen: HashSet<StreamId>,
    events: usize,
    in_flight: FuturesOrdered<
        futures::future::BoxFuture<'a, Result<AppendOutcome, eventlog::AppendError>>,
    >,
    last_position: Position,
    append_events_max: usize,
}

impl<'a> Sink<'a> {
    fn new(log: &'a FileLog) -> Sink<'a> {
        Sink {
            log,
            streams: Vec::new(),
            seen: HashSet::new(),
            events: 0,
            in_flight: FuturesOrdered::new(),
            last_position: 0,
            append_events_max: LogConfig::default().append_events_max,
        }
    }

    async fn push(&mut self, (stream, event): (StreamId, ProposedEvent)) {
        if let Some(last) = self.streams.last_mut()
            && last.stream == stream
            && self.events < self.append_events_max
        {
            last.events.push(event);
            self.events += 1;
            return;
        }
        if self.events >= self.append_events_max || self.seen.contains(&stream) {
            self.cut().await;
        }
        self.seen.insert(stream.clone());
        self.streams.push(StreamAppend {
            stream,
            expected: ExpectedVersion::Any,
            events: vec![event],
        });
        self.events += 1;
    }

    /// Sends the append being built.
    async fn cut(&mut self) {
        if self.streams.is_empty() {
            return;
        }
        let command_id = self.streams[0].events[0].event_id;
        let request = AppendRequest {
            command_id,
            streams: std::mem::take(&mut self.streams),
        };
        self.seen.clear();
        self.events = 0;
        // Unconstrained: tokio's cooperative budget would otherwise make a send to the log's
        // queue yield now and then, letting later appends overtake it.
        self.in_flight
            .push_back(Box::pin(tokio::task::unconstrained(
                self.log.append(request),
            )));
        // Poll once so the append reaches the log's queue now, in order.
        while let Some(Some(outcome)) = self.in_flight.next().now_or_never() {
            self.check(outcome);
        }
        while self.in_flight.len() >= APPENDS_IN_FLIGHT_MAX {
            self.settle_one().await;
        }
    }

    async fn settle_one(&mut self) {
        if let Some(outcome) = self.in_flight.next().await {
            self.check(outcome);
        }
    }

    fn check(&mut self, outcome: Result<AppendOutcome, eventlog::AppendError>) {
        let outcome = outcome.expect("the benchmark log appends");
        assert!(
            outcome.first_position > self.last_position,
            "appends were written out of order ({} after {})",
            outcome.first_position,
            self.last_position
        );
        self.last_position = outcome.last_position;
    }

    /// Sends everything and waits for it; returns the last position written.
    async fn barrier(&mut self) -> Position {
        self.cut().await;
        while !self.in_flight.is_empty() {
            self.settle_one().await;
        }
        self.last_position
    }
}

// ---------------------------------------------------------------------------------------------
// The région's model
// ---------------------------------------------------------------------------------------------

struct Establishment {
    id: EstablishmentId,
    kind: EstablishmentKind,
    name: String,
    deployed_on: Option<Date>,
    populated: bool,
    director: usize,
    staff: Vec<usize>,
    teachers: Vec<usize>,
    students: Vec<usize>,
    parents: Vec<usize>,
    classes: Vec<usize>,
    news: Option<SpaceFacts>,
    /// Recent publications that may be reported or contested.
    publications: Vec<PublicationTrack>,
}

struct Person {
    id: AccountId,
    establishment: usize,
    profile: Profile,
    /// A student's class.
    class: usize,
    /// A parent's children.
    children: Vec<usize>,
    /// A student's parents.
    parents: Vec<usize>,
    /// A teacher's subject index.
    subject: usize,
}

struct Class {
    id: ClassId,
    establishment: usize,
    students: Vec<usize>,
    group: GroupId,
    group_members: Vec<usize>,
    /// `(teacher, subject index)`.
    teaching: Vec<(usize, usize)>,
    /// `(slot, subject index, teacher, day)`.
    slots: Vec<(SlotId, usize, usize, Day)>,
    space: Option<SpaceFacts>,
}

struct PublicationTrack {
    id: PublicationId,
    state: PublicationState,
    space: SpaceFacts,
}

struct ReplyTrack {
    id: ReplyRequestId,
    establishment: usize,
    state: ReplyState,
    /// What the director will do (0 publish, 1 refuse, 2 only notify, 3 nothing).
    plan: u8,
    /// The simulated day the director acts on.
    act_on: u32,
}

/// The absence records staff and parents still act on: `(absence, student, status)` with status
/// 0 recorded, 1 justified.
struct OpenAbsence {
    id: AbsenceId,
    student: usize,
    justified: bool,
}

/// Grades already recorded for an evaluation, for corrections.
struct Graded {
    id: EvaluationId,
    teacher: usize,
    marks: Vec<(usize, Mark)>,
}

/// Who logs in, under which profile, how likely on a school day, from which hour (UTC), and the
/// services they visit (repeated ones are likelier).
type LoginHabits = (Vec<usize>, Profile, f64, i8, &'static [Service]);

/// Events timed on a later simulated day (submissions before a due date, grades after an
/// evaluation…), keyed by day index.
type Later = BTreeMap<u32, Vec<Event>>;

struct Region {
    rng: StdRng,
    target_events: u64,
    sent: u64,
    tx: std::sync::mpsc::SyncSender<Batch>,
    establishments: Vec<Establishment>,
    people: Vec<Person>,
    classes: Vec<Class>,
    today: Vec<Event>,
    later: Later,
    absences: Vec<OpenAbsence>,
    graded: BTreeMap<u32, Vec<Graded>>,
    replies: Vec<ReplyTrack>,
    refused: u64,
    /// Index of the simulated day being generated.
    day_index: u32,
    /// The current simulated instant (for new ids).
    clock_ms: u64,
    /// Who visited which service this week (the domain's `first_in_week` flags).
    visited: HashSet<(usize, Service)>,
}

fn at_utc(day: Date, hour: i8, minute: i8) -> Timestamp {
    day.at(hour, minute, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .expect("a simulated instant")
        .timestamp()
}

/// The `n`-th school day (Monday to Friday) from the first.
fn school_day(n: u32) -> Date {
    let weeks = i64::from(n / 5);
    let days = i64::from(n % 5);
    first_day()
        .checked_add(jiff::Span::new().days(weeks * 7 + days))
        .expect("a simulated date")
}

impl Region {
    fn new(seed: u64, target_events: u64, tx: std::sync::mpsc::SyncSender<Batch>) -> Region {
        Region {
            rng: StdRng::seed_from_u64(seed),
            target_events,
            sent: 0,
            tx,
            establishments: Vec::new(),
            people: Vec::new(),
            classes: Vec::new(),
            today: Vec::new(),
            later: Later::new(),
            absences: Vec::new(),
            graded: BTreeMap::new(),
            replies: Vec::new(),
            refused: 0,
            day_index: 0,
            clock_ms: 0,
            visited: HashSet::new(),
        }
    }

    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 10];
        self.rng.fill(&mut bytes);
        uuid::Builder::from_unix_timestamp_millis(self.clock_ms, &bytes).into_uuid()
    }

    fn id<T: From<Uuid>>(&mut self) -> T {
        T::from(self.uuid())
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn push(&mut self, at: Timestamp, by: Option<(usize, Profile)>, body: impl Into<EventBody>) {
        let by = by.map(|(person, profile)| ActorRef {
            account: self.people[person].id,
            profile,
        });
        self.today.push(Event {
            at,
            by,
            body: body.into(),
        });
    }

    fn push_later(
        &mut self,
        day: u32,
        at: Timestamp,
        by: Option<(usize, Profile)>,
        body: impl Into<EventBody>,
    ) {
        let by = by.map(|(person, profile)| ActorRef {
            account: self.people[person].id,
            profile,
        });
        self.later.entry(day).or_default().push(Event {
            at,
            by,
            body: body.into(),
        });
    }

    /// Encodes and sends the day's events in time order; false once the target is reached.
    fn flush_day(&mut self, day: Date) -> bool {
        let mut events = std::mem::take(&mut self.today);
        if let Some(later) = self.later.remove(&self.day_index) {
            events.extend(later);
        }
        events.sort_by_key(|e| e.at);
        let left = self.target_events - self.sent;
        let done = events.len() as u64 >= left;
        events.truncate(usize::try_from(left).unwrap_or(usize::MAX));
        for chunk in events.chunks(4096) {
            let encoded = chunk.iter().map(|e| self.encode(e)).collect();
            self.sent += chunk.len() as u64;
            if self.tx.send(Batch::Events(encoded)).is_err() {
                return false;
            }
        }
        let _ = self.tx.send(Batch::DayEnd(day));
        !done
    }

    fn encode(&mut self, event: &Event) -> (StreamId, ProposedEvent) {
        let encoded = domain::codec::encode(event).expect("a generated event encodes");
        let stream = StreamId::new(event.stream_id()).expect("a domain stream id");
        let mut bytes = [0u8; 10];
        self.rng.fill(&mut bytes);
        let millis = u64::try_from(event.at.as_millisecond()).unwrap_or(0);
        let event_id = uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid();
        let metadata = Metadata {
            actor_id: event.by.map(|r| r.account.as_uuid()),
            actor_role: event
                .by
                .map(|r| r.profile.as_str().to_owned())
                .unwrap_or_default(),
            correlation_id: None,
            causation_id: None,
        };
        (
            stream,
            ProposedEvent {
                event_id,
                event_type: encoded.event_type.to_owned(),
                schema_version: encoded.schema_version,
                metadata,
                payload: encoded.payload,
            },
        )
    }

    fn run(&mut self) {
        let setup_day = first_day().yesterday().expect("a date");
        self.clock_ms = at_utc(setup_day, 6, 0).as_millisecond() as u64;
        self.setup(setup_day);
        let mut going = self.flush_day(setup_day);
        self.day_index = 0;
        while going && self.day_index < 2_000 {
            let day = school_day(self.day_index);
            self.clock_ms = at_utc(day, 5, 0).as_millisecond() as u64;
            self.school_day(day);
            going = self.flush_day(day);
            self.day_index += 1;
        }
        let accounts = self.people.len();
        let populated = self.establishments.iter().filter(|e| e.populated).count();
        let _ = self.tx.send(Batch::Done(Box::new(LogInfo {
            dir: PathBuf::new(),
            events: self.sent,
            days: Vec::new(),
            establishments: self.establishments.len(),
            populated,
            accounts,
            refused: self.refused,
            generate_secs: None,
        })));
    }

    // -----------------------------------------------------------------------------------------
    // Set-up: establishments, people, classes
    // -----------------------------------------------------------------------------------------

    fn setup(&mut self, day: Date) {
        let at = at_utc(day, 6, 0);
        let kinds = [
            (EstablishmentKind::Ecole, 150usize),
            (EstablishmentKind::College, 300),
            (EstablishmentKind::Lycee, 110),
            (EstablishmentKind::LyceeProfessionnel, 40),
        ];
        let mut serial = 0u32;
        for (kind, count) in kinds {
            for _ in 0..count {
                serial += 1;
                let (academie, departements) = ACADEMIES[self.rng.random_range(0..ACADEMIES.len())];
                let departement = self.pick(departements);
                let sector = if self.chance(0.2) {
                    Sector::PrivateUnderContract
                } else {
                    Sector::Public
                };
                let number = departement * 100_000 + serial * 7 % 100_000;
                let uai = Uai::parse(&format!("{number:07}{}", Uai::check_letter(number) as char))
                    .expect("a generated UAI");
                let label = match kind {
                    EstablishmentKind::Ecole => "École",
                    EstablishmentKind::College => "Collège",
                    EstablishmentKind::Lycee => "Lycée",
                    _ => "Lycée professionnel",
                };
                let family = self.pick(FAMILY_NAMES);
                let name = format!("{label} {family} {serial}");
                let id: EstablishmentId = self.id();
                self.push(
                    at,
                    None,
                    EstablishmentEvent::Registered {
                        establishment: id,
                        uai,
                        name: text(&name),
                        kind,
                        sector,
                        academie: text(academie),
                        commune: text(academie),
                    },
                );
                let deployed_on = self.deployment_date(kind, sector);
                if let Some(on) = deployed_on {
                    // A few establishments left the ENT for a year and came back.
                    if self.chance(0.03) && on.year() < 2020 {
                        let first = date(on.year() - 2, 9, 1);
                        self.push(at, None, deployed(id, first));
                        self.push(
                            at,
                            None,
                            EstablishmentEvent::EntWithdrawn {
                                establishment: id,
                                on: date(on.year() - 1, 12, 15),
                                reason: Some(text("Changement de prestataire")),
                            },
                        );
                    }
                    self.push(at, None, deployed(id, on));
                }
                self.establishments.push(Establishment {
                    id,
                    kind,
                    name,
                    deployed_on,
                    populated: false,
                    director: 0,
                    staff: Vec::new(),
                    teachers: Vec::new(),
                    students: Vec::new(),
                    parents: Vec::new(),
                    classes: Vec::new(),
                    news: None,
                    publications: Vec::new(),
                });
            }
        }
        // Populate deployed establishments, in a seeded order, until the student budget is spent.
        let mut budget = (self.target_events / EVENTS_PER_STUDENT).max(200) as usize;
        let mut order: Vec<usize> = (0..self.establishments.len())
            .filter(|&e| self.establishments[e].deployed_on.is_some())
            .collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.random_range(0..=i);
            order.swap(i, j);
        }
        for e in order {
            if budget == 0 {
                break;
            }
            let size = match self.establishments[e].kind {
                EstablishmentKind::Ecole => self.rng.random_range(120..260),
                EstablishmentKind::College => self.rng.random_range(350..750),
                EstablishmentKind::Lycee => self.rng.random_range(700..1300),
                _ => self.rng.random_range(250..500),
            };
            let size = size.min(budget).max(26);
            budget = budget.saturating_sub(size);
            self.populate(e, size, at);
        }
    }

    /// When the ENT came to an establishment, if it did: public lycées first (2012–2017), then
    /// public collèges (about 90 % by the end of 2018), the private sector and the écoles later
    /// and not all of them.
    fn deployment_date(&mut self, kind: EstablishmentKind, sector: Sector) -> Option<Date> {
        let (share, from, to) = match (kind, sector) {
            (EstablishmentKind::Lycee | EstablishmentKind::LyceeProfessionnel, Sector::Public) => {
                (0.99, 2012, 2017)
            }
            // Nine in ten by the 2018 school year, the rest since.
            (EstablishmentKind::College, Sector::Public) if self.chance(0.9) => (0.99, 2013, 2018),
            (EstablishmentKind::College, Sector::Public) => (0.99, 2019, 2023),
            (EstablishmentKind::Ecole, _) => (0.55, 2018, 2025),
            _ => (0.75, 2016, 2023),
        };
        if !self.chance(share) {
            return None;
        }
        let year = self.rng.random_range(from..=to) as i16;
        let (month, day) = self.pick(&[(9, 1), (9, 15), (11, 2), (1, 5), (3, 1)]);
        Some(date(year, month, day))
    }

    fn new_person(&mut self, establishment: usize, profile: Profile, at: Timestamp) -> usize {
        let id: AccountId = self.id();
        let index = self.people.len();
        let given = self.pick(GIVEN_NAMES);
        let family = self.pick(FAMILY_NAMES);
        let prefix = match profile {
            Profile::Student => "eleve",
            Profile::Parent => "parent",
            Profile::Teacher => "prof",
            Profile::EstablishmentAdmin => "direction",
            _ => "vs",
        };
        let profiles = if profile == Profile::EstablishmentAdmin {
            vec![
                Profile::EstablishmentAdmin,
                Profile::PublicationDirector,
                Profile::Staff,
            ]
        } else {
            vec![profile]
        };
        let event = AccountEvent::Created {
            account: id,
            establishment: self.establishments[establishment].id,
            profiles,
            login: Login::parse(&format!("{prefix}.{index}")).expect("a generated login"),
            given_name: text(given),
            family_name: text(family),
        };
        self.push(at, None, event);
        self.people.push(Person {
            id,
            establishment,
            profile,
            class: usize::MAX,
            children: Vec::new(),
            parents: Vec::new(),
            subject: 0,
        });
        index
    }

    fn director_actor(&self, establishment: usize) -> Actor {
        let e = &self.establishments[establishment];
        Actor::new(self.people[e.director].id, Profile::PublicationDirector)
            .with_grant(e.id, Profile::PublicationDirector)
            .with_grant(e.id, Profile::EstablishmentAdmin)
            .with_grant(e.id, Profile::Staff)
    }

    fn populate(&mut self, e: usize, students: usize, at: Timestamp) {
        self.establishments[e].populated = true;
        let est = self.establishments[e].id;
        let kind = self.establishments[e].kind;
        let director = self.new_person(e, Profile::EstablishmentAdmin, at);
        self.establishments[e].director = director;
        let designation: DesignationId = self.id();
        self.push(
            at,
            Some((director, Profile::EstablishmentAdmin)),
            LegalEvent::DirectorDesignated {
                establishment: est,
                designation: Designation {
                    designation,
                    director: NamedAccount {
                        account: self.people[director].id,
                        name: text("Madame la directrice"),
                    },
                    co_director: None,
                    effective_from: date(2026, 9, 1),
                },
                previous: None,
            },
        );
        let admin = Some((director, Profile::EstablishmentAdmin));
        let class_count = students.div_ceil(26);
        let staff_count = 2 + students / 150;
        for _ in 0..staff_count {
            let s = self.new_person(e, Profile::Staff, at);
            self.establishments[e].staff.push(s);
        }
        // Écoles: one teacher per class for every subject; otherwise each teacher has one
        // subject and about four classes.
        let ecole = kind == EstablishmentKind::Ecole;
        let teacher_count = if ecole {
            class_count
        } else {
            (class_count * SUBJECTS.len())
                .div_ceil(4)
                .max(SUBJECTS.len())
        };
        for t in 0..teacher_count {
            let p = self.new_person(e, Profile::Teacher, at);
            self.people[p].subject = t % SUBJECTS.len();
            self.establishments[e].teachers.push(p);
        }
        let year = SchoolYear::new(2026).expect("a school year");
        let news_space =
            self.create_space(e, SpaceKind::EstablishmentNews, "Actualités", false, at);
        self.establishments[e].news = news_space;
        for c in 0..class_count {
            let class: ClassId = self.id();
            self.push(
                at,
                admin,
                ClassEvent::Opened {
                    class,
                    establishment: est,
                    year,
                    name: text(&format!("Classe {}", c + 1)),
                },
            );
            let mut teaching = Vec::new();
            for (s, subject) in SUBJECTS.iter().enumerate() {
                let teachers = &self.establishments[e].teachers;
                let teacher = if ecole {
                    teachers[c]
                } else {
                    let of_subject: Vec<usize> = teachers
                        .iter()
                        .copied()
                        .filter(|t| self.people[*t].subject == s)
                        .collect();
                    of_subject[c % of_subject.len()]
                };
                teaching.push((teacher, s));
                self.push(
                    at,
                    admin,
                    ClassEvent::TeacherAssigned {
                        class,
                        teacher: self.people[teacher].id,
                        subject: text(subject),
                    },
                );
            }
            let index = self.classes.len();
            let group: GroupId = self.id();
            self.classes.push(Class {
                id: class,
                establishment: e,
                students: Vec::new(),
                group,
                group_members: Vec::new(),
                teaching,
                slots: Vec::new(),
                space: None,
            });
            self.establishments[e].classes.push(index);
            // Three lessons a week per subject.
            for k in 0..SUBJECTS.len() * 3 {
                let (teacher, subject) = self.classes[index].teaching[k % SUBJECTS.len()];
                let day = [
                    Day::Monday,
                    Day::Tuesday,
                    Day::Wednesday,
                    Day::Thursday,
                    Day::Friday,
                ][k % 5];
                let hour = 8 + (k / 5) as i8 * 2 % 8;
                let slot: SlotId = self.id();
                self.push(
                    at,
                    admin,
                    TimetableEvent::SlotAdded {
                        class,
                        establishment: est,
                        slot,
                        subject: text(SUBJECTS[subject]),
                        teacher: self.people[teacher].id,
                        room: Some(text(&format!("Salle {}", 100 + k))),
                        day,
                        time: TimeRange::new(
                            Time::new(hour, 0, 0, 0).expect("a time"),
                            Time::new(hour + 1, 0, 0, 0).expect("a time"),
                        )
                        .expect("a lesson"),
                    },
                );
                self.classes[index]
                    .slots
                    .push((slot, subject, teacher, day));
            }
            if c % 3 == 0 {
                let space = self.create_space(
                    e,
                    SpaceKind::ClassSpace {
                        class,
                        students_may_post: false,
                    },
                    &format!("Classe {}", c + 1),
                    true,
                    at,
                );
                self.classes[index].space = space;
            }
        }
        // Students, their parents (siblings share them) and enrolments.
        let mut previous_parents: Vec<usize> = Vec::new();
        for s in 0..students {
            let class = self.establishments[e].classes[s % class_count];
            let student = self.new_person(e, Profile::Student, at);
            self.people[student].class = class;
            self.establishments[e].students.push(student);
            self.classes[class].students.push(student);
            self.push(
                at,
                admin,
                ClassEvent::StudentEnrolled {
                    class: self.classes[class].id,
                    student: self.people[student].id,
                    from: None,
                },
            );
            let parents = if !previous_parents.is_empty() && self.chance(0.15) {
                previous_parents.clone()
            } else {
                let count = if self.chance(0.7) { 2 } else { 1 };
                (0..count)
                    .map(|_| {
                        let p = self.new_person(e, Profile::Parent, at);
                        self.establishments[e].parents.push(p);
                        p
                    })
                    .collect()
            };
            for &parent in &parents {
                self.people[parent].children.push(student);
                self.push(
                    at,
                    admin,
                    AccountEvent::ChildLinked {
                        account: self.people[parent].id,
                        child: self.people[student].id,
                    },
                );
            }
            self.people[student].parents = parents.clone();
            previous_parents = parents;
        }
        // A work group of half of each class.
        for &class in &self.establishments[e].classes.clone() {
            let members: Vec<usize> = self.classes[class]
                .students
                .iter()
                .copied()
                .step_by(2)
                .collect();
            let (teacher, _) = self.classes[class].teaching[0];
            let event = ClassEvent::GroupFormed {
                class: self.classes[class].id,
                group: self.classes[class].group,
                name: text("Groupe A"),
                members: members.iter().map(|m| self.people[*m].id).collect(),
            };
            self.push(at, Some((teacher, Profile::Teacher)), event);
            self.classes[class].group_members = members;
        }
    }

    fn create_space(
        &mut self,
        e: usize,
        kind: SpaceKind,
        title: &str,
        pre_moderated: bool,
        at: Timestamp,
    ) -> Option<SpaceFacts> {
        let space: SpaceId = self.id();
        let establishment = self.establishments[e].id;
        let ctx = Context::new(at, self.director_actor(e));
        let command = SpaceCommand::CreateSpace {
            space,
            establishment,
            kind,
            title: text(title),
            pre_moderated,
            owner_profiles: Vec::new(),
        };
        match domain::publication::decide_space(&SpaceState::default(), &command, &ctx) {
            Ok(events) => {
                for event in events {
                    self.today.push(Event::new(&ctx, event));
                }
                Some(SpaceFacts {
                    space,
                    establishment,
                    kind,
                    pre_moderated,
                    moderators: Vec::new(),
                })
            }
            Err(_) => {
                self.refused += 1;
                None
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // A school day
    // -----------------------------------------------------------------------------------------

    fn school_day(&mut self, day: Date) {
        if self.day_index.is_multiple_of(5) {
            self.visited.clear();
        }
        // A few establishments get the ENT during the simulated weeks.
        if self.day_index % 3 == 1 {
            let candidates: Vec<usize> = (0..self.establishments.len())
                .filter(|&e| self.establishments[e].deployed_on.is_none())
                .collect();
            if !candidates.is_empty() {
                let e = self.pick(&candidates);
                self.establishments[e].deployed_on = Some(day);
                let id = self.establishments[e].id;
                self.push(at_utc(day, 7, 0), None, deployed(id, day));
            }
        }
        let populated: Vec<usize> = (0..self.establishments.len())
            .filter(|&e| self.establishments[e].populated)
            .collect();
        for e in populated {
            self.logins(e, day);
            for class in self.establishments[e].classes.clone() {
                self.class_day(class, day);
            }
            self.absence_follow_up(e, day);
            self.conversations(e, day);
            self.publications(e, day);
        }
        self.grades_due(day);
        self.reply_follow_up(day);
    }

    /// Logins (with a session, some closed) and the visits to services that follow, per profile.
    fn logins(&mut self, e: usize, day: Date) {
        let est = self.establishments[e].id;
        let week = IsoWeek::of(day);
        let groups: [LoginHabits; 4] = [
            (
                self.establishments[e].students.clone(),
                Profile::Student,
                0.45,
                15,
                &[
                    Service::Homework,
                    Service::Homework,
                    Service::Grades,
                    Service::Timetable,
                    Service::Messaging,
                    Service::Resources,
                    Service::Documents,
                ],
            ),
            (
                self.establishments[e].parents.clone(),
                Profile::Parent,
                0.2,
                17,
                &[
                    Service::Grades,
                    Service::Grades,
                    Service::Absences,
                    Service::Messaging,
                    Service::Homework,
                    Service::News,
                ],
            ),
            (
                self.establishments[e].teachers.clone(),
                Profile::Teacher,
                0.9,
                5,
                &[
                    Service::Homework,
                    Service::Grades,
                    Service::Messaging,
                    Service::Timetable,
                    Service::Resources,
                    Service::Collaborative,
                ],
            ),
            (
                self.establishments[e].staff.clone(),
                Profile::Staff,
                0.95,
                5,
                &[
                    Service::Absences,
                    Service::Messaging,
                    Service::News,
                    Service::Booking,
                ],
            ),
        ];
        for (people, profile, share, hour, services) in groups {
            for person in people {
                if !self.chance(share) {
                    continue;
                }
                let account = self.people[person].id;
                let start = at_utc(
                    day,
                    hour + self.rng.random_range(0..5),
                    self.rng.random_range(0..60),
                );
                let session: SessionId = self.id();
                let by = Some((person, profile));
                self.push(
                    start,
                    by,
                    AccountEvent::LoggedIn {
                        account,
                        establishment: est,
                        profile,
                        session,
                    },
                );
                let mut token = [0u8; 32];
                self.rng.fill(&mut token);
                self.push(
                    start,
                    by,
                    AccountEvent::SessionOpened {
                        account,
                        session,
                        token_hash: Digest256::from_bytes(token),
                        expires_at: start + SignedDuration::from_hours(12),
                    },
                );
                let visits = self.rng.random_range(1..=4);
                let mut t = start;
                for _ in 0..visits {
                    t += SignedDuration::from_secs(self.rng.random_range(5..300));
                    let service = self.pick(services);
                    // Each person has one profile in one establishment here, so the first visit
                    // of the week to a service is also the first in its cell.
                    let first = self.visited.insert((person, service));
                    self.push(
                        t,
                        by,
                        AccountEvent::ServiceVisited {
                            account,
                            establishment: est,
                            profile,
                            service,
                            week,
                            first_in_week: first,
                            first_in_week_of_service: first,
                        },
                    );
                }
                if self.chance(0.3) {
                    self.push(
                        t + SignedDuration::from_secs(60),
                        by,
                        AccountEvent::SessionClosed {
                            account,
                            session,
                            reason: SessionEnd::Logout,
                        },
                    );
                }
            }
        }
    }

    /// One class's day: timetable changes, absences, homework (with the submissions to come),
    /// evaluations (with the grades to come).
    fn class_day(&mut self, c: usize, day: Date) {
        let e = self.classes[c].establishment;
        let est = self.establishments[e].id;
        let class = self.classes[c].id;
        let staff = self.pick(&self.establishments[e].staff.clone());
        // Timetable: a lesson of the coming week changed or cancelled.
        if self.chance(0.2) && !self.classes[c].slots.is_empty() {
            let (slot, _, _, slot_day) = self.pick(&self.classes[c].slots.clone());
            let monday = day
                .checked_sub(
                    jiff::Span::new().days(i64::from(day.weekday().to_monday_zero_offset())),
                )
                .expect("a date");
            let offset = [
                Day::Monday,
                Day::Tuesday,
                Day::Wednesday,
                Day::Thursday,
                Day::Friday,
            ]
            .iter()
            .position(|d| *d == slot_day)
            .unwrap_or(0) as i64;
            let on = monday
                .checked_add(jiff::Span::new().days(7 + offset))
                .expect("a date");
            let at = at_utc(day, 7, self.rng.random_range(0..60));
            let event = if self.chance(0.5) {
                TimetableEvent::OccurrenceCancelled {
                    class,
                    slot,
                    date: on,
                    reason: Some(text("Professeur absent")),
                }
            } else {
                TimetableEvent::OccurrenceChanged {
                    class,
                    slot,
                    date: on,
                    teacher: None,
                    room: Some(text("Salle polyvalente")),
                    time: None,
                    reason: Some(text("Salle indisponible")),
                }
            };
            self.push(at, Some((staff, Profile::Staff)), event);
        }
        // Absences and lateness, recorded by the school life.
        for student in self.classes[c].students.clone() {
            let kind = if self.chance(0.012) {
                AbsenceKind::Absence {
                    from: at_utc(day, 6, 0),
                    to: at_utc(day, 10, 0),
                }
            } else if self.chance(0.01) {
                AbsenceKind::Lateness {
                    at: at_utc(day, 6, 0),
                    minutes: self.rng.random_range(5..40),
                }
            } else {
                continue;
            };
            let absence: AbsenceId = self.id();
            let at = at_utc(day, 8, self.rng.random_range(0..60));
            self.push(
                at,
                Some((staff, Profile::Staff)),
                AbsenceEvent::Recorded {
                    absence,
                    establishment: est,
                    class,
                    student: self.people[student].id,
                    kind,
                    note: None,
                },
            );
            self.absences.push(OpenAbsence {
                id: absence,
                student,
                justified: false,
            });
        }
        // Homework: about one assignment a day, due within a week; two in five are handed in.
        let assignments = if self.chance(0.4) { 2 } else { 1 };
        for _ in 0..assignments {
            self.homework(c, day);
        }
        // Evaluations: one every four days or so, graded two to four days later.
        if self.chance(0.25) {
            self.evaluation(c, day);
        }
    }

    fn homework(&mut self, c: usize, day: Date) {
        let e = self.classes[c].establishment;
        let (teacher, subject) = self.pick(&self.classes[c].teaching.clone());
        let assignment: AssignmentId = self.id();
        let for_group = self.chance(0.1);
        let due_in = self.rng.random_range(1..=5u32);
        let due_day_index = self.day_index + due_in;
        let due_day = school_day(due_day_index);
        let due_at = at_utc(due_day, 6, 0);
        let published_at = at_utc(
            day,
            14 + self.rng.random_range(0..4),
            self.rng.random_range(0..60),
        );
        self.push(
            published_at,
            Some((teacher, Profile::Teacher)),
            HomeworkEvent::Published {
                assignment,
                establishment: self.establishments[e].id,
                class: self.classes[c].id,
                group: for_group.then_some(self.classes[c].group),
                teacher: self.people[teacher].id,
                subject: text(SUBJECTS[subject]),
                title: text("Exercices du chapitre"),
                instructions: text("Faire les exercices 3 à 7 page 58 et rendre la rédaction."),
                due_at,
            },
        );
        if self.chance(0.05) {
            self.push(
                published_at + SignedDuration::from_mins(30),
                Some((teacher, Profile::Teacher)),
                HomeworkEvent::Amended {
                    assignment,
                    title: None,
                    instructions: Some(text("Exercices 3 à 6 seulement.")),
                    due_at: None,
                },
            );
        }
        if !self.chance(0.4) {
            return;
        }
        let submitters: Vec<(Submitter, usize)> = if for_group {
            let members = self.classes[c].group_members.clone();
            if members.is_empty() {
                return;
            }
            let member = self.pick(&members);
            vec![(Submitter::Group(self.classes[c].group), member)]
        } else {
            self.classes[c]
                .students
                .clone()
                .into_iter()
                .map(|s| (Submitter::Student(self.people[s].id), s))
                .collect()
        };
        for (submitter, student) in submitters {
            if !self.chance(0.8) {
                continue;
            }
            let late = self.chance(0.08);
            let (on, at) = if late {
                (
                    due_day_index,
                    at_utc(due_day, 16, self.rng.random_range(0..60)),
                )
            } else {
                let before = due_day_index - 1;
                let hour = if before == self.day_index { 19 } else { 16 };
                (
                    before,
                    at_utc(
                        school_day(before),
                        hour + self.rng.random_range(0..3),
                        self.rng.random_range(0..60),
                    ),
                )
            };
            let submission: SubmissionId = self.id();
            let versions = if self.chance(0.05) { 2 } else { 1 };
            for version in 1..=versions {
                let at = at + SignedDuration::from_mins(i64::from(version - 1) * 20);
                self.push_later(
                    on,
                    at,
                    Some((student, Profile::Student)),
                    HomeworkEvent::SubmissionReceived {
                        assignment,
                        submission,
                        submitter,
                        handed_in_by: self.people[student].id,
                        version,
                        text: Some(text("Voici mon travail.")),
                        attachments: Vec::new(),
                        late,
                    },
                );
            }
        }
    }

    fn evaluation(&mut self, c: usize, day: Date) {
        let e = self.classes[c].establishment;
        let (teacher, subject) = self.pick(&self.classes[c].teaching.clone());
        let evaluation: EvaluationId = self.id();
        let at = at_utc(day, 9, self.rng.random_range(0..60));
        self.push(
            at,
            Some((teacher, Profile::Teacher)),
            EvaluationEvent::Created {
                evaluation,
                establishment: self.establishments[e].id,
                class: self.classes[c].id,
                teacher: self.people[teacher].id,
                subject: text(SUBJECTS[subject]),
                title: text("Contrôle"),
                scale: Scale::TWENTY,
                coefficient: Coefficient::ONE,
                date: day,
                assignment: None,
            },
        );
        let graded_on = self.day_index + self.rng.random_range(2..=4);
        let graded_day = school_day(graded_on);
        let mut marks = Vec::new();
        for student in self.classes[c].students.clone() {
            let mark = if self.chance(0.04) {
                Mark::Absent
            } else {
                let centi = self.rng.random_range(300..=2000u32);
                Mark::Value(GradeValue::new(centi, Scale::TWENTY).expect("a mark on 20"))
            };
            let at = at_utc(graded_day, 18, self.rng.random_range(0..60));
            self.push_later(
                graded_on,
                at,
                Some((teacher, Profile::Teacher)),
                EvaluationEvent::GradeRecorded {
                    evaluation,
                    student: self.people[student].id,
                    mark,
                    comment: None,
                },
            );
            marks.push((student, mark));
        }
        // Published the evening they are all in; corrections come on a later day.
        self.push_later(
            graded_on,
            at_utc(graded_day, 20, 30),
            Some((teacher, Profile::Teacher)),
            EvaluationEvent::GradesPublished { evaluation },
        );
        self.graded.entry(graded_on + 1).or_default().push(Graded {
            id: evaluation,
            teacher,
            marks,
        });
    }

    /// Corrections of a few grades published the day before.
    fn grades_due(&mut self, day: Date) {
        let Some(graded) = self.graded.remove(&self.day_index) else {
            return;
        };
        for evaluation in graded {
            for (student, previous) in evaluation.marks {
                if !self.chance(0.02) {
                    continue;
                }
                let mark = Mark::Value(
                    GradeValue::new(self.rng.random_range(500..=2000u32), Scale::TWENTY)
                        .expect("a mark on 20"),
                );
                let at = at_utc(day, 12, self.rng.random_range(0..60));
                self.push(
                    at,
                    Some((evaluation.teacher, Profile::Teacher)),
                    EvaluationEvent::GradeCorrected {
                        evaluation: evaluation.id,
                        student: self.people[student].id,
                        previous,
                        mark,
                        comment: None,
                        reason: text("Erreur de report"),
                    },
                );
            }
        }
    }

    /// Parents justify open absences; the school life accepts or refuses justifications.
    fn absence_follow_up(&mut self, e: usize, day: Date) {
        let staff = self.pick(&self.establishments[e].staff.clone());
        let mut open = std::mem::take(&mut self.absences);
        open.retain_mut(|absence| {
            if self.people[absence.student].establishment != e {
                return true;
            }
            if !absence.justified {
                if !self.chance(0.5) {
                    return true;
                }
                let Some(&parent) = self.people[absence.student].parents.first() else {
                    return false;
                };
                let at = at_utc(day, 18, self.rng.random_range(0..60));
                self.push(
                    at,
                    Some((parent, Profile::Parent)),
                    AbsenceEvent::Justified {
                        absence: absence.id,
                        reason: text("Rendez-vous médical"),
                    },
                );
                absence.justified = true;
                return true;
            }
            if !self.chance(0.6) {
                return true;
            }
            let at = at_utc(day, 9, self.rng.random_range(0..60));
            let event = if self.chance(0.9) {
                AbsenceEvent::JustificationAccepted {
                    absence: absence.id,
                }
            } else {
                AbsenceEvent::JustificationRefused {
                    absence: absence.id,
                    reason: text("Motif non recevable"),
                }
            };
            self.push(at, Some((staff, Profile::Staff)), event);
            false
        });
        self.absences = open;
    }

    /// Teachers and staff write to families and students; answers and read marks follow.
    fn conversations(&mut self, e: usize, day: Date) {
        let est = self.establishments[e].id;
        let count = self.establishments[e].students.len() / 12;
        let students = self.establishments[e].students.clone();
        for _ in 0..count {
            let student = self.pick(&students);
            let class = self.people[student].class;
            let (starter, profile) = if self.chance(0.6) {
                (
                    self.pick(&self.classes[class].teaching.clone()).0,
                    Profile::Teacher,
                )
            } else {
                (
                    self.pick(&self.establishments[e].staff.clone()),
                    Profile::Staff,
                )
            };
            let recipients: Vec<usize> = if self.chance(0.3) {
                vec![student]
            } else {
                self.people[student].parents.clone()
            };
            let conversation: ConversationId = self.id();
            let start = at_utc(
                day,
                7 + self.rng.random_range(0..9),
                self.rng.random_range(0..60),
            );
            let by = Some((starter, profile));
            let mut participants = vec![self.people[starter].id];
            participants.extend(recipients.iter().map(|r| self.people[*r].id));
            self.push(
                start,
                by,
                MessagingEvent::ConversationStarted {
                    conversation,
                    establishment: est,
                    subject: text("Suivi de la scolarité"),
                    started_by: self.people[starter].id,
                    participants: participants.clone(),
                },
            );
            let first: MessageId = self.id();
            let body: domain::values::Body =
                text("Bonjour, pouvez-vous passer me voir à la fin de la semaine ? Cordialement.");
            self.push(
                start,
                by,
                MessagingEvent::MessageSent {
                    conversation,
                    message: first,
                    sender: self.people[starter].id,
                    recipients: participants[1..].to_vec(),
                    body: body.clone(),
                    sent_at: start,
                },
            );
            let mut t = start;
            for &reader in &recipients {
                if !self.chance(0.8) {
                    continue;
                }
                t += SignedDuration::from_mins(self.rng.random_range(10..300));
                let reader_profile = self.people[reader].profile;
                self.push(
                    t,
                    Some((reader, reader_profile)),
                    MessagingEvent::MessageRead {
                        conversation,
                        message: first,
                        reader: self.people[reader].id,
                        read_at: t,
                    },
                );
                if self.chance(0.003) {
                    let report: ReportId = self.id();
                    self.push(
                        t,
                        Some((reader, reader_profile)),
                        MessagingEvent::MessageReported {
                            conversation,
                            establishment: est,
                            message: first,
                            report,
                            reporter: self.people[reader].id,
                            sender: self.people[starter].id,
                            body: body.clone(),
                            sent_at: start,
                            reported_at: t,
                            reason: Some(text("Ton inapproprié")),
                        },
                    );
                }
            }
            // One recipient answers; the starter reads the answer.
            if self.chance(0.5) {
                let answerer = recipients[0];
                let answerer_profile = self.people[answerer].profile;
                t += SignedDuration::from_mins(self.rng.random_range(5..120));
                let answer: MessageId = self.id();
                let others: Vec<AccountId> = participants
                    .iter()
                    .copied()
                    .filter(|p| *p != self.people[answerer].id)
                    .collect();
                self.push(
                    t,
                    Some((answerer, answerer_profile)),
                    MessagingEvent::MessageSent {
                        conversation,
                        message: answer,
                        sender: self.people[answerer].id,
                        recipients: others,
                        body: text("Bonjour, entendu, je passerai vendredi. Merci."),
                        sent_at: t,
                    },
                );
                if self.chance(0.9) {
                    t += SignedDuration::from_mins(self.rng.random_range(10..600));
                    self.push(
                        t,
                        by,
                        MessagingEvent::MessageRead {
                            conversation,
                            message: answer,
                            reader: self.people[starter].id,
                            read_at: t,
                        },
                    );
                }
            }
        }
    }

    /// Runs a publication command through the domain and records its events.
    fn run_publication(
        &mut self,
        track: &mut PublicationTrack,
        at: Timestamp,
        actor: Actor,
        command: PublicationCommand,
    ) -> bool {
        let ctx = Context::new(at, actor);
        match domain::publication::decide(&track.state, &command, &ctx) {
            Ok(events) => {
                for event in events {
                    track.state =
                        domain::publication::evolve(std::mem::take(&mut track.state), &event);
                    self.today.push(Event::new(&ctx, event));
                }
                true
            }
            Err(_) => {
                self.refused += 1;
                false
            }
        }
    }

    /// News by the director, class-space posts by teachers approved by the director, reports,
    /// withdrawals and right-of-reply requests.
    fn publications(&mut self, e: usize, day: Date) {
        let director = self.director_actor(e);
        if let Some(news) = self.establishments[e].news.clone()
            && self.chance(0.4)
        {
            let at = at_utc(day, 15, self.rng.random_range(0..60));
            let publication: PublicationId = self.id();
            let mut track = PublicationTrack {
                id: publication,
                state: PublicationState::default(),
                space: news.clone(),
            };
            let drafted = self.run_publication(
                &mut track,
                at,
                director.clone(),
                PublicationCommand::Draft {
                    publication,
                    space: news.clone(),
                    title: text("Vie de l'établissement"),
                    body: text(
                        "Le conseil d'administration s'est réuni mardi. Monsieur Bernard, \
                         représentant des parents, a quitté la séance avant le vote du budget.",
                    ),
                },
            );
            if drafted
                && self.run_publication(
                    &mut track,
                    at + SignedDuration::from_mins(5),
                    director.clone(),
                    PublicationCommand::Publish {
                        publication,
                        space: news,
                    },
                )
            {
                self.establishments[e].publications.push(track);
            }
        }
        for class in self.establishments[e].classes.clone() {
            let Some(space) = self.classes[class].space.clone() else {
                continue;
            };
            if !self.chance(0.1) {
                continue;
            }
            let (teacher, subject) = self.pick(&self.classes[class].teaching.clone());
            let est = self.establishments[e].id;
            let actor = Actor::new(self.people[teacher].id, Profile::Teacher)
                .with_grant(est, Profile::Teacher)
                .with_teaching(self.classes[class].id, text(SUBJECTS[subject]));
            let at = at_utc(day, 11, self.rng.random_range(0..60));
            let publication: PublicationId = self.id();
            let mut track = PublicationTrack {
                id: publication,
                state: PublicationState::default(),
                space: space.clone(),
            };
            let ok = self.run_publication(
                &mut track,
                at,
                actor.clone(),
                PublicationCommand::Draft {
                    publication,
                    space: space.clone(),
                    title: text("Sortie au musée"),
                    body: text("Rendez-vous jeudi à 8 h 30 devant le collège, retour vers 16 h."),
                },
            ) && self.run_publication(
                &mut track,
                at + SignedDuration::from_mins(2),
                actor,
                PublicationCommand::Submit {
                    publication,
                    space: space.clone(),
                },
            ) && self.run_publication(
                &mut track,
                at + SignedDuration::from_hours(3),
                director.clone(),
                PublicationCommand::Approve { publication, space },
            );
            if ok {
                self.establishments[e].publications.push(track);
            }
        }
        // Reports, withdrawals and right-of-reply requests on recent publications.
        let mut tracks = std::mem::take(&mut self.establishments[e].publications);
        let parents = self.establishments[e].parents.clone();
        let est = self.establishments[e].id;
        for track in tracks.iter_mut() {
            if parents.is_empty() {
                break;
            }
            let parent = self.pick(&parents);
            let mut parent_actor = Actor::new(self.people[parent].id, Profile::Parent)
                .with_grant(est, Profile::Parent);
            for child in self.people[parent].children.clone() {
                parent_actor = parent_actor.with_child(self.people[child].id);
            }
            let publication = track.id;
            if self.chance(0.01) {
                let report: ReportId = self.id();
                let at = at_utc(day, 19, self.rng.random_range(0..60));
                self.run_publication(
                    track,
                    at,
                    parent_actor.clone(),
                    PublicationCommand::Report {
                        publication,
                        report,
                        reason: Some(text("Propos mettant en cause une personne")),
                    },
                );
                if self.chance(0.3) {
                    self.run_publication(
                        track,
                        at + SignedDuration::from_hours(12),
                        director.clone(),
                        PublicationCommand::Withdraw {
                            publication,
                            ground: WithdrawalGround::Injurious,
                            note: None,
                        },
                    );
                }
            } else if self.chance(0.01) {
                self.ask_reply(e, track, parent, parent_actor, day);
            }
        }
        // Keep the last few publications as candidates.
        let keep = tracks.len().saturating_sub(8);
        tracks.drain(..keep);
        self.establishments[e].publications = tracks;
    }

    fn ask_reply(
        &mut self,
        e: usize,
        track: &PublicationTrack,
        _parent: usize,
        actor: Actor,
        day: Date,
    ) {
        let Some(contested) = ContestedPublication::of(&track.state) else {
            return;
        };
        let request: ReplyRequestId = self.id();
        let at = at_utc(day, 20, self.rng.random_range(0..60));
        let command = ReplyCommand::Ask {
            request,
            publication: contested,
            contents: RequestContents {
                message_reference: text(&format!(
                    "Actualités de l'établissement, publication {}",
                    track.id
                )),
                author_name: None,
                kind: MessageKind::Text,
                contested_passages: ContestedPassages::new(vec![text(
                    "a quitté la séance avant le vote du budget",
                )])
                .expect("one passage"),
                reply_text: text("J'ai quitté la séance après le vote."),
            },
            named_or_designated: true,
            may_comment_directly: false,
        };
        let mut reply = ReplyTrack {
            id: request,
            establishment: e,
            state: ReplyState::default(),
            plan: self.rng.random_range(0..4),
            act_on: self.day_index + 1,
        };
        if self.run_reply(&mut reply, at, actor, command) {
            self.replies.push(reply);
        }
    }

    fn run_reply(
        &mut self,
        track: &mut ReplyTrack,
        at: Timestamp,
        actor: Actor,
        command: ReplyCommand,
    ) -> bool {
        let ctx = Context::new(at, actor);
        match domain::reply::decide(&track.state, &command, &ctx) {
            Ok(events) => {
                for event in events {
                    track.state = domain::reply::evolve(std::mem::take(&mut track.state), &event);
                    self.today.push(Event::new(&ctx, event));
                }
                true
            }
            Err(_) => {
                self.refused += 1;
                false
            }
        }
    }

    /// The director answers requests the next day: publishes, refuses, or (plan 3) leaves it.
    fn reply_follow_up(&mut self, day: Date) {
        let mut replies = std::mem::take(&mut self.replies);
        for reply in replies.iter_mut() {
            if reply.act_on != self.day_index {
                continue;
            }
            let director = self.director_actor(reply.establishment);
            let at = at_utc(day, 10, self.rng.random_range(0..60));
            match reply.plan {
                0 => {
                    self.run_reply(
                        reply,
                        at,
                        director.clone(),
                        ReplyCommand::NotifyRequester {
                            request: reply.id,
                            intent: NoticeIntent::WillPublish,
                            message: None,
                        },
                    );
                    self.run_reply(
                        reply,
                        at + SignedDuration::from_mins(5),
                        director,
                        ReplyCommand::PublishReply { request: reply.id },
                    );
                }
                1 => {
                    self.run_reply(
                        reply,
                        at,
                        director,
                        ReplyCommand::RefuseReply {
                            request: reply.id,
                            ground: RefusalGround::HarmsThirdParties,
                            note: None,
                        },
                    );
                }
                2 => {
                    self.run_reply(
                        reply,
                        at,
                        director,
                        ReplyCommand::NotifyRequester {
                            request: reply.id,
                            intent: NoticeIntent::WillPublish,
                            message: None,
                        },
                    );
                }
                _ => {}
            }
        }
        // Each request is acted on once; those left open stay pending or become overdue.
        replies.retain(|r| r.act_on > self.day_index);
        self.replies = replies;
    }
}

fn deployed(establishment: EstablishmentId, on: Date) -> EstablishmentEvent {
    EstablishmentEvent::EntDeployed {
        establishment,
        on,
        platform: text("ENT régional"),
        project: text("Projet ENT de la région"),
    }
}
