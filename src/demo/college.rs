//! The fully populated collège of the demo: its people (students in three classes, their
//! parents, teachers, school-life staff, a partner company, the publication director, an
//! analyst, an administrator and the platform administrator), its classes and teachers, the
//! publication director's designation and legal notices, and a school year's activity placed
//! relative to today.

use domain::account::AccountCommand;
use domain::actor::PartnerKind;
use domain::class::ClassCommand;
use domain::ids::{AccountId, ClassId, DesignationId, EstablishmentId, LegalNoticeId};
use domain::legal::{LegalCommand, LegalNoticeFields, NamedAccount};
use domain::values::{Login, PasswordHash, SchoolYear, Subject};
use domain::{Actor, Profile};
use graphql::app;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};

use super::catalogue::{DemoEstablishment, POPULATED_COLLEGE};
use super::seeder::{Seeder, name, paris, text};
use super::{DemoLogin, SeedError};

/// Every demo password ends with this, after the role's name: `eleve-demo`, `parent-demo`…
pub const DEMO_PASSWORD_SUFFIX: &str = "-demo";

impl College {
    /// Whether teacher `t` teaches class `c`: everyone teaches every class, except EPS (the
    /// last teacher), which only the first two classes have.
    pub fn teaches(&self, t: usize, c: usize) -> bool {
        !(t == 5 && c == 2)
    }
}

/// A person of the collège.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: AccountId,
    pub login: String,
    pub given: &'static str,
    pub family: &'static str,
    pub profiles: Vec<Profile>,
}

impl Person {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given, self.family)
    }
}

/// A class and who is in it.
#[derive(Debug, Clone)]
pub struct DemoClass {
    pub id: ClassId,
    pub name: &'static str,
    pub students: Vec<Person>,
}

/// A teacher and what they teach.
#[derive(Debug, Clone)]
pub struct DemoTeacher {
    pub person: Person,
    pub subject: &'static str,
}

/// Everyone in the collège, for the activity that follows the set-up.
#[derive(Debug, Clone)]
pub struct College {
    pub establishment: EstablishmentId,
    pub year: SchoolYear,
    /// When the school year's accounts and classes were set up.
    pub set_up_on: Date,
    pub admin: Person,
    pub director: Person,
    pub staff: Person,
    pub partner: Person,
    pub analyst: Person,
    pub platform_admin: Person,
    pub teachers: Vec<DemoTeacher>,
    pub classes: Vec<DemoClass>,
    /// Each parent with their children.
    pub parents: Vec<(Person, Vec<AccountId>)>,
}

const STUDENT_NAMES: [(&str, &str); 24] = [
    ("Léa", "Martin"),
    ("Hugo", "Bernard"),
    ("Chloé", "Thomas"),
    ("Louis", "Petit"),
    ("Manon", "Robert"),
    ("Gabriel", "Richard"),
    ("Inès", "Durand"),
    ("Arthur", "Dubois"),
    ("Jade", "Martin"),
    ("Raphaël", "Laurent"),
    ("Louise", "Simon"),
    ("Adam", "Michel"),
    ("Emma", "Lefebvre"),
    ("Nathan", "Leroy"),
    ("Alice", "Roux"),
    ("Lucas", "David"),
    ("Lina", "Bertrand"),
    ("Jules", "Morel"),
    ("Rose", "Fournier"),
    ("Sacha", "Girard"),
    ("Anna", "Bonnet"),
    ("Malo", "Dupont"),
    ("Zoé", "Lambert"),
    ("Yanis", "Fontaine"),
];

const PARENT_GIVEN: [&str; 24] = [
    "Sophie",
    "Karim",
    "Isabelle",
    "Marc",
    "Nathalie",
    "Olivier",
    "Sandrine",
    "Stéphane",
    "Valérie",
    "Christophe",
    "Céline",
    "Frédéric",
    "Aurélie",
    "Laurent",
    "Émilie",
    "Sébastien",
    "Julie",
    "Nicolas",
    "Caroline",
    "David",
    "Hélène",
    "Thierry",
    "Claire",
    "Mehdi",
];

const TEACHERS: [(&str, &str, &str); 6] = [
    ("Paul", "Garnier", "Mathématiques"),
    ("Anne", "Rousseau", "Français"),
    ("Michel", "Faure", "Histoire-géographie"),
    ("Sarah", "Chevalier", "Anglais"),
    ("Yves", "Perrin", "SVT"),
    ("Agnès", "Mercier", "EPS"),
];

const CLASS_NAMES: [&str; 3] = ["6e A", "5e B", "3e C"];

/// Lower-case ASCII login `given.family`, with accents folded.
pub fn login_of(given: &str, family: &str) -> String {
    let fold = |s: &str| -> String {
        s.chars()
            .filter_map(|c| match c {
                'é' | 'è' | 'ê' | 'ë' | 'É' => Some('e'),
                'à' | 'â' => Some('a'),
                'î' | 'ï' => Some('i'),
                'ô' => Some('o'),
                'ù' | 'û' => Some('u'),
                'ç' => Some('c'),
                ' ' | '\'' => Some('-'),
                c if c.is_ascii_alphanumeric() || c == '-' => Some(c.to_ascii_lowercase()),
                _ => None,
            })
            .collect()
    };
    format!("{}.{}", fold(given), fold(family))
}

fn person(
    seeder: &Seeder,
    given: &'static str,
    family: &'static str,
    profiles: &[Profile],
) -> Person {
    Person {
        id: AccountId::from_uuid(seeder.new_id()),
        login: login_of(given, family),
        given,
        family,
        profiles: profiles.to_vec(),
    }
}

/// Sets up the collège and its year of activity; returns one login per role.
pub async fn populate(
    seeder: &Seeder,
    establishments: &[DemoEstablishment],
    ids: &[EstablishmentId],
) -> Result<Vec<DemoLogin>, SeedError> {
    let establishment = ids[POPULATED_COLLEGE];
    let college_name = &establishments[POPULATED_COLLEGE].name;
    let today = seeder.started_at.to_zoned(paris_tz()?).date();
    let year = SchoolYear::of(today).map_err(|e| SeedError::Time(e.to_string()))?;
    // The people and classes are set up 45 days before today, so the demo always shows six
    // weeks of school life ending today; the classes belong to today's school year.
    let set_up_on = today
        .checked_sub(45.days())
        .map_err(|e| SeedError::Time(e.to_string()))?;

    let mut platform_admin = person(seeder, "Camille", "Admin", &[Profile::PlatformAdmin]);
    platform_admin.id = seeder.platform_admin;
    platform_admin.login = "admin.plateforme".to_owned();
    let college = College {
        establishment,
        year,
        set_up_on,
        admin: person(seeder, "Claire", "Vasseur", &[Profile::EstablishmentAdmin]),
        director: person(seeder, "Henri", "Lefèvre", &[Profile::PublicationDirector]),
        staff: person(seeder, "Nadia", "Benali", &[Profile::Staff]),
        partner: {
            let mut p = person(seeder, "Contact", "Numérilab", &[Profile::Partner]);
            p.login = "contact.numerilab".to_owned();
            p
        },
        analyst: {
            let mut p = person(seeder, "Bruno", "Statisticien", &[Profile::Analyst]);
            p.login = "analyste.rectorat".to_owned();
            p
        },
        platform_admin,
        teachers: TEACHERS
            .iter()
            .map(|(given, family, subject)| DemoTeacher {
                person: person(seeder, given, family, &[Profile::Teacher]),
                subject,
            })
            .collect(),
        classes: CLASS_NAMES
            .iter()
            .enumerate()
            .map(|(c, class_name)| DemoClass {
                id: ClassId::from_uuid(seeder.new_id()),
                name: class_name,
                students: STUDENT_NAMES[c * 8..(c + 1) * 8]
                    .iter()
                    .map(|(given, family)| person(seeder, given, family, &[Profile::Student]))
                    .collect(),
            })
            .collect(),
        parents: Vec::new(),
    };
    let mut college = college;
    // One parent per student; Sophie Martin is also the mother of Jade Martin in 5e B, who
    // so has two parents (Sophie and Valérie), and Sophie two children.
    let mut parents: Vec<(Person, Vec<AccountId>)> = Vec::new();
    for (i, class) in college.classes.iter().enumerate() {
        for (j, student) in class.students.iter().enumerate() {
            let given = PARENT_GIVEN[i * 8 + j];
            parents.push((
                person(seeder, given, student.family, &[Profile::Parent]),
                vec![student.id],
            ));
        }
    }
    let jade = college.classes[1].students[0].id;
    parents[0].1.push(jade);
    college.parents = parents;

    set_up(seeder, &college, college_name).await?;
    let logins = set_credentials(seeder, &college).await?;
    super::activity::run(seeder, &college).await?;
    Ok(logins)
}

fn paris_tz() -> Result<jiff::tz::TimeZone, SeedError> {
    jiff::tz::TimeZone::get("Europe/Paris").map_err(|e| SeedError::Time(e.to_string()))
}

/// Accounts, classes, enrolments, teachers, parent links, and the publication director.
async fn set_up(seeder: &Seeder, college: &College, college_name: &str) -> Result<(), SeedError> {
    let e = college.establishment;
    let at = paris(college.set_up_on, 8, 0)?;
    let platform = seeder.platform_admin_in(e);

    // The platform administrator opens its own account, then the establishment's administrator.
    create_account(seeder, at, &platform, e, &college.platform_admin).await?;
    create_account(seeder, at, &platform, e, &college.admin).await?;
    let admin = Actor::new(college.admin.id, Profile::EstablishmentAdmin)
        .with_grant(e, Profile::EstablishmentAdmin);

    for p in [
        &college.director,
        &college.staff,
        &college.partner,
        &college.analyst,
    ] {
        create_account(seeder, at, &admin, e, p).await?;
    }
    seeder
        .run::<app::Account>(
            at,
            domain::account::stream_id(college.partner.id),
            AccountCommand::RecordPartnerOrganisation {
                account: college.partner.id,
                organisation: name("NumériLab")?,
                kind: PartnerKind::Company,
            },
            &admin,
            || "record the partner's organisation".to_owned(),
        )
        .await?;
    for t in &college.teachers {
        create_account(seeder, at, &admin, e, &t.person).await?;
    }
    for class in &college.classes {
        for s in &class.students {
            create_account(seeder, at, &admin, e, s).await?;
        }
    }
    for (parent, children) in &college.parents {
        create_account(seeder, at, &admin, e, parent).await?;
        for child in children {
            seeder
                .run::<app::Account>(
                    at,
                    domain::account::stream_id(parent.id),
                    AccountCommand::LinkChild {
                        account: parent.id,
                        child: *child,
                        child_is_student_here: true,
                    },
                    &admin,
                    || format!("link {} to a child", parent.login),
                )
                .await?;
        }
    }

    for (c, class) in college.classes.iter().enumerate() {
        seeder
            .run::<app::Class>(
                at,
                domain::class::stream_id(class.id),
                ClassCommand::Open {
                    class: class.id,
                    establishment: e,
                    year: college.year,
                    name: name(class.name)?,
                },
                &admin,
                || format!("open class {}", class.name),
            )
            .await?;
        for s in &class.students {
            seeder
                .run::<app::Class>(
                    at,
                    domain::class::stream_id(class.id),
                    ClassCommand::Enrol {
                        class: class.id,
                        student: s.id,
                        from: None,
                        is_student_here: true,
                        enrolled_in: None,
                    },
                    &admin,
                    || format!("enrol {} in {}", s.login, class.name),
                )
                .await?;
        }
        for (t, teacher) in college.teachers.iter().enumerate() {
            if !college.teaches(t, c) {
                continue;
            }
            seeder
                .run::<app::Class>(
                    at,
                    domain::class::stream_id(class.id),
                    ClassCommand::AssignTeacher {
                        class: class.id,
                        teacher: teacher.person.id,
                        subject: text::<Subject>(teacher.subject)?,
                        is_teacher_here: true,
                    },
                    &admin,
                    || format!("assign {} to {}", teacher.person.login, class.name),
                )
                .await?;
        }
    }

    // The head of the collège is its publication director, with legal notices.
    let director = NamedAccount {
        account: college.director.id,
        name: name(&college.director.full_name())?,
    };
    seeder
        .run::<app::Legal>(
            at,
            domain::legal::stream_id(e),
            LegalCommand::DesignateDirector {
                establishment: e,
                designation: DesignationId::from_uuid(seeder.new_id()),
                director: director.clone(),
                co_director: None,
                effective_from: college.set_up_on,
            },
            &admin,
            || "designate the publication director".to_owned(),
        )
        .await?;
    let fields = LegalNoticeFields {
        publisher_name: name(college_name)?,
        registered_office: text("1 avenue de Paris\n78000 Versailles")?,
        publisher_phone: domain::legal::PhoneNumber::parse("01 39 00 00 00").map_err(|e| {
            SeedError::Data {
                what: "publisher phone".into(),
                reason: e.to_string(),
            }
        })?,
        director_name: director.name.clone(),
        co_director_name: None,
        host_name: name("Région académique — hébergement ENT78")?,
        host_address: text("2 place André Mignot\n78000 Versailles")?,
        host_phone: domain::legal::PhoneNumber::parse("01 30 00 00 00").map_err(|e| {
            SeedError::Data {
                what: "host phone".into(),
                reason: e.to_string(),
            }
        })?,
    };
    seeder
        .run::<app::Legal>(
            at,
            domain::legal::stream_id(e),
            LegalCommand::PublishNotices {
                establishment: e,
                notice: LegalNoticeId::from_uuid(seeder.new_id()),
                fields,
            },
            &admin,
            || "publish the legal notices".to_owned(),
        )
        .await?;
    Ok(())
}

async fn create_account(
    seeder: &Seeder,
    at: Timestamp,
    actor: &Actor,
    establishment: EstablishmentId,
    person: &Person,
) -> Result<(), SeedError> {
    let login = Login::parse(&person.login).map_err(|e| SeedError::Data {
        what: format!("login {}", person.login),
        reason: e.to_string(),
    })?;
    seeder
        .run::<app::Account>(
            at,
            domain::account::stream_id(person.id),
            AccountCommand::Create {
                account: person.id,
                establishment,
                profiles: person.profiles.clone(),
                login,
                given_name: name(person.given)?,
                family_name: name(person.family)?,
                login_in_use: false,
            },
            actor,
            || format!("create account {}", person.login),
        )
        .await?;
    Ok(())
}

/// Sets a password on one account per role (hashed with argon2id, in parallel) and returns
/// the logins to print.
async fn set_credentials(seeder: &Seeder, college: &College) -> Result<Vec<DemoLogin>, SeedError> {
    let chosen: Vec<(&'static str, &'static str, &Person)> = vec![
        ("student", "eleve", &college.classes[0].students[0]),
        ("parent", "parent", &college.parents[0].0),
        ("teacher", "prof", &college.teachers[0].person),
        ("staff (vie scolaire)", "viescolaire", &college.staff),
        ("partner company", "partenaire", &college.partner),
        ("publication director", "directeur", &college.director),
        ("analyst", "analyste", &college.analyst),
        ("establishment admin", "admin", &college.admin),
        ("platform admin", "plateforme", &college.platform_admin),
    ];
    let mut hashing = Vec::new();
    for (_, word, _) in &chosen {
        let password = format!("{word}{DEMO_PASSWORD_SUFFIX}");
        hashing.push(tokio::task::spawn_blocking(move || {
            graphql::auth::hash_password_blocking(&password).map(|phc| (password, phc))
        }));
    }
    let at = paris(college.set_up_on, 8, 30)?;
    let admin = Actor::new(college.admin.id, Profile::EstablishmentAdmin)
        .with_grant(college.establishment, Profile::EstablishmentAdmin);
    let mut logins = Vec::new();
    for ((role, _, person), task) in chosen.into_iter().zip(hashing) {
        let (password, phc) = task
            .await
            .map_err(|e| SeedError::Data {
                what: "password hashing".into(),
                reason: e.to_string(),
            })?
            .map_err(|error| {
                SeedError::command(format!("hash the password of {}", person.login), &error)
            })?;
        let password_hash = PasswordHash::parse(&phc).map_err(|e| SeedError::Data {
            what: "password hash".into(),
            reason: e.to_string(),
        })?;
        seeder
            .run::<app::Account>(
                at,
                domain::account::stream_id(person.id),
                AccountCommand::SetCredentials {
                    account: person.id,
                    password_hash,
                },
                &admin,
                || format!("set the password of {}", person.login),
            )
            .await?;
        logins.push(DemoLogin {
            role,
            identifier: person.login.clone(),
            password,
        });
    }
    Ok(logins)
}
