//! The demo académie, end to end through the built binary: `ent serve --demo` seeds an empty
//! directory, prints its address and one login per role, becomes ready, stops cleanly on
//! SIGTERM and restarts with everything kept; it refuses to seed a directory that holds events.
//! On the seeded data, `ent verify` passes and prints the head, and fails on a corrupted byte;
//! `ent stats deployment` reproduces the seed figure, computed here from the demo's own
//! definitions; `ent replay` stops where it is told. Over HTTP, the response cache keeps the
//! teacher's dashboard across service visits and computes it again after an amended assignment.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock, mpsc};
use std::time::{Duration, Instant};

use ent::demo::catalogue;
use serde_json::Value;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `ent serve`.
struct Server {
    child: Child,
    addr: String,
    /// What it printed on stdout before serving (address and logins).
    banner: Vec<String>,
    stderr_path: PathBuf,
}

fn ent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ent"))
        .args(args)
        .env("ENT_LOG", "warn")
        .output()
        .expect("the ent binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts `ent serve` on a free port and reads its banner; with `demo`, up to the last login.
fn start(data: &Path, demo: bool) -> Server {
    let stderr_path = data.with_extension(format!("stderr-{}.txt", std::process::id()));
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut args = vec![
        "serve".to_owned(),
        "--data".to_owned(),
        data.display().to_string(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
    ];
    if demo {
        args.push("--demo".to_owned());
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_ent"))
        .args(&args)
        .env("ENT_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("ent serve starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let logins_expected = if demo { 9 } else { 0 };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "ent serve printed {banner:?} and then nothing; stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
        };
        banner.push(line);
        let logins = banner
            .iter()
            .skip_while(|l| !l.starts_with("demo logins"))
            .skip(1)
            .count();
        if banner.iter().any(|l| l.starts_with("listening on ")) && logins >= logins_expected {
            break;
        }
    }
    let addr = banner[0]
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line is the address: {banner:?}"))
        .to_owned();
    Server {
        child,
        addr,
        banner,
        stderr_path,
    }
}

impl Server {
    /// Polls `/ready` until it answers 200.
    fn wait_ready(&self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok((200, _)) = http(&self.addr, "GET", "/ready", None, None) {
                return;
            }
            assert!(Instant::now() < deadline, "the server never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn graphql(&self, query: &str) -> Value {
        self.graphql_as(None, query)
    }

    /// A GraphQL request, with a bearer token when given.
    fn graphql_as(&self, token: Option<&str>, query: &str) -> Value {
        let body = serde_json::json!({ "query": query }).to_string();
        let (status, body) = http(&self.addr, "POST", "/graphql", Some(&body), token).unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Sends SIGTERM and waits for the exit; returns whether it exited successfully.
    fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if !status.success() {
                    eprintln!(
                        "ent serve stderr:\n{}",
                        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
                    );
                }
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("ent serve did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A minimal HTTP/1.1 client: the status code and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\n{authorization}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = text(&response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, payload) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    Ok((status, payload))
}

fn dechunk(mut payload: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = payload.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        payload = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// The `head position` and `head hash` lines `ent verify` printed.
fn verified_head(output: &Output) -> (u64, String) {
    let stdout = text(&output.stdout);
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} in {stdout}"))
            .trim()
            .to_owned()
    };
    (
        field("head position:").parse().unwrap(),
        field("head hash:"),
    )
}

/// One seeded demo directory for the read-only tests, seeded once; the lock keeps two
/// commands from opening its log at the same time. A static is never dropped, so the directory
/// lives under cargo's per-target temporary directory, not the system's.
fn seeded() -> (MutexGuard<'static, ()>, &'static Path) {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let server = start(&dir.path().join("data"), true);
        server.wait_ready();
        assert!(server.terminate(), "the seeding server stops cleanly");
        dir
    });
    (guard, Box::leak(dir.path().join("data").into_boxed_path()))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_demo_seeds_serves_stops_on_sigterm_and_restarts_with_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let server = start(&data, true);
    let logins: Vec<&String> = server
        .banner
        .iter()
        .skip_while(|l| !l.starts_with("demo logins"))
        .skip(1)
        .collect();
    assert_eq!(logins.len(), 9, "one login per role: {:?}", server.banner);
    for role in [
        "student",
        "parent",
        "teacher",
        "staff",
        "partner",
        "publication director",
        "analyst",
        "establishment admin",
        "platform admin",
    ] {
        assert!(
            logins.iter().any(|l| l.trim_start().starts_with(role)),
            "no {role} login in {logins:?}"
        );
    }
    server.wait_ready();

    // Every printed login works, under the printed role.
    let mut tokens = std::collections::HashMap::new();
    for line in &logins {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (identifier, password) = (fields[fields.len() - 2], fields[fields.len() - 1]);
        let answer = server.graphql_as(
            None,
            &format!(
                r#"mutation {{ login(identifier: "{identifier}", password: "{password}") {{ token profile }} }}"#
            ),
        );
        let token = answer["data"]["login"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{identifier} cannot log in: {answer}"));
        let profile = answer["data"]["login"]["profile"]
            .as_str()
            .unwrap()
            .to_owned();
        tokens.insert(profile, token.to_owned());
    }
    assert_eq!(
        tokens.len(),
        9,
        "nine distinct profiles: {:?}",
        tokens.keys()
    );

    // The director's register holds one request of each demo case.
    let register = server.graphql_as(
        Some(&tokens["PUBLICATION_DIRECTOR"]),
        "{ replyRegister { nodes { status timeLeftSeconds overdueBySeconds refusalGround } } }",
    );
    let nodes = register["data"]["replyRegister"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{register}"));
    let count = |f: &dyn Fn(&Value) -> bool| nodes.iter().filter(|n| f(n)).count();
    assert_eq!(
        count(&|n| n["status"] == "PUBLISHED_ON_TIME"),
        1,
        "{register}"
    );
    assert_eq!(count(&|n| n["status"] == "REFUSED"), 1, "{register}");
    assert_eq!(
        count(&|n| n["status"] == "PENDING" && n["overdueBySeconds"].as_i64() > Some(0)),
        1,
        "one overdue: {register}"
    );
    assert_eq!(
        count(&|n| n["status"] == "PENDING" && n["timeLeftSeconds"].as_i64() > Some(0)),
        1,
        "one with time left: {register}"
    );

    // The parent with two children sees both.
    let children = server.graphql_as(Some(&tokens["PARENT"]), "{ children { givenName } }");
    let names: Vec<&str> = children["data"]["children"]
        .as_array()
        .unwrap_or_else(|| panic!("{children}"))
        .iter()
        .map(|c| c["givenName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{children}");

    let head = server.graphql("{ logHead { position hash } }");
    let position = head["data"]["logHead"]["position"].as_u64().unwrap();
    let hash = head["data"]["logHead"]["hash"].as_str().unwrap().to_owned();
    assert!(position > 300, "the demo wrote {position} events");
    assert!(server.terminate(), "SIGTERM stops the server cleanly");

    // The log is whole after the shutdown, and matches what the server showed.
    let verify = ent(&["verify", "--data", data.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    assert_eq!(verified_head(&verify), (position, hash.clone()));

    // A restart serves the same log, and its read models catch up on it.
    let server = start(&data, false);
    server.wait_ready();
    let again = server.graphql("{ logHead { position hash } }");
    assert_eq!(
        again["data"]["logHead"]["position"].as_u64(),
        Some(position)
    );
    assert_eq!(
        again["data"]["logHead"]["hash"].as_str(),
        Some(hash.as_str())
    );
    assert!(server.terminate());

    // Seeding again is refused: the directory holds events.
    let refused = ent(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--demo",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("seeds only an empty data directory"),
        "{stderr}"
    );
    let verify = ent(&["verify", "--data", data.to_str().unwrap()]);
    assert_eq!(
        verified_head(&verify).0,
        position,
        "the refusal wrote nothing"
    );
}

#[test]
fn verify_passes_on_the_demo_and_prints_the_head() {
    let (_guard, data) = seeded();
    let output = ent(&["verify", "--data", data.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let (position, hash) = verified_head(&output);
    assert!(position > 300);
    assert_eq!(hash.len(), 64);
    let stdout = text(&output.stdout);
    assert!(stdout.contains(&format!("events: {position}")), "{stdout}");
    assert!(
        stdout.contains("read model stats_deployment@v1: checkpoint"),
        "{stdout}"
    );
}

#[test]
fn verify_reports_a_build_interrupted_by_a_crash() {
    let copy = tempfile::tempdir().unwrap();
    {
        let (_guard, data) = seeded();
        copy_dir(data, copy.path());
    }
    // A build that spilled records past its checkpoint, then died: what a crash mid-build leaves.
    {
        use eventlog::EventStore as _;
        let log = eventlog::FileLog::open(copy.path().join("log"), eventlog::LogConfig::default())
            .unwrap();
        let views = projections::open_views(copy.path().join("views")).unwrap();
        let mut writer =
            projections::ProjectionWriter::open_for_build(views.open_tree("probe@v1").unwrap(), 1)
                .unwrap();
        let counter = projections::testing::EventCounter::new("probe", 1);
        for event in log.read_all(1).unwrap().take(10) {
            writer.apply(&counter, &event.unwrap()).unwrap();
        }
        writer.spill().unwrap();
        views.flush().unwrap();
    }
    let output = ent(&["verify", "--data", copy.path().to_str().unwrap()]);
    // Derived data, rebuilt at the next start: reported, not damage.
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("read model probe@v1: checkpoint 0, lag")
            && stdout.contains("build interrupted by a crash"),
        "{stdout}"
    );
}

#[test]
fn a_corrupted_byte_in_a_segment_makes_verify_fail() {
    let copy = tempfile::tempdir().unwrap();
    {
        let (_guard, data) = seeded();
        copy_dir(data, copy.path());
    }
    let segment = std::fs::read_dir(copy.path().join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("a segment file");
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&segment, bytes).unwrap();

    let output = ent(&["verify", "--data", copy.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("damage"), "{stderr}");
    assert!(!text(&output.stdout).contains("log: sound"));
}

#[test]
fn deployment_statistics_reproduce_the_seed_figure() {
    let november_2018 = jiff::civil::date(2018, 11, 30);
    // The expected figures, from the demo's definitions.
    let mut expected: std::collections::BTreeMap<(String, String), (u64, u64)> = Default::default();
    for e in catalogue::establishments() {
        let entry = expected
            .entry((
                ent::stats::kind_name(e.kind).to_owned(),
                ent::stats::sector_name(e.sector).to_owned(),
            ))
            .or_default();
        entry.0 += 1;
        entry.1 += u64::from(e.equipped_on(november_2018));
    }

    let (_guard, data) = seeded();
    let output = ent(&[
        "stats",
        "deployment",
        "--data",
        data.to_str().unwrap(),
        "--as-of",
        "2018-11-30",
        "--by",
        "kind,sector",
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let mut actual: std::collections::BTreeMap<(String, String), (u64, u64)> = Default::default();
    for row in &rows {
        assert_eq!(row["as_of"], "2018-11-30");
        let (total, equipped) = (
            row["establishments"].as_u64().unwrap(),
            row["equipped"].as_u64().unwrap(),
        );
        let share = row["share"].as_f64().unwrap();
        assert!(
            (share - equipped as f64 / total as f64).abs() < 1e-4,
            "{row}"
        );
        actual.insert(
            (
                row["kind"].as_str().unwrap().to_owned(),
                row["sector"].as_str().unwrap().to_owned(),
            ),
            (total, equipped),
        );
    }
    assert_eq!(actual, expected);

    // The seed figure itself: almost all public lycées, about 90 % of public collèges.
    let share = |kind: &str| {
        let (total, equipped) = actual[&(kind.to_owned(), "public".to_owned())];
        equipped as f64 / total as f64
    };
    assert!(
        share("lycee") >= 0.9 && share("lycee") < 1.0,
        "{}",
        share("lycee")
    );
    assert!(
        (share("college") - 0.9).abs() <= 0.05,
        "{}",
        share("college")
    );

    // CSV carries the same figures.
    let csv = ent(&[
        "stats",
        "deployment",
        "--data",
        data.to_str().unwrap(),
        "--as-of",
        "2018-11-30",
        "--by",
        "kind,sector",
        "--format",
        "csv",
    ]);
    let csv = text(&csv.stdout);
    let (total, equipped) = expected[&("college".to_owned(), "public".to_owned())];
    assert!(
        csv.contains(&format!("2018-11-30,college,public,{total},{equipped},")),
        "{csv}"
    );
}

#[test]
fn the_monthly_series_follows_the_deployment_history() {
    let (_guard, data) = seeded();
    let output = ent(&[
        "stats",
        "deployment",
        "--data",
        data.to_str().unwrap(),
        "--monthly",
        "--from",
        "2018-11-01",
        "--to",
        "2019-01-31",
        "--by",
        "kind,sector",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let colleges: Vec<(String, u64)> = rows
        .iter()
        .filter(|r| r["kind"] == "college" && r["sector"] == "public")
        .map(|r| {
            (
                r["month"].as_str().unwrap().to_owned(),
                r["equipped"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = [(2018, 11, 30), (2018, 12, 31), (2019, 1, 31)]
        .iter()
        .map(|&(y, m, d)| {
            let day = jiff::civil::date(y, m, d);
            let equipped = catalogue::establishments()
                .iter()
                .filter(|e| {
                    e.kind == domain::values::EstablishmentKind::College
                        && e.sector == domain::values::Sector::Public
                        && e.equipped_on(day)
                })
                .count() as u64;
            (format!("{y:04}-{m:02}"), equipped)
        })
        .collect();
    assert_eq!(colleges, expected);
}

#[test]
fn replay_stops_at_the_position_it_is_given() {
    let (_guard, data) = seeded();
    let output = ent(&[
        "replay",
        "--data",
        data.to_str().unwrap(),
        "--until",
        "60",
        "--only",
        "stats_deployment",
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["read_model"], "stats_deployment");
    assert_eq!(rows[0]["position"], 60);
    // The first events register the establishments, one record each.
    assert_eq!(rows[0]["records"], 60);

    // A date cuts on when the log recorded the events: the demo was recorded today, so the
    // log held nothing at the end of November 2018 (whatever dates the facts carry).
    let then = ent(&[
        "replay",
        "--data",
        data.to_str().unwrap(),
        "--until",
        "2018-11-30",
        "--format",
        "csv",
    ]);
    assert!(then.status.success(), "{}", text(&then.stderr));
    let csv = text(&then.stdout);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("read_model,version,position,records"));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 5, "every read model: {csv}");
    assert!(rows.iter().all(|r| r.ends_with(",0,0")), "{csv}");

    let unknown = ent(&[
        "replay",
        "--data",
        data.to_str().unwrap(),
        "--until",
        "60",
        "--only",
        "no_such_view",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no read model is named"));
}

#[test]
fn the_audit_export_names_who_did_what_without_private_messages() {
    let (_guard, data) = seeded();
    let today = jiff::Zoned::now().date();
    let from = today.checked_sub(jiff::Span::new().days(60)).unwrap();
    let args = |format: &'static str| {
        vec![
            "audit".to_owned(),
            "export".to_owned(),
            "--data".to_owned(),
            data.display().to_string(),
            "--from".to_owned(),
            from.to_string(),
            "--to".to_owned(),
            today.to_string(),
            "--format".to_owned(),
            format.to_owned(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ent(&args)
    };
    let csv = run(args("csv"));
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    let csv = text(&csv.stdout);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("position,at,actor_account,actor_profile,event_type,establishment,entities,summary")
    );
    let rows: Vec<&str> = lines.collect();
    let has = |profile: &str, event_type: &str| {
        rows.iter()
            .any(|r| r.contains(&format!(",{profile},{event_type},")))
    };
    // The demo's publication facts, each with who did it.
    assert!(
        has("publication_director", "publication.withdrawn"),
        "{csv}"
    );
    assert!(has("parent", "publication.reported"), "{csv}");
    assert!(has("parent", "reply.request_received"), "{csv}");
    assert!(has("publication_director", "reply.refused"), "{csv}");
    assert!(has("publication_director", "reply.published"), "{csv}");
    assert!(
        has("establishment_admin", "legal.director_designated"),
        "{csv}"
    );

    let json = run(args("json"));
    assert!(json.status.success(), "{}", text(&json.stderr));
    let entries: Vec<Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        entries.len(),
        rows.len(),
        "CSV and JSON carry the same entries"
    );
    // Private correspondence never enters the trail: neither the bodies nor the sends.
    let all = text(&json.stdout);
    assert!(!all.contains("exercice 14"));
    assert!(entries.iter().all(|e| {
        !e["event_type"]
            .as_str()
            .unwrap()
            .starts_with("messaging.message")
    }));

    // Nothing happened in the demo's collège before the school year was set up.
    let before = run(vec![
        "audit".to_owned(),
        "export".to_owned(),
        "--data".to_owned(),
        data.display().to_string(),
        "--from".to_owned(),
        "2019-01-01".to_owned(),
        "--to".to_owned(),
        "2019-12-31".to_owned(),
        "--format".to_owned(),
        "json".to_owned(),
    ]);
    assert!(before.status.success());
    let entries: Vec<Value> = serde_json::from_slice(&before.stdout).unwrap();
    assert!(entries.is_empty(), "{entries:?}");
}

#[test]
fn usage_statistics_count_visits_and_unique_users_without_naming_anyone() {
    let (_guard, data) = seeded();
    let today = jiff::Zoned::now().date();
    let from = today.checked_sub(jiff::Span::new().days(35)).unwrap();
    let output = ent(&[
        "stats",
        "usage",
        "--data",
        data.to_str().unwrap(),
        "--from",
        &from.to_string(),
        "--to",
        &today.to_string(),
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    // Four weeks of visits by 6e A's pupils, their parents and the teachers.
    let weeks: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["week"].as_str().unwrap()).collect();
    assert!(weeks.len() >= 4, "{weeks:?}");
    let pupils = catalogue::establishments()[catalogue::POPULATED_COLLEGE].uai;
    for row in &rows {
        let visits = row["visits"].as_u64().unwrap();
        let unique = row["unique_users"].as_u64().unwrap();
        assert!(unique >= 1 && unique <= visits, "{row}");
        assert_eq!(row["uai"], pupils.as_str());
        // A class has 8 pupils: no cell counts more unique students than that.
        if row["profile"] == "ELEVE" {
            assert!(unique <= 8, "{row}");
        }
        let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "profile",
                "service",
                "uai",
                "unique_users",
                "visits",
                "week"
            ],
            "no column names a person"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r["service"] == "homework" && r["profile"] == "ELEVE"),
        "{rows:?}"
    );
}

#[test]
fn verify_refuses_read_models_built_from_another_log() {
    // Another demo, seeded separately: the same shape, other ids, so other hashes.
    let other = tempfile::tempdir().unwrap();
    let server = start(&other.path().join("data"), true);
    server.wait_ready();
    assert!(server.terminate());

    let mixed = tempfile::tempdir().unwrap();
    {
        let (_guard, data) = seeded();
        copy_dir(&data.join("log"), &mixed.path().join("log"));
    }
    copy_dir(
        &other.path().join("data").join("views"),
        &mixed.path().join("views"),
    );
    let output = ent(&["verify", "--data", mixed.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("read model"), "{stderr}");
    assert!(
        stderr.contains("another log") || stderr.contains("beyond the log head"),
        "{stderr}"
    );
    // The log itself is sound and was reported before the views were checked.
    assert!(text(&output.stdout).contains("log: sound"));
}

/// One sample of the server's `/metrics`, by its full name (labels included).
fn metric(server: &Server, name: &str) -> u64 {
    let (status, text) = http(&server.addr, "GET", "/metrics", None, None).unwrap();
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Waits until every read model has applied the whole log.
fn wait_caught_up(server: &Server) {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while metric(server, "projection_lag_events") > 0 {
        assert!(Instant::now() < deadline, "the read models never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_teachers_dashboard_is_kept_across_visits_and_computed_again_after_an_amend() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"), true);
    server.wait_ready();
    let teacher = server
        .banner
        .iter()
        .skip_while(|l| !l.starts_with("demo logins"))
        .find(|l| l.trim_start().starts_with("teacher"))
        .unwrap_or_else(|| panic!("no teacher login in {:?}", server.banner));
    let fields: Vec<&str> = teacher.split_whitespace().collect();
    let (identifier, password) = (fields[fields.len() - 2], fields[fields.len() - 1]);
    let login = server.graphql(&format!(
        r#"mutation {{ login(identifier: "{identifier}", password: "{password}") {{ token }} }}"#
    ));
    let token = login["data"]["login"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_owned();
    let dashboard = "{ me { givenName } assignments(first: 10) { edges { node { assignment { id title } } } } }";
    // The answer and whether the response cache gave it.
    let ask = || {
        let hits = metric(
            &server,
            r#"graphql_response_cache_lookups_total{outcome="hit"}"#,
        );
        let answer = server.graphql_as(Some(&token), dashboard);
        assert!(answer["errors"].is_null(), "{answer}");
        let after = metric(
            &server,
            r#"graphql_response_cache_lookups_total{outcome="hit"}"#,
        );
        (answer, after > hits)
    };
    wait_caught_up(&server);
    let (first, _) = ask();
    assert_eq!(ask(), (first.clone(), true));

    // Visits append events the dashboard reads nothing of: still the kept answer.
    for _ in 0..2 {
        let visit = server.graphql_as(
            Some(&token),
            "mutation { recordVisit(service: HOMEWORK) { position } }",
        );
        assert!(visit["errors"].is_null(), "{visit}");
        wait_caught_up(&server);
        assert_eq!(ask(), (first.clone(), true));
    }

    // Amending a listed assignment changes what the dashboard reads: computed again.
    let assignment = first["data"]["assignments"]["edges"][0]["node"]["assignment"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the demo teacher lists no assignment: {first}"))
        .to_owned();
    let amend = server.graphql_as(
        Some(&token),
        &format!(
            r#"mutation {{ amendHomework(assignmentId: "{assignment}", title: "Fractions, corrigé") {{ position }} }}"#
        ),
    );
    assert!(amend["errors"].is_null(), "{amend}");
    wait_caught_up(&server);
    let (amended, hit) = ask();
    assert!(!hit, "{amended}");
    let titles: Vec<&str> = amended["data"]["assignments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["node"]["assignment"]["title"].as_str())
        .collect();
    assert!(titles.contains(&"Fractions, corrigé"), "{amended}");
    assert!(server.terminate());
}
