//! The establishments of the demo académie and their ENT deployment history, as plain data.
//! Seeding turns each entry into real commands; tests compute the expected statistics from the
//! same entries, so the figures shown by `ent stats` are checked against the definitions.
//!
//! The history is shaped on the seed figure of the ENT's rollout: by November 2018 almost every
//! public lycée (19 of 20) and about 90 % of public collèges (18 of 20) are equipped, écoles and
//! private establishments much less.

use domain::values::{EstablishmentKind, Sector, Uai};
use jiff::civil::{Date, date};

/// The académie of every demo establishment.
pub const ACADEMIE: &str = "Versailles";

/// The platform the ENT is deployed on, and the project that funds it.
pub const PLATFORM: &str = "ENT78";
pub const PROJECT: &str = "ENT des Yvelines";

/// Index in [`establishments`] of the collège that is fully populated.
pub const POPULATED_COLLEGE: usize = 0;

/// One demo establishment.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoEstablishment {
    pub uai: Uai,
    pub name: String,
    pub kind: EstablishmentKind,
    pub sector: Sector,
    pub commune: &'static str,
    /// When the ENT was deployed, if it ever was.
    pub deployed_on: Option<Date>,
    /// When it was withdrawn after that deployment, if it was.
    pub withdrawn_on: Option<Date>,
}

impl DemoEstablishment {
    /// Whether the ENT was in service at the end of `day`.
    pub fn equipped_on(&self, day: Date) -> bool {
        match (self.deployed_on, self.withdrawn_on) {
            (Some(deployed), None) => deployed <= day,
            (Some(deployed), Some(withdrawn)) => deployed <= day && day < withdrawn,
            (None, _) => false,
        }
    }
}

const COMMUNES: [&str; 6] = [
    "Versailles",
    "Saint-Germain-en-Laye",
    "Rambouillet",
    "Mantes-la-Jolie",
    "Poissy",
    "Trappes",
];

const PATRONS: [&str; 20] = [
    "Jean Moulin",
    "Marie Curie",
    "Jules Ferry",
    "Victor Hugo",
    "Louise Michel",
    "Pierre Mendès France",
    "Simone Veil",
    "Jean Jaurès",
    "George Sand",
    "Albert Camus",
    "Condorcet",
    "Colette",
    "Jacques Prévert",
    "Paul Éluard",
    "Olympe de Gouges",
    "Hoche",
    "La Bruyère",
    "Racine",
    "Descartes",
    "Lavoisier",
];

/// The UAI of the `n`-th demo establishment: département 78, a 4-digit number, the check letter.
pub fn demo_uai(n: usize) -> Uai {
    let number = 78_0000 + 100 + n as u32 * 7;
    let text = format!("{number:07}{}", Uai::check_letter(number) as char);
    // The check letter is computed from the number, so the text always parses.
    Uai::parse(&text).unwrap_or_else(|e| panic!("demo UAI {text} does not parse: {e}"))
}

/// Every demo establishment, in a fixed order; the first is the populated collège.
pub fn establishments() -> Vec<DemoEstablishment> {
    let mut out = Vec::new();
    let mut push = |name: String,
                    kind: EstablishmentKind,
                    sector: Sector,
                    deployed_on: Option<Date>,
                    withdrawn_on: Option<Date>| {
        let n = out.len();
        out.push(DemoEstablishment {
            uai: demo_uai(n),
            name,
            kind,
            sector,
            commune: COMMUNES[n % COMMUNES.len()],
            deployed_on,
            withdrawn_on,
        });
    };
    use EstablishmentKind::*;
    use Sector::*;

    // Public collèges: 18 of 20 equipped by November 2018 (one more in January 2019, one never).
    for (i, patron) in PATRONS.iter().enumerate() {
        let deployed = match i {
            0 => Some(date(2009, 9, 1)),
            18 => Some(date(2019, 1, 7)),
            19 => None,
            _ => Some(date(
                2008 + (i as i16 % 11),
                [9, 1, 4][i % 3],
                1 + (i as i8 % 3),
            )),
        };
        push(format!("Collège {patron}"), College, Public, deployed, None);
    }
    // Public lycées: 19 of 20 equipped, the first ones from 2005 (one only in 2019).
    for (i, patron) in PATRONS.iter().rev().enumerate() {
        let deployed = match i {
            19 => Some(date(2019, 9, 2)),
            _ => Some(date(
                2005 + (i as i16 / 3),
                [9, 1, 4][i % 3],
                1 + (i as i8 % 2),
            )),
        };
        push(format!("Lycée {patron}"), Lycee, Public, deployed, None);
    }
    // Public lycées professionnels: 3 of 4.
    for (i, patron) in [
        "Jean Monnet",
        "Gustave Eiffel",
        "Louis Blériot",
        "Nadia Boulanger",
    ]
    .iter()
    .enumerate()
    {
        let deployed = (i < 3).then(|| date(2010 + i as i16 * 2, 9, 1));
        push(
            format!("Lycée professionnel {patron}"),
            LyceeProfessionnel,
            Public,
            deployed,
            None,
        );
    }
    // Private collèges under contract: one equipped, one withdrawn in 2016, two never.
    for (i, patron) in [
        "Saint-Joseph",
        "Notre-Dame",
        "Sainte-Marie",
        "Saint-Exupéry",
    ]
    .iter()
    .enumerate()
    {
        let (deployed, withdrawn) = match i {
            0 => (Some(date(2012, 9, 3)), None),
            1 => (Some(date(2011, 1, 10)), Some(date(2016, 7, 1))),
            _ => (None, None),
        };
        push(
            format!("Collège privé {patron}"),
            College,
            PrivateUnderContract,
            deployed,
            withdrawn,
        );
    }
    // Private lycées under contract: 2 of 3.
    for (i, patron) in ["Saint-Louis", "Blanche de Castille", "Jeanne d'Arc"]
        .iter()
        .enumerate()
    {
        let deployed = (i < 2).then(|| date(2013 + i as i16, 9, 2));
        push(
            format!("Lycée privé {patron}"),
            Lycee,
            PrivateUnderContract,
            deployed,
            None,
        );
    }
    // Public écoles: 2 of 8 equipped by November 2018, a third in 2020.
    for i in 0..8 {
        let deployed = match i {
            0 => Some(date(2016, 9, 1)),
            1 => Some(date(2017, 9, 4)),
            2 => Some(date(2020, 9, 1)),
            _ => None,
        };
        push(
            format!("École élémentaire {}", PATRONS[(i * 3 + 1) % PATRONS.len()]),
            Ecole,
            Public,
            deployed,
            None,
        );
    }
    // A private école, not equipped.
    push(
        "École privée Sainte-Thérèse".to_owned(),
        Ecole,
        PrivateUnderContract,
        None,
        None,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(kind: EstablishmentKind, sector: Sector, day: Date) -> (usize, usize) {
        let all: Vec<_> = establishments()
            .into_iter()
            .filter(|e| e.kind == kind && e.sector == sector)
            .collect();
        (all.iter().filter(|e| e.equipped_on(day)).count(), all.len())
    }

    #[test]
    fn the_history_reproduces_the_seed_figure() {
        let november_2018 = date(2018, 11, 30);
        assert_eq!(
            share(EstablishmentKind::Lycee, Sector::Public, november_2018),
            (19, 20)
        );
        assert_eq!(
            share(EstablishmentKind::College, Sector::Public, november_2018),
            (18, 20)
        );
    }

    #[test]
    fn uais_are_distinct_and_valid() {
        let all = establishments();
        let mut uais: Vec<_> = all.iter().map(|e| e.uai).collect();
        uais.sort();
        uais.dedup();
        assert_eq!(uais.len(), all.len());
        assert!(all.iter().all(|e| e.uai.departement() == "78"));
        assert_eq!(all[0].uai.as_str(), "0780100K");
        assert!(all.len() >= 36, "several dozen establishments");
    }

    #[test]
    fn deployments_start_in_the_mid_2000s_and_precede_withdrawals() {
        let all = establishments();
        let first = all.iter().filter_map(|e| e.deployed_on).min().unwrap();
        assert_eq!(first.year(), 2005);
        for e in &all {
            if let (Some(d), Some(w)) = (e.deployed_on, e.withdrawn_on) {
                assert!(d < w, "{}", e.name);
            }
        }
    }

    #[test]
    fn the_populated_establishment_is_an_equipped_public_college() {
        let college = &establishments()[POPULATED_COLLEGE];
        assert_eq!(college.kind, EstablishmentKind::College);
        assert_eq!(college.sector, Sector::Public);
        assert!(college.equipped_on(date(2018, 11, 30)));
    }
}
