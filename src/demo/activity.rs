//! The collège's school year so far, placed relative to today and run in chronological order
//! (so a replay cut at a date sees exactly the facts of the days before it): the timetable with
//! one changed and one cancelled lesson, publication spaces and publications (one approved
//! after pre-moderation, one withdrawn, one reported), absences (one justified and accepted),
//! homework with on-time and late submissions, an evaluation with published grades and one
//! correction, conversations, and four right-of-reply requests: answered, refused, overdue,
//! and pending with time left.

use domain::absence::{AbsenceCommand, AbsenceKind};
use domain::actor::PartnerKind;
use domain::evaluation::{EvaluationCommand, Mark};
use domain::homework::{HomeworkCommand, Submitter};
use domain::ids::{
    AbsenceId, AccountId, AssignmentId, ClassId, ConversationId, EvaluationId, MessageId,
    PublicationId, ReplyRequestId, ReportId, SlotId, SpaceId, SubmissionId,
};
use domain::messaging::{MessagingCommand, RecipientFacts, SenderFacts};
use domain::publication::{
    PublicationCommand, SpaceCommand, SpaceFacts, SpaceKind, WithdrawalGround,
};
use domain::reply::{
    ContestedPassages, ContestedPublication, MessageKind, NoticeIntent, RefusalGround,
    ReplyCommand, RequestContents,
};
use domain::timetable::TimetableCommand;
use domain::values::{
    Body, Coefficient, Day, GradeValue, Reason, Room, Scale, Subject, TimeRange, Title,
};
use domain::{Actor, Profile};
use graphql::app;
use jiff::civil::{Date, Time, Weekday};
use jiff::{SignedDuration, Timestamp, ToSpan};

use super::SeedError;
use super::college::{College, Person};
use super::seeder::{Seeder, name, paris, text};

/// Runs the school year's activity.
pub async fn run(seeder: &Seeder, college: &College) -> Result<(), SeedError> {
    let mut a = Activity {
        seeder,
        college,
        today: seeder.started_at.to_zoned(paris_tz()?).date(),
        slots: std::collections::HashMap::new(),
    };
    a.timetable().await?;
    let spaces = a.spaces().await?;
    let board_minutes = a
        .news(
            &spaces,
            20,
            "Compte rendu du conseil d'administration",
            BOARD_MINUTES,
        )
        .await?;
    a.absences().await?;
    let fair = a
        .news(&spaces, 12, "Bilan de la kermesse", FAIR_REPORT)
        .await?;
    a.class_space(&spaces).await?;
    a.homework_and_grades().await?;
    a.partner_post_reported(&spaces).await?;
    a.withdrawn_post(&spaces).await?;
    a.conversations().await?;
    a.replies(board_minutes, fair).await?;
    a.timetable_changes().await?;
    a.visits().await?;
    Ok(())
}

const BOARD_MINUTES: &str = "Le conseil d'administration s'est réuni le mardi soir. \
Monsieur Karim Bernard, représentant des parents, a quitté la séance avant le vote du budget, \
et Madame Isabelle Thomas a refusé de signer le procès-verbal. Le budget a été adopté à la \
majorité. Les travaux du gymnase commenceront en janvier.";

const FAIR_REPORT: &str = "La kermesse a réuni plus de trois cents personnes. Le stand \
tenu par la famille Petit a fermé plus tôt que prévu, faute de bénévoles. Les bénéfices \
financeront le voyage des 3e à Berlin.";

struct Activity<'a> {
    seeder: &'a Seeder,
    college: &'a College,
    today: Date,
    /// The weekly lesson of teacher `t` with class `c`, by `(c, t)`.
    slots: std::collections::HashMap<(usize, usize), SlotId>,
}

/// The publication spaces of the collège.
struct Spaces {
    news: SpaceFacts,
    class: SpaceFacts,
    partner: SpaceFacts,
}

fn paris_tz() -> Result<jiff::tz::TimeZone, SeedError> {
    jiff::tz::TimeZone::get("Europe/Paris").map_err(|e| SeedError::Time(e.to_string()))
}

fn time(hour: i8, minute: i8) -> Result<Time, SeedError> {
    Time::new(hour, minute, 0, 0).map_err(|e| SeedError::Time(e.to_string()))
}

fn range(start_hour: i8, end_hour: i8) -> Result<TimeRange, SeedError> {
    TimeRange::new(time(start_hour, 0)?, time(end_hour, 0)?).map_err(|e| SeedError::Data {
        what: format!("lesson {start_hour}h-{end_hour}h"),
        reason: e.to_string(),
    })
}

fn data<T>(what: &str, result: Result<T, domain::DomainError>) -> Result<T, SeedError> {
    result.map_err(|e| SeedError::Data {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

impl Activity<'_> {
    fn e(&self) -> domain::ids::EstablishmentId {
        self.college.establishment
    }

    /// The day `days` before today (negative: after).
    fn day(&self, days: i64) -> Result<Date, SeedError> {
        self.today
            .checked_sub(days.days())
            .map_err(|e| SeedError::Time(e.to_string()))
    }

    /// `days` before today at `hour:minute` in Paris.
    fn at(&self, days: i64, hour: i8, minute: i8) -> Result<Timestamp, SeedError> {
        paris(self.day(days)?, hour, minute)
    }

    /// Shortly before the seeding started: `minutes` ago.
    fn minutes_ago(&self, minutes: i64) -> Timestamp {
        self.seeder.started_at - SignedDuration::from_mins(minutes)
    }

    fn class_of(&self, student: AccountId) -> ClassId {
        self.college
            .classes
            .iter()
            .find(|c| c.students.iter().any(|s| s.id == student))
            .map(|c| c.id)
            .unwrap_or(self.college.classes[0].id)
    }

    fn student(&self, class: usize, index: usize) -> &Person {
        &self.college.classes[class].students[index]
    }

    fn student_actor(&self, person: &Person) -> Actor {
        Actor::new(person.id, Profile::Student)
            .with_grant(self.e(), Profile::Student)
            .with_enrolment(self.class_of(person.id))
    }

    fn parent_of(&self, child: AccountId) -> &Person {
        self.college
            .parents
            .iter()
            .find(|(_, children)| children.contains(&child))
            .map(|(p, _)| p)
            .unwrap_or(&self.college.parents[0].0)
    }

    fn parent_actor(&self, parent: &Person) -> Actor {
        let mut actor =
            Actor::new(parent.id, Profile::Parent).with_grant(self.e(), Profile::Parent);
        if let Some((_, children)) = self.college.parents.iter().find(|(p, _)| p.id == parent.id) {
            for child in children {
                actor = actor.with_child(*child);
            }
        }
        actor
    }

    /// Teacher `t` with every class and subject they teach.
    fn teacher_actor(&self, t: usize) -> Result<Actor, SeedError> {
        let teacher = &self.college.teachers[t];
        let mut actor =
            Actor::new(teacher.person.id, Profile::Teacher).with_grant(self.e(), Profile::Teacher);
        for (c, class) in self.college.classes.iter().enumerate() {
            if self.college.teaches(t, c) {
                actor = actor.with_teaching(class.id, text::<Subject>(teacher.subject)?);
            }
        }
        Ok(actor)
    }

    fn staff_actor(&self) -> Actor {
        Actor::new(self.college.staff.id, Profile::Staff).with_grant(self.e(), Profile::Staff)
    }

    fn director_actor(&self) -> Actor {
        Actor::new(self.college.director.id, Profile::PublicationDirector)
            .with_grant(self.e(), Profile::PublicationDirector)
    }

    fn partner_actor(&self) -> Actor {
        Actor::new(self.college.partner.id, Profile::Partner)
            .with_grant(self.e(), Profile::Partner)
            .with_partner_kind(PartnerKind::Company)
    }

    /// Weekly lessons: teacher `t` sees class `c` on weekday `t mod 5` (EPS on Friday
    /// afternoon), at an hour that depends on the class, so neither a class nor a teacher is
    /// ever in two places at once.
    async fn timetable(&mut self) -> Result<(), SeedError> {
        let at = paris(self.college.set_up_on, 10, 0)?;
        let staff = self.staff_actor();
        let college = self.college;
        for (c, class) in college.classes.iter().enumerate() {
            for (t, teacher) in college.teachers.iter().enumerate() {
                if !college.teaches(t, c) {
                    continue;
                }
                let (day, hours) = if t == 5 {
                    (Day::Friday, range(14 + 2 * c as i8, 16 + 2 * c as i8)?)
                } else {
                    let day = [
                        Day::Monday,
                        Day::Tuesday,
                        Day::Wednesday,
                        Day::Thursday,
                        Day::Friday,
                    ][t];
                    (day, range(8 + 2 * c as i8, 9 + 2 * c as i8)?)
                };
                let slot = SlotId::from_uuid(self.seeder.new_id());
                self.slots.insert((c, t), slot);
                self.seeder
                    .run::<app::Timetable>(
                        at,
                        domain::timetable::stream_id(class.id),
                        TimetableCommand::AddSlot {
                            class: class.id,
                            establishment: self.e(),
                            slot,
                            subject: text::<Subject>(teacher.subject)?,
                            teacher: teacher.person.id,
                            room: Some(text::<Room>(&format!("Salle {}{}", c + 1, t + 1))?),
                            day,
                            time: hours,
                            teacher_assigned: true,
                            clashes_elsewhere: false,
                        },
                        &staff,
                        || format!("timetable of {}", class.name),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// The weekly lesson of teacher `t` with class `c`.
    fn slot(&self, c: usize, t: usize) -> Result<SlotId, SeedError> {
        self.slots
            .get(&(c, t))
            .copied()
            .ok_or_else(|| SeedError::Data {
                what: "timetable".into(),
                reason: format!("teacher {t} has no lesson with class {c}"),
            })
    }

    /// Next Monday's maths lesson of 6e A moves to another room; next Thursday's English
    /// lesson of 6e A is cancelled (a field trip).
    async fn timetable_changes(&mut self) -> Result<(), SeedError> {
        let class = self.college.classes[0].id;
        let staff = self.staff_actor();
        let at = self.minutes_ago(90);
        let monday = next_weekday(self.today, Weekday::Monday)?;
        let thursday = next_weekday(self.today, Weekday::Thursday)?;
        self.seeder
            .run::<app::Timetable>(
                at,
                domain::timetable::stream_id(class),
                TimetableCommand::ChangeOccurrence {
                    class,
                    slot: self.slot(0, 0)?,
                    date: monday,
                    teacher: None,
                    room: Some(text::<Room>("CDI")?),
                    time: None,
                    reason: Some(text::<Reason>("Salle 11 en travaux")?),
                    replacement_is_teacher_here: true,
                },
                &staff,
                || "move a maths lesson".to_owned(),
            )
            .await?;
        self.seeder
            .run::<app::Timetable>(
                at,
                domain::timetable::stream_id(class),
                TimetableCommand::CancelOccurrence {
                    class,
                    slot: self.slot(0, 3)?,
                    date: thursday,
                    reason: Some(text::<Reason>("Sortie pédagogique au potager du Roi")?),
                },
                &staff,
                || "cancel an English lesson".to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn spaces(&mut self) -> Result<Spaces, SeedError> {
        let at = paris(self.college.set_up_on, 11, 0)?;
        let director = self.director_actor();
        let news = self
            .space(
                at,
                &director,
                SpaceKind::EstablishmentNews,
                "Actualités du collège",
                false,
                vec![],
            )
            .await?;
        let class = self
            .space(
                at,
                &self.teacher_actor(0)?,
                SpaceKind::ClassSpace {
                    class: self.college.classes[0].id,
                    students_may_post: true,
                },
                "Espace de la 6e A",
                true,
                vec![],
            )
            .await?;
        let partner = self
            .space(
                at,
                &director,
                SpaceKind::PartnerSpace {
                    partner: self.college.partner.id,
                },
                "Numérilab — ateliers numériques",
                false,
                vec![Profile::Partner],
            )
            .await?;
        Ok(Spaces {
            news,
            class,
            partner,
        })
    }

    async fn space(
        &self,
        at: Timestamp,
        actor: &Actor,
        kind: SpaceKind,
        title: &str,
        pre_moderated: bool,
        owner_profiles: Vec<Profile>,
    ) -> Result<SpaceFacts, SeedError> {
        let space = SpaceId::from_uuid(self.seeder.new_id());
        self.seeder
            .run::<app::Space>(
                at,
                domain::publication::space_stream_id(space),
                SpaceCommand::CreateSpace {
                    space,
                    establishment: self.e(),
                    kind,
                    title: text::<Title>(title)?,
                    pre_moderated,
                    owner_profiles,
                },
                actor,
                || format!("create the space {title}"),
            )
            .await?;
        Ok(SpaceFacts {
            space,
            establishment: self.e(),
            kind,
            pre_moderated,
            moderators: Vec::new(),
        })
    }

    /// Drafts and publishes one item, at `at`, as `actor`.
    async fn publish(
        &self,
        at: Timestamp,
        actor: &Actor,
        space: &SpaceFacts,
        title: &str,
        body: &str,
    ) -> Result<PublicationId, SeedError> {
        let publication = PublicationId::from_uuid(self.seeder.new_id());
        let stream = domain::publication::stream_id(publication);
        self.seeder
            .run::<app::Publication>(
                at,
                stream.clone(),
                PublicationCommand::Draft {
                    publication,
                    space: space.clone(),
                    title: text::<Title>(title)?,
                    body: text::<Body>(body)?,
                },
                actor,
                || format!("draft {title}"),
            )
            .await?;
        let command = if space.pre_moderated {
            PublicationCommand::Submit {
                publication,
                space: space.clone(),
            }
        } else {
            PublicationCommand::Publish {
                publication,
                space: space.clone(),
            }
        };
        self.seeder
            .run::<app::Publication>(at, stream, command, actor, || format!("publish {title}"))
            .await?;
        Ok(publication)
    }

    /// A news item by the director, `days` ago.
    async fn news(
        &mut self,
        spaces: &Spaces,
        days: i64,
        title: &str,
        body: &str,
    ) -> Result<PublicationId, SeedError> {
        let at = self.at(days, 17, 30)?;
        self.publish(at, &self.director_actor(), &spaces.news, title, body)
            .await
    }

    /// In the pre-moderated class space, Léa's post waits for approval and the director
    /// approves it; the teacher's post needs approval too.
    async fn class_space(&mut self, spaces: &Spaces) -> Result<(), SeedError> {
        let lea = self.student(0, 0);
        let at = self.at(11, 16, 45)?;
        let post = self
            .publish(
                at,
                &self.student_actor(lea),
                &spaces.class,
                "Notre visite de la ferme pédagogique",
                "Nous avons vu des chèvres, des poules et un âne qui s'appelle Caramel. \
                 Merci à Monsieur Perrin pour cette sortie !",
            )
            .await?;
        let teacher_post = self
            .publish(
                at,
                &self.teacher_actor(0)?,
                &spaces.class,
                "Calculatrice pour le prochain chapitre",
                "Pensez à apporter votre calculatrice à partir de lundi.",
            )
            .await?;
        let approve_at = self.at(10, 8, 15)?;
        for publication in [post, teacher_post] {
            self.seeder
                .run::<app::Publication>(
                    approve_at,
                    domain::publication::stream_id(publication),
                    PublicationCommand::Approve {
                        publication,
                        space: spaces.class.clone(),
                    },
                    &self.director_actor(),
                    || "approve a class space post".to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    /// The partner's post is reported by a parent.
    async fn partner_post_reported(&mut self, spaces: &Spaces) -> Result<(), SeedError> {
        let post = self
            .publish(
                self.at(9, 12, 0)?,
                &self.partner_actor(),
                &spaces.partner,
                "Atelier robotique du mercredi",
                "Inscrivez vos enfants à notre atelier robotique : 12 séances, \
                 tarif préférentiel pour les familles du collège.",
            )
            .await?;
        let reporter = &self.college.parents[1].0;
        self.seeder
            .run::<app::Publication>(
                self.at(8, 21, 10)?,
                domain::publication::stream_id(post),
                PublicationCommand::Report {
                    publication: post,
                    report: ReportId::from_uuid(self.seeder.new_id()),
                    reason: Some(text::<Reason>(
                        "Publicité commerciale dans un espace de l'établissement",
                    )?),
                },
                &self.parent_actor(reporter),
                || "report the partner's post".to_owned(),
            )
            .await?;
        Ok(())
    }

    /// Staff post a nominative list of pupils by mistake; the director withdraws it.
    async fn withdrawn_post(&mut self, spaces: &Spaces) -> Result<(), SeedError> {
        let post = self
            .publish(
                self.at(7, 13, 0)?,
                &self.staff_actor(),
                &spaces.news,
                "Élèves retenus en permanence",
                "Liste des élèves retenus mercredi après-midi : Hugo Bernard, Louis Petit.",
            )
            .await?;
        self.seeder
            .run::<app::Publication>(
                self.at(7, 13, 40)?,
                domain::publication::stream_id(post),
                PublicationCommand::Withdraw {
                    publication: post,
                    ground: WithdrawalGround::Other,
                    note: Some(text::<Reason>(
                        "Publié par erreur : une liste nominative d'élèves n'a pas sa place en ligne",
                    )?),
                },
                &self.director_actor(),
                || "withdraw the staff post".to_owned(),
            )
            .await?;
        Ok(())
    }

    /// Léa absent a whole day two weeks ago (justified by her mother, accepted), Hugo late
    /// last week, Chloé absent two days ago (not justified yet).
    async fn absences(&mut self) -> Result<(), SeedError> {
        let staff = self.staff_actor();
        let lea = self.student(0, 0).clone();
        let hugo = self.student(0, 1).clone();
        let chloe = self.student(0, 2).clone();
        let class = self.college.classes[0].id;

        let lea_absence = AbsenceId::from_uuid(self.seeder.new_id());
        self.record_absence(
            self.at(14, 17, 0)?,
            &staff,
            lea_absence,
            class,
            &lea,
            AbsenceKind::Absence {
                from: self.at(14, 8, 0)?,
                to: self.at(14, 17, 0)?,
            },
        )
        .await?;
        self.seeder
            .run::<app::Absence>(
                self.at(13, 19, 30)?,
                domain::absence::stream_id(lea_absence),
                AbsenceCommand::Justify {
                    absence: lea_absence,
                    reason: text::<Reason>("Rendez-vous médical (certificat remis au carnet)")?,
                },
                &self.parent_actor(self.parent_of(lea.id)),
                || "justify Léa's absence".to_owned(),
            )
            .await?;
        self.seeder
            .run::<app::Absence>(
                self.at(12, 9, 0)?,
                domain::absence::stream_id(lea_absence),
                AbsenceCommand::Accept {
                    absence: lea_absence,
                },
                &staff,
                || "accept Léa's justification".to_owned(),
            )
            .await?;

        self.record_absence(
            self.at(4, 8, 20)?,
            &staff,
            AbsenceId::from_uuid(self.seeder.new_id()),
            class,
            &hugo,
            AbsenceKind::Lateness {
                at: self.at(4, 8, 0)?,
                minutes: 15,
            },
        )
        .await?;
        self.record_absence(
            self.at(2, 17, 0)?,
            &staff,
            AbsenceId::from_uuid(self.seeder.new_id()),
            class,
            &chloe,
            AbsenceKind::Absence {
                from: self.at(2, 8, 0)?,
                to: self.at(2, 12, 0)?,
            },
        )
        .await?;
        Ok(())
    }

    async fn record_absence(
        &self,
        at: Timestamp,
        actor: &Actor,
        absence: AbsenceId,
        class: ClassId,
        student: &Person,
        kind: AbsenceKind,
    ) -> Result<(), SeedError> {
        self.seeder
            .run::<app::Absence>(
                at,
                domain::absence::stream_id(absence),
                AbsenceCommand::Record {
                    absence,
                    establishment: self.e(),
                    class,
                    student: student.id,
                    kind,
                    note: None,
                    student_in_class: true,
                },
                actor,
                || format!("record an absence of {}", student.login),
            )
            .await?;
        Ok(())
    }

    /// Maths homework for 6e A: the first one handed in on time by Léa and late by Hugo; the
    /// second still open, handed in by Léa. A test with grades published, one corrected.
    async fn homework_and_grades(&mut self) -> Result<(), SeedError> {
        let teacher = self.teacher_actor(0)?;
        let class = self.college.classes[0].id;
        let subject = text::<Subject>(self.college.teachers[0].subject)?;

        let first = AssignmentId::from_uuid(self.seeder.new_id());
        self.assign(
            self.at(10, 18, 0)?,
            &teacher,
            first,
            class,
            &subject,
            "Fractions : exercices 12 à 15 page 48",
            self.at(7, 8, 0)?,
        )
        .await?;
        let lea = self.student(0, 0).clone();
        let hugo = self.student(0, 1).clone();
        self.hand_in(
            self.at(8, 20, 15)?,
            first,
            &lea,
            "Exercices 12 à 15 faits, voir cahier.",
        )
        .await?;
        self.hand_in(
            self.at(6, 21, 40)?,
            first,
            &hugo,
            "Désolé pour le retard, voici mes réponses.",
        )
        .await?;

        let evaluation = EvaluationId::from_uuid(self.seeder.new_id());
        let scale = data("scale", Scale::new(20))?;
        let stream = domain::evaluation::stream_id(evaluation);
        self.seeder
            .run::<app::Evaluation>(
                self.at(6, 10, 0)?,
                stream.clone(),
                EvaluationCommand::Create {
                    evaluation,
                    establishment: self.e(),
                    class,
                    subject: subject.clone(),
                    title: text::<Title>("Contrôle : fractions")?,
                    scale,
                    coefficient: data("coefficient", Coefficient::from_centi(200))?,
                    date: self.day(6)?,
                    assignment: None,
                    assignment_in_class: false,
                },
                &teacher,
                || "create the fractions test".to_owned(),
            )
            .await?;
        let students = self.college.classes[0].students.clone();
        for (i, student) in students.iter().enumerate() {
            let mark = if i == 2 {
                Mark::Absent
            } else {
                let centi = 900 + (i as u32 * 275) % 1100;
                Mark::Value(data("grade", GradeValue::new(centi, scale))?)
            };
            self.seeder
                .run::<app::Evaluation>(
                    self.at(4, 18, 0)?,
                    stream.clone(),
                    EvaluationCommand::RecordGrade {
                        evaluation,
                        student: student.id,
                        mark,
                        comment: (i == 0).then(|| text("Très bon travail")).transpose()?,
                        student_in_class: true,
                    },
                    &teacher,
                    || format!("grade {}", student.login),
                )
                .await?;
        }
        self.seeder
            .run::<app::Evaluation>(
                self.at(4, 18, 30)?,
                stream.clone(),
                EvaluationCommand::PublishGrades { evaluation },
                &teacher,
                || "publish the grades".to_owned(),
            )
            .await?;
        self.seeder
            .run::<app::Evaluation>(
                self.at(3, 12, 0)?,
                stream,
                EvaluationCommand::CorrectGrade {
                    evaluation,
                    student: hugo.id,
                    mark: Mark::Value(data("grade", GradeValue::new(1350, scale))?),
                    comment: Some(text("Barème de l'exercice 3 revu")?),
                    reason: text::<Reason>("Erreur de report : l'exercice 3 valait 4 points")?,
                },
                &teacher,
                || "correct Hugo's grade".to_owned(),
            )
            .await?;

        let second = AssignmentId::from_uuid(self.seeder.new_id());
        self.assign(
            self.at(3, 17, 0)?,
            &teacher,
            second,
            class,
            &subject,
            "Problème : le partage du gâteau",
            paris(self.day(-4)?, 8, 0)?,
        )
        .await?;
        self.hand_in(
            self.at(1, 19, 0)?,
            second,
            &lea,
            "Chacun reçoit 3/8 du gâteau.",
        )
        .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn assign(
        &self,
        at: Timestamp,
        teacher: &Actor,
        assignment: AssignmentId,
        class: ClassId,
        subject: &Subject,
        title: &str,
        due_at: Timestamp,
    ) -> Result<(), SeedError> {
        self.seeder
            .run::<app::Homework>(
                at,
                domain::homework::stream_id(assignment),
                HomeworkCommand::Publish {
                    assignment,
                    establishment: self.e(),
                    class,
                    group: None,
                    subject: subject.clone(),
                    title: text::<Title>(title)?,
                    instructions: text::<Body>(&format!("{title}. Rédigez proprement."))?,
                    due_at,
                    group_in_class: false,
                },
                teacher,
                || format!("assign {title}"),
            )
            .await?;
        Ok(())
    }

    async fn hand_in(
        &self,
        at: Timestamp,
        assignment: AssignmentId,
        student: &Person,
        body: &str,
    ) -> Result<(), SeedError> {
        self.seeder
            .run::<app::Homework>(
                at,
                domain::homework::stream_id(assignment),
                HomeworkCommand::Submit {
                    assignment,
                    submission: SubmissionId::from_uuid(self.seeder.new_id()),
                    submitter: Submitter::Student(student.id),
                    text: Some(text::<Body>(body)?),
                    attachments: Vec::new(),
                    group_in_class: false,
                },
                &self.student_actor(student),
                || format!("{} hands in work", student.login),
            )
            .await?;
        Ok(())
    }

    /// Léa's mother writes to the maths teacher, who answers; the school-life staff write to
    /// Chloé's father about her absence.
    async fn conversations(&mut self) -> Result<(), SeedError> {
        let lea = self.student(0, 0).clone();
        let mother = self.parent_of(lea.id).clone();
        let class = self.college.classes[0].id;
        let teacher = &self.college.teachers[0].person;
        let conversation = ConversationId::from_uuid(self.seeder.new_id());
        let stream = domain::messaging::stream_id(conversation);
        let first = MessageId::from_uuid(self.seeder.new_id());
        self.seeder
            .run::<app::Conversation>(
                self.at(5, 20, 0)?,
                stream.clone(),
                MessagingCommand::StartConversation {
                    conversation,
                    establishment: self.e(),
                    subject: text::<Title>("Devoir de fractions")?,
                    recipients: vec![RecipientFacts {
                        account: teacher.id,
                        profiles: vec![Profile::Teacher],
                        enrolled_in: Vec::new(),
                        teaches: self.college.classes.iter().map(|c| c.id).collect(),
                    }],
                    sender_facts: SenderFacts {
                        children_classes: vec![class],
                    },
                    message: first,
                    body: text::<Body>(
                        "Bonjour Monsieur Garnier, Léa n'a pas compris l'exercice 14. \
                         Pourriez-vous le reprendre en classe ? Cordialement, Sophie Martin",
                    )?,
                },
                &self.parent_actor(&mother),
                || "a parent writes to the maths teacher".to_owned(),
            )
            .await?;
        let teacher_actor = self.teacher_actor(0)?;
        self.seeder
            .run::<app::Conversation>(
                self.at(4, 7, 45)?,
                stream.clone(),
                MessagingCommand::MarkRead {
                    conversation,
                    message: first,
                },
                &teacher_actor,
                || "the teacher reads".to_owned(),
            )
            .await?;
        self.seeder
            .run::<app::Conversation>(
                self.at(4, 7, 50)?,
                stream.clone(),
                MessagingCommand::SendMessage {
                    conversation,
                    message: MessageId::from_uuid(self.seeder.new_id()),
                    body: text::<Body>(
                        "Bonjour Madame, bien sûr : nous le corrigerons ensemble jeudi. P. Garnier",
                    )?,
                },
                &teacher_actor,
                || "the teacher answers".to_owned(),
            )
            .await?;

        let chloe = self.student(0, 2).clone();
        let father = self.parent_of(chloe.id).clone();
        let conversation = ConversationId::from_uuid(self.seeder.new_id());
        self.seeder
            .run::<app::Conversation>(
                self.at(1, 9, 0)?,
                domain::messaging::stream_id(conversation),
                MessagingCommand::StartConversation {
                    conversation,
                    establishment: self.e(),
                    subject: text::<Title>("Absence de Chloé")?,
                    recipients: vec![RecipientFacts {
                        account: father.id,
                        profiles: vec![Profile::Parent],
                        enrolled_in: Vec::new(),
                        teaches: Vec::new(),
                    }],
                    sender_facts: SenderFacts::default(),
                    message: MessageId::from_uuid(self.seeder.new_id()),
                    body: text::<Body>(
                        "Bonjour, Chloé était absente avant-hier matin. Merci de justifier \
                         cette absence dans l'ENT. La vie scolaire",
                    )?,
                },
                &self.staff_actor(),
                || "the school life writes to a parent".to_owned(),
            )
            .await?;
        Ok(())
    }

    /// Four right-of-reply requests on the two news items: answered (asked 10 days ago, told
    /// and published the next day), refused (asked 8 days ago), overdue (asked 6 days ago,
    /// nothing done) and pending with time left (asked two hours ago).
    async fn replies(
        &mut self,
        board_minutes: PublicationId,
        fair: PublicationId,
    ) -> Result<(), SeedError> {
        let karim = self.college.parents[1].0.clone();
        let isabelle = self.college.parents[2].0.clone();
        let marc = self.college.parents[3].0.clone();
        let nathalie = self.college.parents[4].0.clone();
        let director = self.director_actor();

        let answered = self
            .ask(
                self.at(10, 9, 30)?,
                &karim,
                board_minutes,
                "Monsieur Karim Bernard, représentant des parents, a quitté la séance avant le vote du budget",
                "J'ai quitté la séance après le vote, pour raison familiale.",
            )
            .await?;
        self.seeder
            .run::<app::Reply>(
                self.at(9, 11, 0)?,
                domain::reply::stream_id(answered),
                ReplyCommand::NotifyRequester {
                    request: answered,
                    intent: NoticeIntent::WillPublish,
                    message: Some(text::<Reason>(
                        "Votre réponse sera publiée sous le compte rendu.",
                    )?),
                },
                &director,
                || "tell Karim Bernard his reply will be published".to_owned(),
            )
            .await?;
        self.seeder
            .run::<app::Reply>(
                self.at(9, 11, 5)?,
                domain::reply::stream_id(answered),
                ReplyCommand::PublishReply { request: answered },
                &director,
                || "publish Karim Bernard's reply".to_owned(),
            )
            .await?;

        let refused = self
            .ask(
                self.at(8, 18, 0)?,
                &isabelle,
                board_minutes,
                "Madame Isabelle Thomas a refusé de signer le procès-verbal",
                "Je n'ai pas signé car le trésorier avait menti au conseil.",
            )
            .await?;
        self.seeder
            .run::<app::Reply>(
                self.at(7, 10, 0)?,
                domain::reply::stream_id(refused),
                ReplyCommand::RefuseReply {
                    request: refused,
                    ground: RefusalGround::HarmsThirdParties,
                    note: Some(text::<Reason>(
                        "La réponse met en cause le trésorier, un tiers, sans lien avec le passage contesté.",
                    )?),
                },
                &director,
                || "refuse Isabelle Thomas's reply".to_owned(),
            )
            .await?;

        self.ask(
            self.at(6, 15, 0)?,
            &marc,
            fair,
            "Le stand tenu par la famille Petit a fermé plus tôt que prévu, faute de bénévoles.",
            "Notre stand a fermé à l'heure prévue.",
        )
        .await?;

        self.ask(
            self.minutes_ago(120),
            &nathalie,
            fair,
            "Le stand tenu par la famille Petit a fermé plus tôt que prévu",
            "Les bénévoles étaient présents.",
        )
        .await?;
        Ok(())
    }

    async fn ask(
        &self,
        at: Timestamp,
        requester: &Person,
        publication: PublicationId,
        passage: &str,
        reply: &str,
    ) -> Result<ReplyRequestId, SeedError> {
        let (state, _) = self
            .seeder
            .state::<app::Publication>(&domain::publication::stream_id(publication))?;
        let contested = ContestedPublication::of(&state).ok_or_else(|| SeedError::Data {
            what: "contested publication".into(),
            reason: "it was never made public".into(),
        })?;
        let request = ReplyRequestId::from_uuid(self.seeder.new_id());
        self.seeder
            .run::<app::Reply>(
                at,
                domain::reply::stream_id(request),
                ReplyCommand::Ask {
                    request,
                    publication: contested,
                    contents: RequestContents {
                        message_reference: text(&format!(
                            "Actualités du collège, publication {publication}"
                        ))?,
                        author_name: Some(name(&self.college.director.full_name())?),
                        kind: MessageKind::Text,
                        contested_passages: data(
                            "passages",
                            ContestedPassages::new(vec![text::<Body>(passage)?]),
                        )?,
                        reply_text: text::<Body>(reply)?,
                    },
                    named_or_designated: true,
                    may_comment_directly: false,
                },
                &self.parent_actor(requester),
                || format!("{} asks for a right of reply", requester.login),
            )
            .await?;
        Ok(request)
    }
}

impl Activity<'_> {
    /// Four weeks of visits to the services, day by day in order (the usage statistics count
    /// unique users per week): 6e A's students check homework and the timetable on school days,
    /// their parents grades and absences twice a week, the teachers homework and grades.
    async fn visits(&mut self) -> Result<(), SeedError> {
        use domain::account::AccountCommand;
        use domain::values::Service;
        let college = self.college;
        for days_ago in (1..=28).rev() {
            let day = self.day(days_ago)?;
            let weekday = day.weekday();
            if matches!(weekday, Weekday::Saturday | Weekday::Sunday) {
                continue;
            }
            let mut visits: Vec<(&Person, Profile, Service, i8)> = Vec::new();
            for (i, student) in college.classes[0].students.iter().enumerate() {
                if !(days_ago as usize + i).is_multiple_of(3) {
                    visits.push((student, Profile::Student, Service::Homework, 17));
                }
                if weekday == Weekday::Monday {
                    visits.push((student, Profile::Student, Service::Timetable, 7));
                }
            }
            if matches!(weekday, Weekday::Tuesday | Weekday::Friday) {
                for (parent, children) in &college.parents {
                    if children
                        .iter()
                        .any(|c| college.classes[0].students.iter().any(|s| s.id == *c))
                    {
                        visits.push((parent, Profile::Parent, Service::Grades, 20));
                        if weekday == Weekday::Friday {
                            visits.push((parent, Profile::Parent, Service::Absences, 20));
                        }
                    }
                }
            }
            for teacher in &college.teachers {
                visits.push((&teacher.person, Profile::Teacher, Service::Homework, 12));
                if weekday == Weekday::Thursday {
                    visits.push((&teacher.person, Profile::Teacher, Service::Grades, 18));
                }
            }
            visits.sort_by_key(|(_, _, _, hour)| *hour);
            for (n, (person, profile, service, hour)) in visits.into_iter().enumerate() {
                let actor = Actor::new(person.id, profile).with_grant(self.e(), profile);
                self.seeder
                    .run::<app::Account>(
                        self.at(days_ago, hour, (n % 60) as i8)?,
                        domain::account::stream_id(person.id),
                        AccountCommand::RecordVisit {
                            account: person.id,
                            establishment: self.e(),
                            profile,
                            service,
                        },
                        &actor,
                        || format!("{} visits {}", person.login, service.as_str()),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// The first `weekday` strictly after `today`.
fn next_weekday(today: Date, weekday: Weekday) -> Result<Date, SeedError> {
    today
        .nth_weekday(1, weekday)
        .map_err(|e| SeedError::Time(e.to_string()))
}
