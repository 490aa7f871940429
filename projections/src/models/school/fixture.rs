//! Test support for the school-side read models: a [`Feed`] that appends domain events to an
//! in-memory log with their real type names, schema versions and encoding, and folds a read
//! model over it; a small fixed [`World`] of ids; and [`random_history`], a generator of valid
//! event sequences (enrolments and moves, family links, homework and submissions, grades and
//! corrections, timetable changes, absences, messages, erasures) for the property that chunked
//! application equals a rebuild.
//!
//! Test support panics on misuse (an event that does not encode, an id out of range): it is
//! only meant for tests and benchmarks.

use std::collections::{BTreeMap, BTreeSet};

use domain::absence::{AbsenceEvent, AbsenceKind};
use domain::account::{AccountEvent, ErasureGround};
use domain::actor::{ActorRef, Profile};
use domain::class::ClassEvent;
use domain::establishment::EstablishmentEvent;
use domain::evaluation::{EvaluationEvent, Mark};
use domain::event::{Event, EventBody};
use domain::homework::{HomeworkEvent, Submitter};
use domain::ids::{
    AbsenceId, AccountId, AssignmentId, ClassId, ConversationId, EstablishmentId, EvaluationId,
    GroupId, MessageId, SlotId, SubmissionId,
};
use domain::messaging::MessagingEvent;
use domain::timetable::TimetableEvent;
use domain::values::{
    Body, Coefficient, Comment, Day, EstablishmentKind, GradeValue, Login, Reason, Scale,
    SchoolYear, Sector, Subject, Text, TimeRange, Title, Uai,
};
use eventlog::{
    AppendRequest, EventStore, ExpectedVersion, Metadata, Position, ProposedEvent, StreamId,
};
use jiff::civil::{Date, date, time};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::Projection;
use crate::checkpoint::ProjectionWriter;
use crate::replay::{Cut, ReplayError, replay};
use crate::store::MemStore;
use crate::testing::MemLog;

/// An id of any entity from a small number (tests name entities by number).
pub fn id<T: From<Uuid>>(n: u128) -> T {
    T::from(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
}

/// A text value (title, name, subject…), which must be valid.
pub fn text<const MAX: usize, const MULTILINE: bool>(s: &str) -> Text<MAX, MULTILINE> {
    Text::new(s).expect("a valid text in a test")
}

/// An instant from RFC 3339 text.
pub fn ts(s: &str) -> Timestamp {
    s.parse().expect("an RFC 3339 instant in a test")
}

/// A log of domain events for tests.
#[derive(Clone, Default)]
pub struct Feed {
    log: MemLog,
}

impl Feed {
    pub fn new() -> Feed {
        Feed::default()
    }

    /// Appends `body` as happening at `at`, caused by `by` (an account acting under a profile),
    /// and returns its position.
    pub fn push(
        &self,
        at: Timestamp,
        by: Option<(AccountId, Profile)>,
        body: impl Into<EventBody>,
    ) -> Position {
        let event = Event {
            at,
            by: by.map(|(account, profile)| ActorRef { account, profile }),
            body: body.into(),
        };
        let encoded = domain::codec::encode(&event).expect("a test event encodes");
        let stream = StreamId::new(event.stream_id()).expect("a domain stream id");
        let proposed = ProposedEvent {
            event_id: Uuid::now_v7(),
            event_type: encoded.event_type.to_string(),
            schema_version: encoded.schema_version,
            metadata: Metadata::default(),
            payload: encoded.payload,
        };
        let request =
            AppendRequest::single(Uuid::now_v7(), stream, ExpectedVersion::Any, vec![proposed]);
        self.log
            .append_now(request)
            .expect("the in-memory log appends")
            .last_position
    }

    /// The log, to hand to the runner or to a replay.
    pub fn log(&self) -> &MemLog {
        &self.log
    }

    /// The position of the last event.
    pub fn head(&self) -> Position {
        self.log.head().position
    }

    /// Folds `projection` over every event so far.
    pub fn try_fold(&self, projection: &dyn Projection) -> Result<MemStore, ReplayError> {
        replay(&self.log, projection, &Cut::UpTo(self.head()), &mut |_| {}).map(|r| r.store)
    }

    /// Folds `projection` over every event so far; panics if it fails.
    pub fn fold(&self, projection: &dyn Projection) -> MemStore {
        self.try_fold(projection)
            .expect("the read model folds the test log")
    }
}

/// A small school: one lycée, two classes of 2026-2027, a work group in the first class, four
/// students, two parents, a teacher of maths in both classes and a staff member.
pub struct World {
    pub establishment: EstablishmentId,
    pub classes: [ClassId; 2],
    pub group: GroupId,
    pub students: [AccountId; 4],
    /// The first parent has students 0 and 1, the second student 2.
    pub parents: [AccountId; 2],
    pub teacher: AccountId,
    pub staff: AccountId,
    pub admin: AccountId,
    pub slots: [SlotId; 2],
    pub year: SchoolYear,
    pub maths: Subject,
    /// Monday 30 November 2026.
    pub monday: Date,
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

impl World {
    pub fn new() -> World {
        World {
            establishment: id(1),
            classes: [id(10), id(11)],
            group: id(20),
            students: [id(100), id(101), id(102), id(103)],
            parents: [id(200), id(201)],
            teacher: id(300),
            staff: id(301),
            admin: id(302),
            slots: [id(40), id(41)],
            year: SchoolYear::new(2026).expect("a school year"),
            maths: text("Mathématiques"),
            monday: date(2026, 11, 30),
        }
    }

    pub fn admin_ref(&self) -> Option<(AccountId, Profile)> {
        Some((self.admin, Profile::EstablishmentAdmin))
    }

    pub fn teacher_ref(&self) -> Option<(AccountId, Profile)> {
        Some((self.teacher, Profile::Teacher))
    }

    pub fn staff_ref(&self) -> Option<(AccountId, Profile)> {
        Some((self.staff, Profile::Staff))
    }

    /// An account creation event.
    pub fn created(&self, account: AccountId, profile: Profile, login: &str) -> AccountEvent {
        AccountEvent::Created {
            account,
            establishment: self.establishment,
            profiles: vec![profile],
            login: Login::parse(login).expect("a valid login"),
            given_name: text::<200, false>(&format!("Prénom-{login}")),
            family_name: text::<200, false>("Martin"),
        }
    }

    /// Sets the school up at `at`: the establishment, every account, the classes with their
    /// teacher, students 0 and 1 in the first class (both in the group), 2 and 3 in the second,
    /// the family links, and a Monday 8:00–9:00 maths slot in each class.
    pub fn set_up(&self, feed: &Feed, at: Timestamp) {
        feed.push(
            at,
            None,
            EstablishmentEvent::Registered {
                establishment: self.establishment,
                uai: Uai::parse("0750680G").expect("a valid UAI"),
                name: text("Lycée Victor Hugo"),
                kind: EstablishmentKind::Lycee,
                sector: Sector::Public,
                academie: text("Paris"),
                commune: text("Paris"),
            },
        );
        let accounts = [
            (self.admin, Profile::EstablishmentAdmin, "admin"),
            (self.teacher, Profile::Teacher, "teacher"),
            (self.staff, Profile::Staff, "staff"),
            (self.students[0], Profile::Student, "student0"),
            (self.students[1], Profile::Student, "student1"),
            (self.students[2], Profile::Student, "student2"),
            (self.students[3], Profile::Student, "student3"),
            (self.parents[0], Profile::Parent, "parent0"),
            (self.parents[1], Profile::Parent, "parent1"),
        ];
        for (account, profile, login) in accounts {
            feed.push(at, None, self.created(account, profile, login));
        }
        for (i, class) in self.classes.iter().enumerate() {
            feed.push(
                at,
                self.admin_ref(),
                ClassEvent::Opened {
                    class: *class,
                    establishment: self.establishment,
                    year: self.year,
                    name: text(&format!("Seconde {}", i + 1)),
                },
            );
            feed.push(
                at,
                self.admin_ref(),
                ClassEvent::TeacherAssigned {
                    class: *class,
                    teacher: self.teacher,
                    subject: self.maths.clone(),
                },
            );
        }
        for (i, student) in self.students.iter().enumerate() {
            feed.push(
                at,
                self.admin_ref(),
                ClassEvent::StudentEnrolled {
                    class: self.classes[i / 2],
                    student: *student,
                    from: None,
                },
            );
        }
        feed.push(
            at,
            self.teacher_ref(),
            ClassEvent::GroupFormed {
                class: self.classes[0],
                group: self.group,
                name: text("Groupe A"),
                members: vec![self.students[0], self.students[1]],
            },
        );
        for (parent, child) in [
            (self.parents[0], self.students[0]),
            (self.parents[0], self.students[1]),
            (self.parents[1], self.students[2]),
        ] {
            feed.push(
                at,
                self.admin_ref(),
                AccountEvent::ChildLinked {
                    account: parent,
                    child,
                },
            );
        }
        for (class, slot) in self.classes.iter().zip(self.slots) {
            feed.push(
                at,
                self.admin_ref(),
                TimetableEvent::SlotAdded {
                    class: *class,
                    establishment: self.establishment,
                    slot,
                    subject: self.maths.clone(),
                    teacher: self.teacher,
                    room: Some(text("B12")),
                    day: Day::Monday,
                    time: TimeRange::new(time(8, 0, 0, 0), time(9, 0, 0, 0))
                        .expect("a valid range"),
                },
            );
        }
    }

    /// A homework published by the teacher.
    pub fn homework(
        &self,
        assignment: AssignmentId,
        class: ClassId,
        group: Option<GroupId>,
        due_at: Timestamp,
    ) -> HomeworkEvent {
        HomeworkEvent::Published {
            assignment,
            establishment: self.establishment,
            class,
            group,
            teacher: self.teacher,
            subject: self.maths.clone(),
            title: text("Exercices 1 à 5"),
            instructions: text("Page 42."),
            due_at,
        }
    }

    /// An evaluation of the teacher on 20, coefficient 1.
    pub fn evaluation(&self, evaluation: EvaluationId, class: ClassId) -> EvaluationEvent {
        EvaluationEvent::Created {
            evaluation,
            establishment: self.establishment,
            class,
            teacher: self.teacher,
            subject: self.maths.clone(),
            title: text("Contrôle"),
            scale: Scale::TWENTY,
            coefficient: Coefficient::ONE,
            date: self.monday,
            assignment: None,
        }
    }
}

/// A mark on 20 from hundredths of a point.
pub fn mark(centi_points: u32) -> Mark {
    Mark::Value(GradeValue::new(centi_points, Scale::TWENTY).expect("a mark within 20"))
}

/// What [`random_history`] keeps to produce only valid events.
#[derive(Default)]
struct Model {
    class_of: BTreeMap<AccountId, usize>,
    group: BTreeSet<AccountId>,
    children: BTreeSet<(AccountId, AccountId)>,
    assignments: Vec<(AssignmentId, usize, bool)>,
    versions: BTreeMap<(AssignmentId, Submitter), u32>,
    evaluations: Vec<(EvaluationId, BTreeMap<AccountId, Mark>)>,
    absences: Vec<(AbsenceId, AccountId, u8)>,
    messages: Vec<(MessageId, AccountId)>,
    erased: BTreeSet<AccountId>,
    next_id: u128,
}

impl Model {
    fn fresh<T: From<Uuid>>(&mut self) -> T {
        self.next_id += 1;
        id(10_000 + self.next_id)
    }
}

/// A valid history of the [`World`] school: the set-up, then one event (or a move's pair) per
/// `(operation, a, b)` choice, skipping choices that would be invalid in the current state.
pub fn random_history(choices: &[(u8, u8, u8)]) -> Feed {
    let world = World::new();
    let feed = Feed::new();
    let start = ts("2026-11-23T07:00:00Z");
    world.set_up(&feed, start);
    let mut model = Model::default();
    for (i, student) in world.students.iter().enumerate() {
        model.class_of.insert(*student, i / 2);
    }
    model.group.extend([world.students[0], world.students[1]]);
    for (parent, child) in [(0, 0), (0, 1), (1, 2)] {
        model
            .children
            .insert((world.parents[parent], world.students[child]));
    }
    let conversation: ConversationId = id(50);
    for (step, &(op, a, b)) in choices.iter().enumerate() {
        let at = start + SignedDuration::from_mins(30 * (step as i64 + 1));
        let student = world.students[usize::from(a) % 4];
        let live = !model.erased.contains(&student);
        match op % 13 {
            0 if live => {
                let from = model.class_of[&student];
                let to = 1 - from;
                feed.push(
                    at,
                    world.admin_ref(),
                    ClassEvent::StudentMoved {
                        class: world.classes[from],
                        student,
                        to: world.classes[to],
                    },
                );
                feed.push(
                    at,
                    world.admin_ref(),
                    ClassEvent::StudentEnrolled {
                        class: world.classes[to],
                        student,
                        from: Some(world.classes[from]),
                    },
                );
                model.class_of.insert(student, to);
                model.group.remove(&student);
            }
            1 => {
                let class = usize::from(a) % 2;
                let for_group = class == 0 && b % 3 == 0;
                let assignment: AssignmentId = model.fresh();
                let due = at + SignedDuration::from_hours(i64::from(b % 48));
                let group = for_group.then_some(world.group);
                feed.push(
                    at,
                    world.teacher_ref(),
                    world.homework(assignment, world.classes[class], group, due),
                );
                model.assignments.push((assignment, class, for_group));
            }
            2 if live && !model.assignments.is_empty() => {
                let (assignment, class, for_group) =
                    model.assignments[usize::from(b) % model.assignments.len()];
                if model.class_of[&student] != class
                    || (for_group && !model.group.contains(&student))
                {
                    continue;
                }
                let submitter = if for_group {
                    Submitter::Group(world.group)
                } else {
                    Submitter::Student(student)
                };
                let version = model.versions.entry((assignment, submitter)).or_insert(0);
                *version += 1;
                feed.push(
                    at,
                    Some((student, Profile::Student)),
                    HomeworkEvent::SubmissionReceived {
                        assignment,
                        submission: submission_of(assignment),
                        submitter,
                        handed_in_by: student,
                        version: *version,
                        text: Some(text::<65536, true>("Ma réponse")),
                        attachments: Vec::new(),
                        late: b % 2 == 1,
                    },
                );
            }
            3 => {
                let evaluation: EvaluationId = model.fresh();
                feed.push(
                    at,
                    world.teacher_ref(),
                    world.evaluation(evaluation, world.classes[usize::from(a) % 2]),
                );
                model.evaluations.push((evaluation, BTreeMap::new()));
            }
            4 if live && !model.evaluations.is_empty() => {
                let index = usize::from(b) % model.evaluations.len();
                let (evaluation, grades) = &mut model.evaluations[index];
                let new = mark(u32::from(b % 21) * 100);
                let event = match grades.insert(student, new) {
                    None => EvaluationEvent::GradeRecorded {
                        evaluation: *evaluation,
                        student,
                        mark: new,
                        comment: None,
                    },
                    Some(previous) => EvaluationEvent::GradeCorrected {
                        evaluation: *evaluation,
                        student,
                        previous,
                        mark: new,
                        comment: None,
                        reason: text("Erreur de report"),
                    },
                };
                feed.push(at, world.teacher_ref(), event);
            }
            5 if !model.evaluations.is_empty() => {
                let (evaluation, _) = &model.evaluations[usize::from(b) % model.evaluations.len()];
                feed.push(
                    at,
                    world.teacher_ref(),
                    EvaluationEvent::GradesPublished {
                        evaluation: *evaluation,
                    },
                );
            }
            6 => {
                let class = usize::from(a) % 2;
                let day = world.monday + jiff::Span::new().weeks(i64::from(b % 3));
                let event = if b % 2 == 0 {
                    TimetableEvent::OccurrenceCancelled {
                        class: world.classes[class],
                        slot: world.slots[class],
                        date: day,
                        reason: None,
                    }
                } else {
                    TimetableEvent::OccurrenceChanged {
                        class: world.classes[class],
                        slot: world.slots[class],
                        date: day,
                        teacher: None,
                        room: Some(text("C3")),
                        time: None,
                        reason: Some(text("Salle occupée")),
                    }
                };
                feed.push(at, world.staff_ref(), event);
            }
            7 if live => {
                let absence: AbsenceId = model.fresh();
                feed.push(
                    at,
                    world.staff_ref(),
                    AbsenceEvent::Recorded {
                        absence,
                        establishment: world.establishment,
                        class: world.classes[model.class_of[&student]],
                        student,
                        kind: AbsenceKind::Lateness {
                            at,
                            minutes: u16::from(b % 30) + 1,
                        },
                        note: None,
                    },
                );
                model.absences.push((absence, student, 0));
            }
            8 if !model.absences.is_empty() => {
                let index = usize::from(a) % model.absences.len();
                let (absence, _, status) = &mut model.absences[index];
                let reason: Reason = text("Rendez-vous médical");
                let (event, next, by) = match (*status, b % 2) {
                    (0 | 3, _) => (
                        AbsenceEvent::Justified {
                            absence: *absence,
                            reason,
                        },
                        1,
                        Some((world.parents[0], Profile::Parent)),
                    ),
                    (1, 0) => (
                        AbsenceEvent::JustificationAccepted { absence: *absence },
                        2,
                        world.staff_ref(),
                    ),
                    (1, _) => (
                        AbsenceEvent::JustificationRefused {
                            absence: *absence,
                            reason,
                        },
                        3,
                        world.staff_ref(),
                    ),
                    _ => continue,
                };
                *status = next;
                feed.push(at, by, event);
            }
            9 if live => {
                let message: MessageId = model.fresh();
                feed.push(
                    at,
                    world.teacher_ref(),
                    MessagingEvent::MessageSent {
                        conversation,
                        message,
                        sender: world.teacher,
                        recipients: vec![student],
                        body: text::<65536, true>("Bonjour"),
                        sent_at: at,
                    },
                );
                model.messages.push((message, student));
            }
            10 if !model.messages.is_empty() => {
                let (message, reader) = model.messages[usize::from(b) % model.messages.len()];
                if model.erased.contains(&reader) {
                    continue;
                }
                feed.push(
                    at,
                    Some((reader, Profile::Student)),
                    MessagingEvent::MessageRead {
                        conversation,
                        message,
                        reader,
                        read_at: at,
                    },
                );
            }
            11 if live && b % 5 == 0 => {
                feed.push(
                    at,
                    world.admin_ref(),
                    AccountEvent::Deactivated {
                        account: student,
                        since: at,
                        reason: None,
                    },
                );
                feed.push(
                    at,
                    world.admin_ref(),
                    AccountEvent::PersonalDataErased {
                        account: student,
                        ground: ErasureGround::OnRequest,
                    },
                );
                model.erased.insert(student);
                model.children.retain(|(_, c)| *c != student);
            }
            12 => {
                let members: Vec<AccountId> = world
                    .students
                    .iter()
                    .enumerate()
                    .filter(|(i, s)| {
                        b & (1 << i) != 0 && model.class_of[*s] == 0 && !model.erased.contains(*s)
                    })
                    .map(|(_, s)| *s)
                    .collect();
                feed.push(
                    at,
                    world.teacher_ref(),
                    ClassEvent::GroupMembersChanged {
                        class: world.classes[0],
                        group: world.group,
                        members: members.clone(),
                    },
                );
                model.group = members.into_iter().collect();
            }
            _ => {}
        }
    }
    feed
}

/// The submission id of a first hand-in in [`random_history`] is derived from the assignment,
/// so resubmissions reuse it; this keeps the name readable in tests.
pub fn submission_of(assignment: AssignmentId) -> SubmissionId {
    id(20_000 + u128::from(assignment.as_uuid().as_u128() as u16))
}

/// Wraps text into a reason.
pub fn reason(s: &str) -> Reason {
    text(s)
}

/// Wraps text into a grade comment.
pub fn comment(s: &str) -> Comment {
    text(s)
}

/// Wraps text into a title.
pub fn title(s: &str) -> Title {
    text(s)
}

/// Wraps text into a body.
pub fn body(s: &str) -> Body {
    text(s)
}

/// Folds `projection` over the feed the way the runner does — chunks written to a sled tree
/// with their checkpoint — flushing or crashing (losing the unflushed chunk and reopening from
/// the checkpoint) as `steps` say after each event (`8` flushes, `9` crashes, anything else goes
/// on; at most 5 crashes), and returns the tree's records.
pub fn fold_in_chunks(feed: &Feed, projection: &dyn Projection, steps: &[u8]) -> MemStore {
    let db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("a temporary sled");
    let tree = db
        .open_tree(crate::checkpoint::tree_name(
            projection.name(),
            projection.version(),
        ))
        .expect("a sled tree");
    let open =
        || ProjectionWriter::open(tree.clone(), projection.version()).expect("the writer opens");
    let mut writer = open();
    let events = feed.log.events();
    let mut next = 0;
    let mut step = 0;
    let mut crashes_left = 5;
    while writer.flushed_checkpoint() < events.len() as Position {
        if next == events.len() {
            writer.flush().expect("the writer flushes");
            continue;
        }
        writer
            .apply(projection, &events[next])
            .expect("the read model applies the event");
        next += 1;
        match steps.get(step % steps.len().max(1)).copied().unwrap_or(0) {
            8 => writer.flush().expect("the writer flushes"),
            9 if crashes_left > 0 => {
                crashes_left -= 1;
                writer.discard_pending();
                writer = open();
                next = usize::try_from(writer.checkpoint()).expect("a position fits");
            }
            _ => {}
        }
        step += 1;
    }
    crate::store::tree_records(&tree).expect("the tree's pages decode")
}
