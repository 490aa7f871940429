//! The seeding machinery: a settable clock for the application service, a helper that runs one
//! command at a given Paris date and time, and the registration of the catalogue's
//! establishments with their deployment history in chronological order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::establishment::EstablishmentCommand;
use domain::ids::{AccountId, EstablishmentId};
use domain::values::Name;
use domain::{Actor, Profile};
use eventlog::EventStore;
use graphql::app::{self, Aggregate, App, Clock, CommandOutcome};
use graphql::auth::{Auth, ThrottleConfig};
use graphql::metrics::Metrics;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use uuid::Uuid;

use super::SeedError;
use super::catalogue::{self, DemoEstablishment};

/// A clock the seeder moves: every command is decided at the time set just before it.
#[derive(Debug)]
pub struct SeedClock {
    now: Mutex<Timestamp>,
}

impl SeedClock {
    pub fn new(now: Timestamp) -> SeedClock {
        SeedClock {
            now: Mutex::new(now),
        }
    }

    pub fn set(&self, now: Timestamp) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Clock for SeedClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the demo's commands through the application service.
pub struct Seeder {
    app: App,
    clock: Arc<SeedClock>,
    /// The platform administrator who registers establishments (its account is created with
    /// the populated collège's people).
    pub platform_admin: AccountId,
    /// The real time when seeding started: "now" for facts placed relative to today.
    pub started_at: Timestamp,
}

impl Seeder {
    pub fn new(store: Arc<dyn EventStore>) -> Seeder {
        let started_at = Timestamp::now();
        let clock = Arc::new(SeedClock::new(started_at));
        let auth = Arc::new(Auth::new(
            Duration::from_secs(3600),
            ThrottleConfig::default(),
        ));
        let app = App::new(store, Arc::new(Metrics::new()), clock.clone(), auth);
        Seeder {
            app,
            clock,
            platform_admin: AccountId::from_uuid(Uuid::now_v7()),
            started_at,
        }
    }

    /// A fresh id.
    pub fn new_id(&self) -> Uuid {
        self.app.new_id()
    }

    /// The platform administrator acting, granted in `establishment`.
    pub fn platform_admin_in(&self, establishment: EstablishmentId) -> Actor {
        Actor::new(self.platform_admin, Profile::PlatformAdmin)
            .with_grant(establishment, Profile::PlatformAdmin)
    }

    /// Runs one command of aggregate `A` on `stream`, decided at `at`.
    pub async fn run<A: Aggregate>(
        &self,
        at: Timestamp,
        stream: String,
        command: A::Command,
        actor: &Actor,
        what: impl FnOnce() -> String,
    ) -> Result<CommandOutcome, SeedError> {
        self.clock.set(at);
        self.app
            .execute::<A>(&stream, &command, actor, None)
            .await
            .map_err(|error| SeedError::command(what(), &error))
    }

    /// The current state of one aggregate, folded from the log (for facts a command needs,
    /// such as a contested publication's version and length).
    pub fn state<A: Aggregate>(&self, stream: &str) -> Result<(A::State, Option<u64>), SeedError> {
        self.app
            .state::<A>(stream)
            .map_err(|error| SeedError::command(format!("read {stream}"), &error))
    }

    /// Registers every establishment (in June 2005) and replays the deployment history in
    /// date order. Returns the ids in catalogue order.
    pub async fn register_establishments(
        &self,
        establishments: &[DemoEstablishment],
    ) -> Result<Vec<EstablishmentId>, SeedError> {
        let academie = name(catalogue::ACADEMIE)?;
        let platform = name(catalogue::PLATFORM)?;
        let project = name(catalogue::PROJECT)?;
        let ids: Vec<EstablishmentId> = establishments
            .iter()
            .map(|_| EstablishmentId::from_uuid(self.new_id()))
            .collect();
        let registered_at = paris(jiff::civil::date(2005, 6, 1), 9, 0)?;
        for (e, id) in establishments.iter().zip(&ids) {
            let command = EstablishmentCommand::Register {
                establishment: *id,
                uai: e.uai,
                name: name(&e.name)?,
                kind: e.kind,
                sector: e.sector,
                academie: academie.clone(),
                commune: name(e.commune)?,
                uai_in_use: false,
            };
            let actor = self.platform_admin_in(*id);
            self.run::<app::Establishment>(
                registered_at,
                domain::establishment::stream_id(*id),
                command,
                &actor,
                || format!("register {}", e.name),
            )
            .await?;
        }

        let mut history: Vec<(Date, usize, bool)> = Vec::new();
        for (i, e) in establishments.iter().enumerate() {
            if let Some(on) = e.deployed_on {
                history.push((on, i, true));
            }
            if let Some(on) = e.withdrawn_on {
                history.push((on, i, false));
            }
        }
        history.sort();
        for (on, i, deploy) in history {
            let id = ids[i];
            let command = if deploy {
                EstablishmentCommand::DeployEnt {
                    establishment: id,
                    on,
                    platform: platform.clone(),
                    project: project.clone(),
                }
            } else {
                EstablishmentCommand::WithdrawEnt {
                    establishment: id,
                    on,
                    reason: Some(text("Fin de la convention avec l'organisme de gestion")?),
                }
            };
            let actor = self.platform_admin_in(id);
            self.run::<app::Establishment>(
                paris(on, 8, 0)?,
                domain::establishment::stream_id(id),
                command,
                &actor,
                || {
                    format!(
                        "{} the ENT of {} on {on}",
                        if deploy { "deploy" } else { "withdraw" },
                        establishments[i].name
                    )
                },
            )
            .await?;
        }
        Ok(ids)
    }
}

/// The instant of `date` at `hour:minute` in Europe/Paris.
pub fn paris(date: Date, hour: i8, minute: i8) -> Result<Timestamp, SeedError> {
    let time = jiff::civil::Time::new(hour, minute, 0, 0)
        .map_err(|e| SeedError::Time(format!("{hour}:{minute}: {e}")))?;
    DateTime::from_parts(date, time)
        .in_tz("Europe/Paris")
        .map(|z| z.timestamp())
        .map_err(|e| SeedError::Time(format!("{date} {hour}:{minute} in Paris: {e}")))
}

/// A name value, or a data error naming it.
pub fn name(text: &str) -> Result<Name, SeedError> {
    Name::new(text).map_err(|e| SeedError::Data {
        what: format!("name {text:?}"),
        reason: e.to_string(),
    })
}

/// Any text value type of the domain (`Title`, `Body`, `Reason`…), or a data error.
pub fn text<T>(value: &str) -> Result<T, SeedError>
where
    T: std::str::FromStr<Err = domain::DomainError>,
{
    value
        .parse()
        .map_err(|e: domain::DomainError| SeedError::Data {
            what: format!("text {value:?}"),
            reason: e.to_string(),
        })
}
