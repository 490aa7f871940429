//! Value types that parse rather than validate: once you hold a `Uai`, a `Title` or a
//! `GradeValue`, it is valid. Constructors return `DomainError::Invalid`; deserialization goes
//! through the same constructors, so a stored or received value cannot bypass the checks.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, Time, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::DomainError;

// ---------------------------------------------------------------------------------------------
// UAI
// ---------------------------------------------------------------------------------------------

/// The check-letter alphabet of the UAI: 23 letters, without I, O and Q.
const UAI_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPRSTUVWXYZ";

/// "Unité administrative immatriculée": an establishment's national identifier, 7 digits and a
/// check letter (the 7-digit number modulo 23, indexed into `ABCDEFGHJKLMNPRSTUVWXYZ`).
/// Corsica's départements 2A and 2B are written `620` and `720` in the first three digits.
/// Only the canonical form is accepted: upper-case letter, no spaces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uai([u8; 8]);

impl Uai {
    /// Parses `0750680G`-style text.
    pub fn parse(text: &str) -> Result<Uai, DomainError> {
        let bytes = text.as_bytes();
        if bytes.len() != 8 {
            return Err(DomainError::invalid(format!(
                "UAI {text:?} must be 7 digits and a letter"
            )));
        }
        let (digits, letter) = bytes.split_at(7);
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(DomainError::invalid(format!(
                "UAI {text:?} must start with 7 digits"
            )));
        }
        let number = digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        let expected = Uai::check_letter(number);
        if letter[0] != expected {
            return Err(DomainError::invalid(format!(
                "UAI {text:?} has check letter {:?}, expected {:?}",
                letter[0] as char, expected as char
            )));
        }
        let mut out = [0u8; 8];
        out.copy_from_slice(bytes);
        Ok(Uai(out))
    }

    /// The check letter of a 7-digit number: `number mod 23` indexed into the UAI alphabet.
    pub fn check_letter(number: u32) -> u8 {
        UAI_LETTERS[(number % 23) as usize]
    }

    /// The canonical text, e.g. `0750680G`.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII digits and an ASCII letter by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The département the first three digits encode: `75` for `075…`, `971` for `971…`, `2A`
    /// for `620…` and `2B` for `720…`.
    pub fn departement(&self) -> String {
        let code = &self.as_str()[..3];
        match code {
            "620" => "2A".to_string(),
            "720" => "2B".to_string(),
            _ => code.strip_prefix('0').unwrap_or(code).to_string(),
        }
    }
}

impl fmt::Display for Uai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Uai {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uai({})", self.as_str())
    }
}

impl FromStr for Uai {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Uai::parse(s)
    }
}

impl Serialize for Uai {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Uai {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Uai::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Bounded texts
// ---------------------------------------------------------------------------------------------

/// A non-blank text of at most `MAX` bytes (UTF-8). When `MULTILINE` is false, it holds no line
/// breaks. No control characters other than line breaks and tabs are accepted. The text is kept
/// exactly as given (lengths matter for the right of reply).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text<const MAX: usize, const MULTILINE: bool>(String);

/// A title: one line, at most 200 bytes.
pub type Title = Text<200, false>;
/// A person's, a place's or an organisation's name: one line, at most 200 bytes.
pub type Name = Text<200, false>;
/// A school subject (« Mathématiques », « Histoire-géographie »): one line, at most 100 bytes.
pub type Subject = Text<100, false>;
/// A room: one line, at most 50 bytes.
pub type Room = Text<50, false>;
/// A file name: one line, at most 255 bytes.
pub type FileName = Text<255, false>;
/// A body (message, instructions, submission text): at most 64 KiB.
pub type Body = Text<65536, true>;
/// A reason or ground given for a decision: at most 4000 bytes.
pub type Reason = Text<4000, true>;
/// A comment (on a grade, for instance): at most 4000 bytes.
pub type Comment = Text<4000, true>;

impl<const MAX: usize, const MULTILINE: bool> Text<MAX, MULTILINE> {
    /// The byte limit of this kind of text.
    pub const BYTES_MAX: usize = MAX;

    /// Parses a text, refusing blank, too long, multi-line (when single-line) or control
    /// characters.
    pub fn new(text: impl Into<String>) -> Result<Self, DomainError> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(DomainError::invalid("text must not be blank"));
        }
        if text.len() > MAX {
            return Err(DomainError::invalid(format!(
                "text is {} bytes, the limit is {MAX}",
                text.len()
            )));
        }
        let line_break = |c: char| c == '\n' || c == '\r';
        if let Some(c) = text
            .chars()
            .find(|&c| c.is_control() && !(c == '\t' || (MULTILINE && line_break(c))))
        {
            return Err(DomainError::invalid(format!(
                "text contains the control character {c:?}"
            )));
        }
        Ok(Text(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.0.len()
    }

    /// Number of lines (a text without line break has one).
    pub fn line_count(&self) -> usize {
        self.0.lines().count().max(1)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize, const MULTILINE: bool> fmt::Display for Text<MAX, MULTILINE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize, const MULTILINE: bool> fmt::Debug for Text<MAX, MULTILINE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const MAX: usize, const MULTILINE: bool> FromStr for Text<MAX, MULTILINE> {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Text::new(s)
    }
}

impl<const MAX: usize, const MULTILINE: bool> Serialize for Text<MAX, MULTILINE> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de, const MAX: usize, const MULTILINE: bool> Deserialize<'de> for Text<MAX, MULTILINE> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Text::new(text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Grades
// ---------------------------------------------------------------------------------------------

/// Parses a non-negative decimal with at most two decimals (`15`, `15.5`, `15,25`) into
/// hundredths.
fn parse_centi(text: &str) -> Result<u32, DomainError> {
    let bad = || DomainError::invalid(format!("{text:?} is not a number with at most 2 decimals"));
    let normalised = text.trim().replace(',', ".");
    let (whole, fraction) = match normalised.split_once('.') {
        Some((w, f)) => (w, f),
        None => (normalised.as_str(), ""),
    };
    if whole.is_empty() || whole.len() > 6 || fraction.len() > 2 {
        return Err(bad());
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: u32 = whole.parse().map_err(|_| bad())?;
    let mut fraction_centi = 0u32;
    for (i, b) in fraction.bytes().enumerate() {
        let weight = if i == 0 { 10 } else { 1 };
        fraction_centi += u32::from(b - b'0') * weight;
    }
    Ok(whole * 100 + fraction_centi)
}

/// Formats hundredths as a decimal with the shortest exact form: `1550` → `15.5`.
fn format_centi(centi: u32) -> String {
    let whole = centi / 100;
    let fraction = centi % 100;
    match fraction {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// The scale of an evaluation: grades go from 0 to `max_points` (20, 10, 100…).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Scale {
    max_points: u16,
}

impl Scale {
    /// The usual French scale, out of 20.
    pub const TWENTY: Scale = Scale { max_points: 20 };
    /// The largest scale accepted.
    pub const POINTS_MAX: u16 = 1000;

    pub fn new(max_points: u16) -> Result<Scale, DomainError> {
        if max_points == 0 || max_points > Scale::POINTS_MAX {
            return Err(DomainError::invalid(format!(
                "a scale goes up to between 1 and {} points, not {max_points}",
                Scale::POINTS_MAX
            )));
        }
        Ok(Scale { max_points })
    }

    pub fn max_points(&self) -> u16 {
        self.max_points
    }

    /// The top of the scale in hundredths of a point.
    pub fn max_centi(&self) -> u32 {
        u32::from(self.max_points) * 100
    }
}

impl TryFrom<u16> for Scale {
    type Error = DomainError;
    fn try_from(max_points: u16) -> Result<Self, DomainError> {
        Scale::new(max_points)
    }
}

impl From<Scale> for u16 {
    fn from(scale: Scale) -> u16 {
        scale.max_points
    }
}

/// A grade value in hundredths of a point. It is only built against a `Scale`, so it always fits
/// the scale it was checked against; the evaluation re-checks it against its own scale.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GradeValue {
    centi_points: u32,
}

impl GradeValue {
    /// A value of `centi_points` hundredths of a point, refused beyond the scale's top.
    pub fn new(centi_points: u32, scale: Scale) -> Result<GradeValue, DomainError> {
        if centi_points > scale.max_centi() {
            return Err(DomainError::invalid(format!(
                "grade {} is above the scale's {}",
                format_centi(centi_points),
                scale.max_points()
            )));
        }
        Ok(GradeValue { centi_points })
    }

    /// Parses `15`, `15.5` or `15,25` against a scale.
    pub fn parse(text: &str, scale: Scale) -> Result<GradeValue, DomainError> {
        GradeValue::new(parse_centi(text)?, scale)
    }

    pub fn centi_points(&self) -> u32 {
        self.centi_points
    }

    /// Whether this value fits within `scale`.
    pub fn fits(&self, scale: Scale) -> bool {
        self.centi_points <= scale.max_centi()
    }
}

impl fmt::Display for GradeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_centi(self.centi_points))
    }
}

impl fmt::Debug for GradeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GradeValue({})", format_centi(self.centi_points))
    }
}

/// The weight of an evaluation in averages, in hundredths: from 0.01 to 100.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Coefficient {
    centi: u32,
}

impl Coefficient {
    /// A coefficient of 1.
    pub const ONE: Coefficient = Coefficient { centi: 100 };
    /// The largest coefficient, 100, in hundredths.
    pub const CENTI_MAX: u32 = 10_000;

    pub fn from_centi(centi: u32) -> Result<Coefficient, DomainError> {
        if centi == 0 || centi > Coefficient::CENTI_MAX {
            return Err(DomainError::invalid(format!(
                "a coefficient is between 0.01 and 100, not {}",
                format_centi(centi)
            )));
        }
        Ok(Coefficient { centi })
    }

    /// Parses `1`, `0.5` or `2,25`.
    pub fn parse(text: &str) -> Result<Coefficient, DomainError> {
        Coefficient::from_centi(parse_centi(text)?)
    }

    pub fn centi(&self) -> u32 {
        self.centi
    }
}

impl TryFrom<u32> for Coefficient {
    type Error = DomainError;
    fn try_from(centi: u32) -> Result<Self, DomainError> {
        Coefficient::from_centi(centi)
    }
}

impl From<Coefficient> for u32 {
    fn from(c: Coefficient) -> u32 {
        c.centi
    }
}

impl fmt::Display for Coefficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_centi(self.centi))
    }
}

impl fmt::Debug for Coefficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Coefficient({})", format_centi(self.centi))
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar
// ---------------------------------------------------------------------------------------------

/// A school year, from 1 September of `start_year` to 31 August of the next year, written
/// `2025-2026`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i16", into = "i16")]
pub struct SchoolYear {
    start_year: i16,
}

impl SchoolYear {
    pub const START_YEAR_MIN: i16 = 2000;
    pub const START_YEAR_MAX: i16 = 2100;

    pub fn new(start_year: i16) -> Result<SchoolYear, DomainError> {
        if !(SchoolYear::START_YEAR_MIN..=SchoolYear::START_YEAR_MAX).contains(&start_year) {
            return Err(DomainError::invalid(format!(
                "school year starting in {start_year} is out of {}..={}",
                SchoolYear::START_YEAR_MIN,
                SchoolYear::START_YEAR_MAX
            )));
        }
        Ok(SchoolYear { start_year })
    }

    /// The school year a date belongs to (September starts a new one).
    pub fn of(date: Date) -> Result<SchoolYear, DomainError> {
        let start = if date.month() >= 9 {
            date.year()
        } else {
            date.year() - 1
        };
        SchoolYear::new(start)
    }

    pub fn start_year(&self) -> i16 {
        self.start_year
    }

    /// 1 September of the start year.
    pub fn first_day(&self) -> Date {
        jiff::civil::date(self.start_year, 9, 1)
    }

    /// 31 August of the following year.
    pub fn last_day(&self) -> Date {
        jiff::civil::date(self.start_year + 1, 8, 31)
    }

    pub fn contains(&self, date: Date) -> bool {
        self.first_day() <= date && date <= self.last_day()
    }
}

impl TryFrom<i16> for SchoolYear {
    type Error = DomainError;
    fn try_from(start_year: i16) -> Result<Self, DomainError> {
        SchoolYear::new(start_year)
    }
}

impl From<SchoolYear> for i16 {
    fn from(y: SchoolYear) -> i16 {
        y.start_year
    }
}

impl fmt::Display for SchoolYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start_year, self.start_year + 1)
    }
}

impl fmt::Debug for SchoolYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SchoolYear({self})")
    }
}

impl FromStr for SchoolYear {
    type Err = DomainError;
    /// Parses `2025-2026`.
    fn from_str(s: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::invalid(format!("{s:?} is not a school year like 2025-2026"));
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let a: i16 = a.parse().map_err(|_| bad())?;
        let b: i16 = b.parse().map_err(|_| bad())?;
        if b != a + 1 {
            return Err(bad());
        }
        SchoolYear::new(a)
    }
}

/// A day of the school week.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    pub fn of(date: Date) -> Day {
        Day::from(date.weekday())
    }

    pub fn weekday(&self) -> Weekday {
        match self {
            Day::Monday => Weekday::Monday,
            Day::Tuesday => Weekday::Tuesday,
            Day::Wednesday => Weekday::Wednesday,
            Day::Thursday => Weekday::Thursday,
            Day::Friday => Weekday::Friday,
            Day::Saturday => Weekday::Saturday,
            Day::Sunday => Weekday::Sunday,
        }
    }
}

impl From<Weekday> for Day {
    fn from(w: Weekday) -> Day {
        match w {
            Weekday::Monday => Day::Monday,
            Weekday::Tuesday => Day::Tuesday,
            Weekday::Wednesday => Day::Wednesday,
            Weekday::Thursday => Day::Thursday,
            Weekday::Friday => Day::Friday,
            Weekday::Saturday => Day::Saturday,
            Weekday::Sunday => Day::Sunday,
        }
    }
}

/// A time range within one day (civil, Europe/Paris wall-clock): `start` strictly before `end`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "TimeRangeWire")]
pub struct TimeRange {
    start: Time,
    end: Time,
}

#[derive(Deserialize)]
struct TimeRangeWire {
    start: Time,
    end: Time,
}

impl TryFrom<TimeRangeWire> for TimeRange {
    type Error = DomainError;
    fn try_from(w: TimeRangeWire) -> Result<Self, DomainError> {
        TimeRange::new(w.start, w.end)
    }
}

impl TimeRange {
    pub fn new(start: Time, end: Time) -> Result<TimeRange, DomainError> {
        if start >= end {
            return Err(DomainError::invalid(format!(
                "time range must start before it ends ({start} to {end})"
            )));
        }
        Ok(TimeRange { start, end })
    }

    pub fn start(&self) -> Time {
        self.start
    }

    pub fn end(&self) -> Time {
        self.end
    }

    /// Whether two ranges share some instant (touching ends do not overlap).
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

// ---------------------------------------------------------------------------------------------
// Establishments, services, sources
// ---------------------------------------------------------------------------------------------

/// The kind of an establishment.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum EstablishmentKind {
    /// École maternelle or élémentaire.
    Ecole,
    College,
    Lycee,
    LyceeProfessionnel,
    LyceeAgricole,
    /// Établissement régional d'enseignement adapté.
    Erea,
    Other,
}

/// Public, or private under contract with the State.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Sector {
    Public,
    PrivateUnderContract,
}

/// The services of the ministry's reference list (SDET), counted in usage statistics.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Service {
    Messaging,
    /// Cahier de textes.
    Homework,
    /// Grades and skills.
    Grades,
    /// Absences and school life.
    Absences,
    /// Timetable and agenda.
    Timetable,
    /// Actualités.
    News,
    /// Document storage and sharing.
    Documents,
    /// Blog, forum, wiki.
    Collaborative,
    /// Digital resources and textbooks.
    Resources,
    /// Room booking.
    Booking,
    /// Video conferencing.
    Video,
}

impl Service {
    pub const ALL: [Service; 11] = [
        Service::Messaging,
        Service::Homework,
        Service::Grades,
        Service::Absences,
        Service::Timetable,
        Service::News,
        Service::Documents,
        Service::Collaborative,
        Service::Resources,
        Service::Booking,
        Service::Video,
    ];

    /// A short lower-case name, e.g. `homework`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Service::Messaging => "messaging",
            Service::Homework => "homework",
            Service::Grades => "grades",
            Service::Absences => "absences",
            Service::Timetable => "timetable",
            Service::News => "news",
            Service::Documents => "documents",
            Service::Collaborative => "collaborative",
            Service::Resources => "resources",
            Service::Booking => "booking",
            Service::Video => "video",
        }
    }
}

/// Who shares a digital resource.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum ResourceSource {
    Ministry,
    Rectorat,
    /// The national school of education (École supérieure de l'éducation nationale).
    NationalSchoolOfEducation,
    LocalAuthority,
    Sponsor,
    PublicPublisher,
    PrivatePublisher,
    PartnerCompany,
}

// ---------------------------------------------------------------------------------------------
// Hashes and attachments
// ---------------------------------------------------------------------------------------------

/// A 256-bit digest written as 64 lower-case hexadecimal characters (BLAKE3 or SHA-256).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest256([u8; 32]);

/// The hash of an attachment's content.
pub type ContentHash = Digest256;
/// The hash of a session token: the token itself never reaches the log.
pub type TokenHash = Digest256;

impl Digest256 {
    pub fn from_bytes(bytes: [u8; 32]) -> Digest256 {
        Digest256(bytes)
    }

    /// Parses 64 lower-case hexadecimal characters.
    pub fn parse_hex(text: &str) -> Result<Digest256, DomainError> {
        let bad = || DomainError::invalid("a digest is 64 lower-case hexadecimal characters");
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(bad());
        }
        let nibble = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = nibble(pair[0]).ok_or_else(bad)?;
            let lo = nibble(pair[1]).ok_or_else(bad)?;
            out[i] = hi << 4 | lo;
        }
        Ok(Digest256(out))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        use fmt::Write;
        let mut s = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl TryFrom<String> for Digest256 {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Digest256::parse_hex(&s)
    }
}

impl From<Digest256> for String {
    fn from(d: Digest256) -> String {
        d.to_hex()
    }
}

impl fmt::Display for Digest256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest256({})", self.to_hex())
    }
}

/// A media type such as `application/pdf`: `type/subtype`, ASCII letters, digits and `.+-_`,
/// at most 127 bytes, stored in lower case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MediaType(String);

impl MediaType {
    pub const BYTES_MAX: usize = 127;

    pub fn parse(text: &str) -> Result<MediaType, DomainError> {
        let bad = || DomainError::invalid(format!("{text:?} is not a media type like text/plain"));
        if text.len() > MediaType::BYTES_MAX {
            return Err(bad());
        }
        let (kind, sub) = text.split_once('/').ok_or_else(bad)?;
        let token = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'_'))
        };
        if !token(kind) || !token(sub) {
            return Err(bad());
        }
        Ok(MediaType(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MediaType {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        MediaType::parse(&s)
    }
}

impl From<MediaType> for String {
    fn from(m: MediaType) -> String {
        m.0
    }
}

/// The description of an attached file: the file itself lives in document storage, addressed by
/// its content hash.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "AttachmentWire")]
pub struct Attachment {
    pub name: FileName,
    pub media_type: MediaType,
    size_bytes: u64,
    pub content_hash: ContentHash,
}

#[derive(Deserialize)]
struct AttachmentWire {
    name: FileName,
    media_type: MediaType,
    size_bytes: u64,
    content_hash: ContentHash,
}

impl TryFrom<AttachmentWire> for Attachment {
    type Error = DomainError;
    fn try_from(w: AttachmentWire) -> Result<Self, DomainError> {
        Attachment::new(w.name, w.media_type, w.size_bytes, w.content_hash)
    }
}

impl Attachment {
    /// The largest attachment accepted: 100 MiB.
    pub const SIZE_BYTES_MAX: u64 = 100 * 1024 * 1024;

    pub fn new(
        name: FileName,
        media_type: MediaType,
        size_bytes: u64,
        content_hash: ContentHash,
    ) -> Result<Attachment, DomainError> {
        if size_bytes > Attachment::SIZE_BYTES_MAX {
            return Err(DomainError::invalid(format!(
                "attachment is {size_bytes} bytes, the limit is {}",
                Attachment::SIZE_BYTES_MAX
            )));
        }
        Ok(Attachment {
            name,
            media_type,
            size_bytes,
            content_hash,
        })
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
}

/// A login identifier: 3 to 64 bytes of lower-case ASCII letters, digits, `.`, `-` and `_`,
/// starting with a letter or a digit (e.g. `jean.dupont12`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Login(String);

impl Login {
    pub const BYTES_MIN: usize = 3;
    pub const BYTES_MAX: usize = 64;

    pub fn parse(text: &str) -> Result<Login, DomainError> {
        let bad = || {
            DomainError::invalid(format!(
                "login {text:?} must be 3 to 64 lower-case letters, digits, '.', '-' or '_'"
            ))
        };
        let bytes = text.as_bytes();
        if !(Login::BYTES_MIN..=Login::BYTES_MAX).contains(&bytes.len()) {
            return Err(bad());
        }
        let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if !allowed(&bytes[0])
            || !bytes
                .iter()
                .all(|b| allowed(b) || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(bad());
        }
        Ok(Login(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Login {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Login::parse(&s)
    }
}

impl From<Login> for String {
    fn from(l: Login) -> String {
        l.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A web address for a resource: `https://` (or `http://`) then a host, at most 2048 bytes of
/// visible ASCII.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Url(String);

impl Url {
    pub const BYTES_MAX: usize = 2048;

    pub fn parse(text: &str) -> Result<Url, DomainError> {
        let bad = || DomainError::invalid(format!("{text:?} is not an http(s) address"));
        if text.len() > Url::BYTES_MAX || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad());
        }
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or_else(bad)?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Url(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Url {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Url::parse(&s)
    }
}

impl From<Url> for String {
    fn from(u: Url) -> String {
        u.0
    }
}

/// An argon2 password hash in PHC string format (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). The
/// domain only ever sees this hash, never a password. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    pub const BYTES_MAX: usize = 512;

    /// Checks the PHC shape: an argon2 algorithm id, then `$`-separated printable ASCII fields
    /// without spaces, ending with a salt and a hash.
    pub fn parse(text: &str) -> Result<PasswordHash, DomainError> {
        let bad = || DomainError::invalid("credentials must be an argon2 PHC hash string");
        if text.len() > PasswordHash::BYTES_MAX
            || !text.bytes().all(|b| b.is_ascii_graphic())
            || !text.starts_with('$')
        {
            return Err(bad());
        }
        let fields: Vec<&str> = text[1..].split('$').collect();
        let algorithm_ok = matches!(fields.first(), Some(&("argon2id" | "argon2i" | "argon2d")));
        if !algorithm_ok || fields.len() < 4 || fields.iter().any(|f| f.is_empty()) {
            return Err(bad());
        }
        Ok(PasswordHash(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PasswordHash {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        PasswordHash::parse(&s)
    }
}

impl From<PasswordHash> for String {
    fn from(p: PasswordHash) -> String {
        p.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uai_known_values_parse() {
        assert_eq!(Uai::parse("0750680G").unwrap().as_str(), "0750680G");
        assert_eq!(Uai::parse("0750680G").unwrap().departement(), "75");
        // 6200001 mod 23 = 6, the seventh letter: G; 7200001 mod 23 = 12: N (I is skipped).
        assert_eq!(Uai::parse("6200001G").unwrap().departement(), "2A");
        assert_eq!(Uai::parse("7200001N").unwrap().departement(), "2B");
        assert_eq!(
            Uai::parse("9710001A").map(|_| ()).unwrap_err().code(),
            "INVALID"
        );
    }

    #[test]
    fn uai_refuses_wrong_letter_case_and_shape() {
        for bad in [
            "0750680H",
            "0750680g",
            "075068G",
            "07506800G",
            " 0750680G",
            "2A00001H",
        ] {
            assert!(Uai::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn texts_refuse_blank_long_and_line_breaks() {
        assert!(Title::new("Devoir 3").is_ok());
        assert!(Title::new("   ").is_err());
        assert!(Title::new("a\nb").is_err());
        assert!(Body::new("a\nb").is_ok());
        assert!(Title::new("x".repeat(200)).is_ok());
        assert!(Title::new("x".repeat(201)).is_err());
        assert!(Body::new("bell\u{7}").is_err());
        assert_eq!(Body::new("a\nb\nc").unwrap().line_count(), 3);
    }

    #[test]
    fn deserialization_cannot_bypass_validation() {
        assert!(serde_json::from_str::<Title>("\"\"").is_err());
        assert!(serde_json::from_str::<Uai>("\"0750680H\"").is_err());
        assert!(serde_json::from_str::<Scale>("0").is_err());
        assert!(serde_json::from_str::<TimeRange>(r#"{"start":"10:00","end":"09:00"}"#).is_err());
        assert!(serde_json::from_str::<PasswordHash>("\"hunter2\"").is_err());
    }

    #[test]
    fn grade_values_fit_their_scale() {
        let scale = Scale::TWENTY;
        assert_eq!(
            GradeValue::parse("15,5", scale).unwrap().centi_points(),
            1550
        );
        assert_eq!(GradeValue::parse("20", scale).unwrap().to_string(), "20");
        assert_eq!(
            GradeValue::parse("7.25", scale).unwrap().to_string(),
            "7.25"
        );
        assert!(GradeValue::parse("20.01", scale).is_err());
        assert!(GradeValue::parse("-1", scale).is_err());
        assert!(GradeValue::parse("1.234", scale).is_err());
        assert!(GradeValue::parse("", scale).is_err());
        assert!(Scale::new(0).is_err());
        assert!(Coefficient::parse("0").is_err());
        assert_eq!(Coefficient::parse("1.5").unwrap().centi(), 150);
    }

    #[test]
    fn school_years_start_in_september() {
        let y = SchoolYear::of(jiff::civil::date(2026, 8, 31)).unwrap();
        assert_eq!(y.to_string(), "2025-2026");
        assert_eq!(
            SchoolYear::of(jiff::civil::date(2026, 9, 1))
                .unwrap()
                .start_year(),
            2026
        );
        assert_eq!("2025-2026".parse::<SchoolYear>().unwrap(), y);
        assert!("2025-2027".parse::<SchoolYear>().is_err());
    }

    #[test]
    fn time_ranges_are_ordered() {
        let t = |h, m| jiff::civil::time(h, m, 0, 0);
        assert!(TimeRange::new(t(9, 0), t(9, 0)).is_err());
        let a = TimeRange::new(t(8, 0), t(9, 0)).unwrap();
        let b = TimeRange::new(t(9, 0), t(10, 0)).unwrap();
        let c = TimeRange::new(t(8, 30), t(9, 30)).unwrap();
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c) && c.overlaps(&b));
    }

    #[test]
    fn password_hash_checks_the_phc_shape() {
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNo";
        assert!(PasswordHash::parse(phc).is_ok());
        assert!(PasswordHash::parse("$bcrypt$v=1$x$y").is_err());
        assert!(PasswordHash::parse("$argon2id$$$").is_err());
        assert_eq!(
            format!("{:?}", PasswordHash::parse(phc).unwrap()),
            "PasswordHash(<redacted>)"
        );
    }

    #[test]
    fn logins_are_lower_case_identifiers() {
        assert!(Login::parse("jean.dupont12").is_ok());
        for bad in ["Jean", "jd", ".jean", "jean dupont", "jéan"] {
            assert!(Login::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn urls_are_http_addresses() {
        assert!(Url::parse("https://www.lumni.fr/lycee").is_ok());
        for bad in ["ftp://x", "https://", "https://a b", "lumni.fr"] {
            assert!(Url::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn digests_and_media_types_parse() {
        let hex = "ab".repeat(32);
        assert_eq!(Digest256::parse_hex(&hex).unwrap().to_hex(), hex);
        assert!(Digest256::parse_hex(&"AB".repeat(32)).is_err());
        assert_eq!(
            MediaType::parse("Application/PDF").unwrap().as_str(),
            "application/pdf"
        );
        assert!(MediaType::parse("pdf").is_err());
    }
}
