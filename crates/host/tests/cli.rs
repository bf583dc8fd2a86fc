//! The `edgedesk` binary: errors are one line on stderr with exit status 1,
//! never a panic; `build` runs commands like `spin build`.

use std::process::Command;

fn edgedesk(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgedesk"))
        .args(args)
        .output()
        .expect("run edgedesk")
}

#[test]
fn up_with_a_missing_manifest_is_one_line_and_exit_1() {
    let out = edgedesk(&["up", "-f", "/definitely/not/here/spin.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("Error: cannot read manifest file"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn up_with_broken_toml_names_the_line() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("spin.toml"),
        "spin_manifest_version = 2\n\n[application\n",
    )?;
    let from = dir.path().to_string_lossy().into_owned();
    let out = edgedesk(&["up", "-f", &from]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
    Ok(())
}

#[test]
fn build_stops_at_the_first_failing_command() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("spin.toml"),
        r#"spin_manifest_version = 2
[application]
name = "b"
[[trigger.http]]
route = "/..."
component = "first"
[component.first]
source = "first.wasm"
[component.first.build]
command = "echo built > first.txt"
[component.second]
source = "second.wasm"
[component.second.build]
command = "echo failing; exit 7"
[component.third]
source = "third.wasm"
[component.third.build]
command = "touch third.txt"
"#,
    )?;
    let from = dir.path().join("spin.toml").to_string_lossy().into_owned();
    let out = edgedesk(&["build", "-f", &from]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("build command for component \"second\" failed"),
        "{err}"
    );
    assert!(dir.path().join("first.txt").exists());
    assert!(!dir.path().join("third.txt").exists());
    Ok(())
}

#[test]
fn up_help_lists_spins_flags() {
    let out = edgedesk(&["up", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--from",
        "--listen",
        "--build",
        "--runtime-config-file",
        "--state-dir",
        "--variable",
        "--env",
        "-e,",
        "--key-value",
        "--sqlite",
        "--direct-mounts",
        "--disable-pooling",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn unknown_flags_are_one_line_naming_the_flag() {
    let out = edgedesk(&["up", "--frobnicate", "-f", "/nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("Error: unknown flag --frobnicate"), "{err}");

    // A `spin up` flag this host lacks is named as such.
    let out = edgedesk(&["up", "--follow", "web"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Error: --follow is a `spin up` flag this host does not support"),
        "{err}"
    );
    let out = edgedesk(&["up", "--log-dir=/tmp/x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Error: --log-dir is a `spin up` flag"),
        "{err}"
    );
}

#[test]
fn malformed_flag_values_fail_before_anything_starts() {
    for (args, expected) in [
        (
            vec!["up", "-f", "/nowhere", "--variable", "novalue"],
            "variables must be in the form 'key=value' or '@file'",
        ),
        (
            vec!["up", "-f", "/nowhere", "--variable", "@vars.yaml"],
            "must end in .json or .toml",
        ),
        (
            vec!["up", "-f", "/nowhere", "-e", "NOEQUALS"],
            "-e/--env must be of the form `key=value`",
        ),
        (
            vec!["up", "-f", "/nowhere", "--key-value", "k"],
            "--key-value must be of the form `key=value`",
        ),
    ] {
        let out = edgedesk(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        // Checked before the manifest is even read.
        assert!(!err.contains("manifest"), "{args:?}: {err}");
    }
}
