//! The codec: every event type round-trips through bincode, the table names each type once, and
//! an event of an older schema version is upcast.

mod common;

use std::collections::BTreeSet;

use common::*;
use domain::absence::{AbsenceEvent, AbsenceKind};
use domain::account::*;
use domain::actor::{ActorRef, Profile};
use domain::class::ClassEvent;
use domain::codec::{CodecError, decode, encode};
use domain::establishment::EstablishmentEvent;
use domain::evaluation::{EvaluationEvent, Mark};
use domain::event::{EVENT_TYPES, Event, EventBody};
use domain::homework::{HomeworkEvent, Submitter};
use domain::ids::*;
use domain::legal::*;
use domain::messaging::MessagingEvent;
use domain::publication::{PublicationEvent, SpaceEvent, SpaceKind, Version, WithdrawalGround};
use domain::reply::{
    ContestedPassages, LapseCause, MessageKind, MessageReference, NoticeIntent, ReceivedRequest,
    RefusalGround, ReplyEvent, RequestContents, Requester,
};
use domain::resource::{Audience, ProgrammeRef, ResourceEvent};
use domain::timetable::TimetableEvent;
use domain::values::*;
use jiff::civil::date;
use serde::Serialize;

fn hash(n: u8) -> Digest256 {
    Digest256::from_bytes([n; 32])
}

/// One hand-written sample of every event variant.
fn samples() -> Vec<EventBody> {
    let session = SessionId::from_uuid(uuid(500));
    let mut out: Vec<EventBody> = Vec::new();
    out.extend(
        [
            EstablishmentEvent::Registered {
                establishment: est(),
                uai: Uai::parse("0750680G").unwrap(),
                name: name("Lycée Louis-le-Grand"),
                kind: EstablishmentKind::Lycee,
                sector: Sector::Public,
                academie: name("Paris"),
                commune: name("Paris"),
            },
            EstablishmentEvent::EntDeployed {
                establishment: est(),
                on: date(2018, 9, 3),
                platform: name("ENT Île-de-France"),
                project: name("monlycée.net"),
            },
            EstablishmentEvent::EntWithdrawn {
                establishment: est(),
                on: date(2019, 7, 1),
                reason: Some(reason("Changement de plateforme")),
            },
        ]
        .map(EventBody::from),
    );
    out.extend(
        [
            AccountEvent::Created {
                account: account(1),
                establishment: est(),
                profiles: vec![Profile::Teacher, Profile::Parent],
                login: Login::parse("jean.dupont").unwrap(),
                given_name: name("Jean"),
                family_name: name("Dupont"),
            },
            AccountEvent::ProfileGranted {
                account: account(1),
                establishment: other_est(),
                profile: Profile::Teacher,
            },
            AccountEvent::CredentialsSet {
                account: account(1),
                password_hash: PasswordHash::parse(
                    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNo",
                )
                .unwrap(),
            },
            AccountEvent::ChildLinked {
                account: account(1),
                child: account(2),
            },
            AccountEvent::ChildUnlinked {
                account: account(1),
                child: account(2),
            },
            AccountEvent::PartnerOrganisationRecorded {
                account: account(1),
                organisation: name("NumériLab"),
                kind: domain::actor::PartnerKind::Company,
            },
            AccountEvent::Deactivated {
                account: account(1),
                since: ts("2026-07-04T10:00:00Z"),
                reason: Some(reason("Mutation")),
            },
            AccountEvent::PersonalDataErased {
                account: account(1),
                ground: ErasureGround::RetentionExpired,
            },
            AccountEvent::LoggedIn {
                account: account(1),
                establishment: est(),
                profile: Profile::Teacher,
                session,
            },
            AccountEvent::SessionOpened {
                account: account(1),
                session,
                token_hash: hash(3),
                expires_at: ts("2026-03-02T20:00:00Z"),
            },
            AccountEvent::SessionClosed {
                account: account(1),
                session,
                reason: SessionEnd::Logout,
            },
            AccountEvent::ServiceVisited {
                account: account(1),
                establishment: est(),
                profile: Profile::Teacher,
                service: Service::Grades,
                week: IsoWeek {
                    year: 2026,
                    week: 10,
                },
                first_in_week: true,
                first_in_week_of_service: false,
            },
            AccountEvent::NotificationsRead {
                account: account(1),
                up_to: Some(1_204),
                positions: vec![1_310, 1_422],
            },
        ]
        .map(EventBody::from),
    );
    out.extend(
        [
            ClassEvent::Opened {
                class: class(),
                establishment: est(),
                year: SchoolYear::new(2025).unwrap(),
                name: name("2nde 3"),
            },
            ClassEvent::StudentEnrolled {
                class: class(),
                student: account(STUDENT),
                from: Some(other_class()),
            },
            ClassEvent::StudentMoved {
                class: class(),
                student: account(STUDENT),
                to: other_class(),
            },
            ClassEvent::TeacherAssigned {
                class: class(),
                teacher: account(TEACHER),
                subject: maths(),
            },
            ClassEvent::TeacherUnassigned {
                class: class(),
                teacher: account(TEACHER),
                subject: maths(),
            },
            ClassEvent::GroupFormed {
                class: class(),
                group: group(),
                name: name("Groupe A"),
                members: vec![account(STUDENT), account(CLASSMATE)],
            },
            ClassEvent::GroupMembersChanged {
                class: class(),
                group: group(),
                members: vec![account(CLASSMATE)],
            },
            ClassEvent::GroupDissolved {
                class: class(),
                group: group(),
            },
        ]
        .map(EventBody::from),
    );
    let named = |n: u128, who: &str| NamedAccount {
        account: account(n),
        name: name(who),
    };
    out.extend(
        [
            LegalEvent::DirectorDesignated {
                establishment: est(),
                designation: Designation {
                    designation: DesignationId::from_uuid(uuid(600)),
                    director: named(ADMIN, "Mme Proviseure"),
                    co_director: Some(named(STAFF, "M. Adjoint")),
                    effective_from: date(2025, 9, 1),
                },
                previous: Some(DesignationId::from_uuid(uuid(601))),
            },
            LegalEvent::NoticesPublished {
                establishment: est(),
                version: LegalNoticeVersion {
                    notice: LegalNoticeId::from_uuid(uuid(610)),
                    version: 2,
                    fields: LegalNoticeFields {
                        publisher_name: name("Lycée Louis-le-Grand"),
                        registered_office: Address::new("123 rue Saint-Jacques\n75005 Paris")
                            .unwrap(),
                        publisher_phone: PhoneNumber::parse("+33 1 44 32 82 00").unwrap(),
                        director_name: name("Mme Proviseure"),
                        co_director_name: None,
                        host_name: name("Hébergeur SAS"),
                        host_address: Address::new("1 rue du Centre de données").unwrap(),
                        host_phone: PhoneNumber::parse("01 02 03 04 05").unwrap(),
                    },
                    published_on: date(2025, 9, 2),
                },
            },
            LegalEvent::NoticesReviewed {
                establishment: est(),
                version: 2,
                school_year: SchoolYear::new(2026).unwrap(),
                reviewed_on: date(2026, 9, 1),
            },
        ]
        .map(EventBody::from),
    );
    let conversation = ConversationId::from_uuid(uuid(700));
    let message = MessageId::from_uuid(uuid(701));
    out.extend(
        [
            MessagingEvent::ConversationStarted {
                conversation,
                establishment: est(),
                subject: title("Sortie au musée"),
                started_by: account(PARENT),
                participants: vec![account(PARENT), account(TEACHER)],
            },
            MessagingEvent::MessageSent {
                conversation,
                message,
                sender: account(PARENT),
                recipients: vec![account(TEACHER)],
                body: body("Bonjour,\nest-ce que l'autorisation est signée ?"),
                sent_at: ts("2026-03-02T08:00:00Z"),
            },
            MessagingEvent::ParticipantsAdded {
                conversation,
                added_by: account(TEACHER),
                participants: vec![account(STAFF)],
            },
            MessagingEvent::ParticipantLeft {
                conversation,
                participant: account(STAFF),
            },
            MessagingEvent::MessageRead {
                conversation,
                message,
                reader: account(TEACHER),
                read_at: ts("2026-03-02T09:00:00Z"),
            },
            MessagingEvent::MessageReported {
                conversation,
                establishment: est(),
                message,
                report: ReportId::from_uuid(uuid(702)),
                reporter: account(TEACHER),
                sender: account(PARENT),
                body: body("Message signalé"),
                sent_at: ts("2026-03-02T08:00:00Z"),
                reported_at: ts("2026-03-02T10:00:00Z"),
                reason: Some(reason("Propos injurieux")),
            },
        ]
        .map(EventBody::from),
    );
    let slot = SlotId::from_uuid(uuid(300));
    let hours = |a, b| {
        TimeRange::new(jiff::civil::time(a, 0, 0, 0), jiff::civil::time(b, 0, 0, 0)).unwrap()
    };
    out.extend(
        [
            TimetableEvent::SlotAdded {
                class: class(),
                establishment: est(),
                slot,
                subject: maths(),
                teacher: account(TEACHER),
                room: Some(Room::new("B204").unwrap()),
                day: Day::Monday,
                time: hours(8, 10),
            },
            TimetableEvent::SlotRemoved {
                class: class(),
                slot,
            },
            TimetableEvent::OccurrenceChanged {
                class: class(),
                slot,
                date: date(2026, 3, 9),
                teacher: Some(account(OTHER_TEACHER)),
                room: Some(Room::new("CDI").unwrap()),
                time: Some(hours(10, 12)),
                reason: Some(reason("Remplacement")),
            },
            TimetableEvent::OccurrenceCancelled {
                class: class(),
                slot,
                date: date(2026, 3, 16),
                reason: None,
            },
        ]
        .map(EventBody::from),
    );
    let assignment = AssignmentId::from_uuid(uuid(400));
    out.extend(
        [
            HomeworkEvent::Published {
                assignment,
                establishment: est(),
                class: class(),
                group: Some(group()),
                teacher: account(TEACHER),
                subject: maths(),
                title: title("Exercices 12 à 15"),
                instructions: body("Rédiger les solutions."),
                due_at: ts("2026-03-09T07:00:00Z"),
            },
            HomeworkEvent::Amended {
                assignment,
                title: Some(title("Exercices 12 à 16")),
                instructions: None,
                due_at: Some(ts("2026-03-10T07:00:00Z")),
            },
            HomeworkEvent::Cancelled {
                assignment,
                reason: Some(reason("Sortie scolaire")),
            },
            HomeworkEvent::SubmissionReceived {
                assignment,
                submission: SubmissionId::from_uuid(uuid(401)),
                submitter: Submitter::Group(group()),
                handed_in_by: account(STUDENT),
                version: 2,
                text: Some(body("Notre travail")),
                attachments: vec![
                    Attachment::new(
                        FileName::new("copie.pdf").unwrap(),
                        MediaType::parse("application/pdf").unwrap(),
                        48_213,
                        hash(9),
                    )
                    .unwrap(),
                ],
                late: true,
            },
        ]
        .map(EventBody::from),
    );
    let evaluation = EvaluationId::from_uuid(uuid(800));
    let grade = |t: &str| Mark::Value(GradeValue::parse(t, Scale::TWENTY).unwrap());
    out.extend(
        [
            EvaluationEvent::Created {
                evaluation,
                establishment: est(),
                class: class(),
                teacher: account(TEACHER),
                subject: maths(),
                title: title("Contrôle"),
                scale: Scale::TWENTY,
                coefficient: Coefficient::parse("1.5").unwrap(),
                date: date(2026, 3, 2),
                assignment: Some(AssignmentId::from_uuid(uuid(400))),
            },
            EvaluationEvent::GradeRecorded {
                evaluation,
                student: account(STUDENT),
                mark: grade("12.25"),
                comment: Some(Comment::new("Bien").unwrap()),
            },
            EvaluationEvent::GradeCorrected {
                evaluation,
                student: account(STUDENT),
                previous: grade("12.25"),
                mark: Mark::Exempt,
                comment: None,
                reason: reason("Dispense médicale"),
            },
            EvaluationEvent::GradesPublished { evaluation },
        ]
        .map(EventBody::from),
    );
    let absence = AbsenceId::from_uuid(uuid(900));
    out.extend(
        [
            AbsenceEvent::Recorded {
                absence,
                establishment: est(),
                class: class(),
                student: account(STUDENT),
                kind: AbsenceKind::Lateness {
                    at: ts("2026-03-02T07:05:00Z"),
                    minutes: 12,
                },
                note: Some(reason("Bus en retard")),
            },
            AbsenceEvent::Justified {
                absence,
                reason: reason("Grève des transports"),
            },
            AbsenceEvent::JustificationAccepted { absence },
            AbsenceEvent::JustificationRefused {
                absence,
                reason: reason("Non recevable"),
            },
        ]
        .map(EventBody::from),
    );
    out.extend(
        [
            ResourceEvent::Shared {
                resource: ResourceId::from_uuid(uuid(950)),
                establishment: est(),
                source: ResourceSource::PrivatePublisher,
                audience: Audience::Class(class()),
                title: title("Manuel numérique"),
                description: Some(body("Chapitres 1 à 4")),
                url: Url::parse("https://editeur.example/manuel").unwrap(),
                programme: ProgrammeRef {
                    subject: maths(),
                    level: name("Seconde"),
                },
                shared_by: account(PARTNER),
            },
            ResourceEvent::Withdrawn {
                resource: ResourceId::from_uuid(uuid(950)),
                reason: None,
            },
        ]
        .map(EventBody::from),
    );
    let space = SpaceId::from_uuid(uuid(1100));
    out.extend(
        [
            SpaceEvent::SpaceCreated {
                space,
                establishment: est(),
                kind: SpaceKind::StudentBlog {
                    owner: account(STUDENT),
                },
                title: title("Le blog de Léa"),
                pre_moderated: true,
                personal_contributions: true,
            },
            SpaceEvent::PreModerationChanged {
                space,
                pre_moderated: false,
            },
            SpaceEvent::ModeratorAppointed {
                space,
                moderator: account(STAFF),
            },
            SpaceEvent::ModeratorRemoved {
                space,
                moderator: account(STAFF),
            },
        ]
        .map(EventBody::from),
    );
    let publication = PublicationId::from_uuid(uuid(1200));
    let version = Version {
        number: 1,
        title: title("Sortie au musée"),
        body: body("Compte rendu de la sortie."),
        at: ts("2026-03-02T09:00:00Z"),
        by: account(STUDENT),
        note: None,
    };
    out.extend(
        [
            PublicationEvent::Drafted {
                publication,
                space,
                establishment: est(),
                author: account(STUDENT),
                personal_contribution: true,
                title: title("Sortie au musée"),
                body: body("Brouillon"),
            },
            PublicationEvent::DraftEdited {
                publication,
                title: title("Sortie au musée"),
                body: body("Compte rendu de la sortie."),
            },
            PublicationEvent::Submitted { publication },
            PublicationEvent::Approved {
                publication,
                approved_by: account(ADMIN),
                by_director: true,
            },
            PublicationEvent::SubmissionRejected {
                publication,
                reason: reason("Nom d'un élève cité"),
            },
            PublicationEvent::Published {
                publication,
                version: version.clone(),
            },
            PublicationEvent::Amended {
                publication,
                version: Version {
                    number: 2,
                    note: Some(reason("Coquille")),
                    ..version
                },
            },
            PublicationEvent::Withdrawn {
                publication,
                ground: WithdrawalGround::Defamatory,
                note: None,
                withdrawn_at: ts("2026-03-03T09:00:00Z"),
                withdrawn_by: account(ADMIN),
                director_knowledge_since: Some(ts("2026-03-03T08:00:00Z")),
            },
            PublicationEvent::Reported {
                publication,
                establishment: est(),
                report: ReportId::from_uuid(uuid(1201)),
                reporter: account(PARENT),
                reason: Some(reason("Diffamatoire")),
                reported_at: ts("2026-03-03T08:00:00Z"),
                director_knowledge_since: ts("2026-03-03T08:00:00Z"),
            },
        ]
        .map(EventBody::from),
    );
    let request = ReplyRequestId::from_uuid(uuid(1300));
    let due_at = ts("2026-03-06T23:00:00Z");
    out.extend(
        [
            ReplyEvent::RequestReceived {
                request: Box::new(ReceivedRequest {
                    request,
                    publication,
                    establishment: est(),
                    contested_version: 1,
                    requester: Requester::Outside {
                        identity: name("M. Durand"),
                        postal_address: Some(Address::new("2 place de la Mairie").unwrap()),
                    },
                    recorded_by: Some(account(ADMIN)),
                    received_at: ts("2026-03-03T10:00:00Z"),
                    due_at,
                    contents: RequestContents {
                        message_reference: MessageReference::new("Blog de Léa, « Sortie »")
                            .unwrap(),
                        author_name: Some(name("Léa Martin")),
                        kind: MessageKind::Text,
                        contested_passages: ContestedPassages::new(vec![body("passage")]).unwrap(),
                        reply_text: body("Ma réponse."),
                    },
                    addressed_to_director: true,
                    in_time: true,
                    window_closed_at: ts("2026-06-02T22:00:00Z"),
                    reply_chars: 11,
                    reply_lines: 1,
                    contested_chars: 42,
                    reply_within_limits: true,
                }),
            },
            ReplyEvent::RequesterNotified {
                request,
                publication,
                intent: NoticeIntent::WillRefuse {
                    ground: RefusalGround::NoLinkToMessage,
                },
                message: None,
                notified_at: ts("2026-03-04T10:00:00Z"),
                due_at,
                late: false,
            },
            ReplyEvent::ReplyPublished {
                request,
                publication,
                text: body("Ma réponse."),
                published_at: ts("2026-03-07T10:00:00Z"),
                due_at,
                late: true,
            },
            ReplyEvent::ReplyRefused {
                request,
                publication,
                ground: RefusalGround::Other,
                note: Some(reason("Motif")),
                refused_at: ts("2026-03-04T10:00:00Z"),
                due_at,
                late: false,
            },
            ReplyEvent::RequestLapsed {
                request,
                publication,
                cause: LapseCause::MessageCorrected,
                changed_at: ts("2026-03-04T10:00:00Z"),
                declared_at: ts("2026-03-05T10:00:00Z"),
                changed_within_deadline: true,
            },
            ReplyEvent::ReplyTakenOffline {
                request,
                publication,
                offline_at: ts("2026-09-01T00:00:00Z"),
            },
        ]
        .map(EventBody::from),
    );
    out
}

fn envelope(body: EventBody) -> Event {
    Event {
        at: ts("2026-03-02T08:15:30.123456789Z"),
        by: Some(ActorRef {
            account: account(TEACHER),
            profile: Profile::Teacher,
        }),
        body,
    }
}

#[test]
fn every_event_type_round_trips() {
    for body in samples() {
        let event = envelope(body);
        let encoded = encode(&event).unwrap();
        assert_eq!(encoded.event_type, event.event_type());
        let decoded = decode(encoded.event_type, encoded.schema_version, &encoded.payload).unwrap();
        assert_eq!(decoded, event, "{} does not round-trip", encoded.event_type);
        let system = Event { by: None, ..event };
        let encoded = encode(&system).unwrap();
        let decoded = decode(encoded.event_type, encoded.schema_version, &encoded.payload);
        assert_eq!(decoded.unwrap(), system);
    }
}

#[test]
fn the_samples_cover_the_table_exactly_once() {
    let sampled: Vec<&str> = samples().iter().map(|b| b.event_type()).collect();
    let unique: BTreeSet<&str> = sampled.iter().copied().collect();
    assert_eq!(unique.len(), sampled.len(), "two samples of one event type");
    let table: BTreeSet<&str> = EVENT_TYPES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        table.len(),
        EVENT_TYPES.len(),
        "a type name appears twice in the table"
    );
    assert_eq!(unique, table, "samples and table differ");
}

#[test]
fn type_names_and_stream_ids_follow_the_conventions() {
    for body in samples() {
        let name = body.event_type();
        let (category, rest) = name.split_once('.').unwrap();
        assert!(!rest.is_empty() && !rest.contains('.'), "{name}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
            "{name}"
        );
        let stream = body.stream_id();
        assert!(stream.len() <= 128, "{stream}");
        assert!(
            stream
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)),
            "{stream}"
        );
        let stream_category = stream.split('-').next().unwrap();
        assert!(
            !stream_category.is_empty(),
            "{name} -> {stream} ({category})"
        );
    }
}

#[test]
fn an_aggregate_takes_its_own_events_out_of_a_body() {
    for body in samples() {
        let name = body.event_type();
        let own = AccountEvent::try_from(body.clone());
        assert_eq!(own.is_ok(), name.starts_with("account."), "{name}");
        if let Err(back) = own {
            assert_eq!(back, body);
        }
    }
}

#[test]
fn bad_records_are_typed_errors() {
    let event = envelope(samples().remove(0));
    let encoded = encode(&event).unwrap();
    assert!(matches!(
        decode("establishment.nonexistent", 1, &encoded.payload),
        Err(CodecError::UnknownType(_))
    ));
    assert!(matches!(
        decode(encoded.event_type, 9, &encoded.payload),
        Err(CodecError::UnknownVersion { .. })
    ));
    assert!(matches!(
        decode("establishment.ent_deployed", 1, &encoded.payload),
        Err(CodecError::TypeMismatch { .. })
    ));
    assert!(matches!(
        decode(
            encoded.event_type,
            1,
            &encoded.payload[..encoded.payload.len() - 1]
        ),
        Err(CodecError::Decode(_))
    ));
    let mut longer = encoded.payload.clone();
    longer.push(0);
    assert!(matches!(
        decode(encoded.event_type, 1, &longer),
        Err(CodecError::TrailingBytes(1))
    ));
    assert!(matches!(
        decode(encoded.event_type, 1, &[0xff; 40]),
        Err(CodecError::Decode(_))
    ));
}

/// The shapes as they were when `account.deactivated` and `account.service_visited` were at
/// version 1: the same enums, with `Deactivated` lacking `since` and `ServiceVisited` its week
/// and first-visit flags.
mod v1 {
    use super::*;

    #[derive(Serialize)]
    pub struct Event {
        pub at: jiff::Timestamp,
        pub by: Option<ActorRef>,
        pub body: EventBody,
    }

    #[derive(Serialize)]
    #[allow(dead_code)]
    pub enum EventBody {
        Establishment(EstablishmentEvent),
        Account(AccountEvent),
    }

    #[derive(Serialize)]
    #[allow(dead_code)]
    pub enum AccountEvent {
        Created,
        ProfileGranted,
        CredentialsSet,
        ChildLinked,
        ChildUnlinked,
        Deactivated {
            account: AccountId,
            reason: Option<Reason>,
        },
        PersonalDataErased,
        LoggedIn,
        SessionOpened,
        SessionClosed,
        ServiceVisited {
            account: AccountId,
            establishment: EstablishmentId,
            profile: Profile,
            service: Service,
        },
    }
}

#[test]
fn an_old_account_deactivated_is_upcast_with_since_from_its_time() {
    let at = ts("2025-06-30T16:00:00Z");
    let by = Some(ActorRef {
        account: account(ADMIN),
        profile: Profile::EstablishmentAdmin,
    });
    let old = v1::Event {
        at,
        by,
        body: v1::EventBody::Account(v1::AccountEvent::Deactivated {
            account: account(1),
            reason: Some(reason("Fin de scolarité")),
        }),
    };
    let payload = bincode::serde::encode_to_vec(&old, bincode::config::standard()).unwrap();
    let event = decode("account.deactivated", 1, &payload).unwrap();
    assert_eq!(
        event,
        Event {
            at,
            by,
            body: EventBody::Account(AccountEvent::Deactivated {
                account: account(1),
                since: at,
                reason: Some(reason("Fin de scolarité")),
            }),
        }
    );
    assert_eq!(event.schema_version(), 2);
}

#[test]
fn an_old_service_visit_is_upcast_with_its_paris_week_and_counted_as_a_first() {
    // Sunday 8 March 2026, 23:30 UTC is Monday 9 March in Paris: week 11, not week 10.
    let at = ts("2026-03-08T23:30:00Z");
    let by = Some(ActorRef {
        account: account(STUDENT),
        profile: Profile::Student,
    });
    let old = v1::Event {
        at,
        by,
        body: v1::EventBody::Account(v1::AccountEvent::ServiceVisited {
            account: account(STUDENT),
            establishment: est(),
            profile: Profile::Student,
            service: Service::Homework,
        }),
    };
    let payload = bincode::serde::encode_to_vec(&old, bincode::config::standard()).unwrap();
    let event = decode("account.service_visited", 1, &payload).unwrap();
    assert_eq!(
        event,
        Event {
            at,
            by,
            body: EventBody::Account(AccountEvent::ServiceVisited {
                account: account(STUDENT),
                establishment: est(),
                profile: Profile::Student,
                service: Service::Homework,
                week: IsoWeek {
                    year: 2026,
                    week: 11,
                },
                first_in_week: true,
                first_in_week_of_service: true,
            }),
        }
    );
    assert_eq!(event.schema_version(), 2);
    // A v1 payload of another event is not taken for a visit.
    let deactivated = v1::Event {
        at,
        by,
        body: v1::EventBody::Account(v1::AccountEvent::Deactivated {
            account: account(1),
            reason: None,
        }),
    };
    let payload = bincode::serde::encode_to_vec(&deactivated, bincode::config::standard()).unwrap();
    assert!(matches!(
        decode("account.service_visited", 1, &payload),
        Err(CodecError::Decode(_))
    ));
}
