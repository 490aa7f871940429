//! The `ent` binary's command line, run as a user would: `--help` on every command, refusal
//! of bad input with a clear message and a non-zero exit, and `verify` on a fresh directory.

use std::process::{Command, Output};

fn ent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ent"))
        .args(args)
        .env_remove("ENT_DATA")
        .env_remove("ENT_LISTEN")
        .env_remove("ENT_DEMO")
        .output()
        .expect("the ent binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_works_on_every_command() {
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["verify"],
        &["replay"],
        &["stats"],
        &["stats", "deployment"],
        &["stats", "usage"],
        &["audit"],
        &["audit", "export"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let output = ent(&args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(text.contains("Usage: ent"), "{args:?}: {text}");
    }
    let serve = stdout(&ent(&["serve", "--help"]));
    for flag in ["--data", "--listen", "--demo", "ENT_DATA", "ENT_LISTEN"] {
        assert!(serve.contains(flag), "serve --help lacks {flag}: {serve}");
    }
    let deployment = stdout(&ent(&["stats", "deployment", "--help"]));
    for flag in ["--as-of", "--by", "--monthly", "--format"] {
        assert!(deployment.contains(flag), "deployment --help lacks {flag}");
    }
}

#[test]
fn bad_usage_is_refused_with_exit_code_2() {
    for args in [
        &["serve", "--listen", "not an address"][..],
        &["serve", "--token-ttl-h", "0"],
        &["serve", "--token-ttl-h", "721"],
        &["serve", "--response-cache-entries", "-1"],
        &["serve", "--response-cache-entries", "1000001"],
        &["serve", "--build-memory-mib", "65537"],
        &["serve", "--build-memory-mib", "a lot"],
        &["stats", "deployment", "--as-of", "2018-13-40"],
        &[
            "stats",
            "deployment",
            "--as-of",
            "2018-11-30",
            "--by",
            "colour",
        ],
        &["replay", "--until", "1", "--format", "xml"],
        &["no-such-command"],
    ] {
        let output = ent(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains("error"), "{args:?}");
    }
}

#[test]
fn commands_on_a_missing_log_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nothing-here");
    let data = data.to_str().unwrap();
    for args in [
        &["verify", "--data", data][..],
        &["replay", "--data", data, "--until", "10"],
        &[
            "stats",
            "deployment",
            "--data",
            data,
            "--as-of",
            "2018-11-30",
        ],
    ] {
        let output = ent(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).contains("no event log"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(
        !dir.path().join("nothing-here").exists(),
        "nothing is created"
    );
}

#[test]
fn replay_refuses_an_unreadable_cut() {
    let dir = tempfile::tempdir().unwrap();
    let output = ent(&[
        "replay",
        "--data",
        dir.path().to_str().unwrap(),
        "--until",
        "last tuesday",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("neither a position"),
        "{}",
        stderr(&output)
    );
}
