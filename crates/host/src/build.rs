//! `edgedesk build`: runs each component's `[component.<id>.build]`
//! commands, as `spin build` does.
//!
//! Components are built in manifest order, each command through `sh -c` in
//! the manifest's folder (or the component's `workdir`), one after another;
//! the first failure stops the build with the component and command named.
//! `CARGO_TARGET_DIR` is not passed on: `source` paths in `spin.toml` point
//! into the workspace's own `target/`.
//!
//! Before the first command, the Rust targets the commands need are made
//! sure of: rustup installs a `rust-toolchain.toml`'s `targets` only when it
//! installs the toolchain itself, so on a machine that already had `stable`
//! a fresh clone's `cargo build --target wasm32-wasip2` fails with "can't
//! find crate for `core`". The targets named by `--target` in a cargo
//! command, and those `rust-toolchain.toml` lists (for workdirs that run
//! cargo), are checked with `rustup target list --installed` and the missing
//! ones added with `rustup target add`, saying so. Without rustup nothing is
//! checked: cargo's own error stands.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::manifest;

/// The Rust targets the build commands need, per working directory.
fn needed_targets(app: &manifest::App) -> Vec<(PathBuf, BTreeSet<String>)> {
    let mut by_dir: Vec<(PathBuf, BTreeSet<String>)> = Vec::new();
    for c in app.components.values() {
        let Some(b) = &c.build else {
            continue;
        };
        let workdir = match &b.workdir {
            Some(w) => app.dir.join(w),
            None => app.dir.clone(),
        };
        let mut targets = BTreeSet::new();
        let mut runs_cargo = false;
        for command in &b.commands {
            let words: Vec<&str> = command.split_whitespace().collect();
            if !words.iter().any(|w| *w == "cargo" || w.ends_with("/cargo")) {
                continue;
            }
            runs_cargo = true;
            for (i, w) in words.iter().enumerate() {
                if let Some(t) = w.strip_prefix("--target=") {
                    targets.insert(t.to_owned());
                } else if *w == "--target"
                    && let Some(t) = words.get(i + 1)
                {
                    targets.insert((*t).to_owned());
                }
            }
        }
        if runs_cargo {
            targets.extend(toolchain_file_targets(&workdir));
        }
        if targets.is_empty() {
            continue;
        }
        match by_dir.iter_mut().find(|(d, _)| *d == workdir) {
            Some((_, t)) => t.extend(targets),
            None => by_dir.push((workdir, targets)),
        }
    }
    by_dir
}

/// `targets` of the `rust-toolchain.toml` rustup would use in `dir` (the
/// nearest one in `dir` or above).
fn toolchain_file_targets(dir: &Path) -> Vec<String> {
    for d in dir.ancestors() {
        let path = d.join("rust-toolchain.toml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(table) = toml::from_str::<toml::Table>(&text) else {
            return Vec::new();
        };
        return table
            .get("toolchain")
            .and_then(|t| t.get("targets"))
            .and_then(toml::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
    }
    Vec::new()
}

/// Installs the targets of `needed` that `rustup` (the program at `rustup`)
/// lacks; quiet when all are there. Returns the targets it added.
pub fn ensure_targets(
    rustup: &Path,
    needed: &[(PathBuf, BTreeSet<String>)],
) -> anyhow::Result<Vec<String>> {
    let mut added = Vec::new();
    let mut installed_by_dir: HashMap<PathBuf, BTreeSet<String>> = HashMap::new();
    for (dir, targets) in needed {
        let installed = match installed_by_dir.get(dir) {
            Some(i) => i.clone(),
            None => {
                let out = match Command::new(rustup)
                    .args(["target", "list", "--installed"])
                    .current_dir(dir)
                    .output()
                {
                    Ok(out) if out.status.success() => out,
                    // No rustup (a distribution's Rust): cargo reports
                    // a missing target itself.
                    _ => return Ok(added),
                };
                let list: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect();
                installed_by_dir.insert(dir.clone(), list.clone());
                list
            }
        };
        for target in targets.difference(&installed) {
            eprintln!(
                "Installing the Rust target {target}, which the build commands compile for: `rustup target add {target}` (once per toolchain)"
            );
            let status = Command::new(rustup)
                .args(["target", "add", target])
                .current_dir(dir)
                .status()
                .with_context(|| format!("cannot run `rustup target add {target}`"))?;
            if !status.success() {
                bail!(
                    "`rustup target add {target}` failed ({status}); install the target yourself, then build again"
                );
            }
            if let Some(i) = installed_by_dir.get_mut(dir) {
                i.insert(target.clone());
            }
            added.push(target.clone());
        }
    }
    Ok(added)
}

/// Builds every component of the app at `manifest_path` (file or folder).
pub fn build(manifest_path: &Path) -> anyhow::Result<()> {
    let app = manifest::load(manifest_path)?;
    ensure_targets(Path::new("rustup"), &needed_targets(&app))?;
    let mut built = 0;
    for (id, c) in &app.components {
        let Some(b) = &c.build else {
            continue;
        };
        let workdir = match &b.workdir {
            Some(w) => app.dir.join(w),
            None => app.dir.clone(),
        };
        for command in &b.commands {
            eprintln!("Building component {id} with `{command}`");
            let status = Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(&workdir)
                .env_remove("CARGO_TARGET_DIR")
                .status()
                .with_context(|| {
                    format!(
                        "cannot run the build command of component {id:?} in {}",
                        workdir.display()
                    )
                })?;
            if !status.success() {
                bail!("build command for component {id:?} failed ({status}): `{command}`");
            }
        }
        built += 1;
    }
    if built == 0 {
        eprintln!("None of the components have a build command.");
    } else {
        eprintln!("Finished building all Spin components");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_app(dir: &Path, commands: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir.join("sub"))?;
        std::fs::write(
            dir.join("spin.toml"),
            format!(
                r#"spin_manifest_version = 2
[application]
name = "b"
[[trigger.http]]
route = "/..."
component = "a"
[component.a]
source = "a.wasm"
[component.a.build]
command = {commands}
workdir = "sub"
[component.b]
source = "b.wasm"
"#
            ),
        )?;
        Ok(())
    }

    #[test]
    fn runs_commands_in_order_in_workdir() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        write_app(
            dir.path(),
            r#"["echo one > out.txt", "echo two >> out.txt"]"#,
        )?;
        build(dir.path())?;
        let out = std::fs::read_to_string(dir.path().join("sub/out.txt"))?;
        assert_eq!(out, "one\ntwo\n");
        Ok(())
    }

    #[test]
    fn targets_come_from_commands_and_the_toolchain_file() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("rust-toolchain.toml"),
            "[toolchain]\nchannel = \"stable\"\ntargets = [\"wasm32-wasip2\"]\n",
        )?;
        write_app(
            dir.path(),
            r#"["cargo build --target wasm32-wasip1 --release", "cargo build --target=wasm32-unknown-unknown"]"#,
        )?;
        let app = manifest::load(dir.path())?;
        let needed = needed_targets(&app);
        assert_eq!(needed.len(), 1);
        assert_eq!(needed[0].0, dir.path().join("sub"));
        let want: BTreeSet<String> = ["wasm32-unknown-unknown", "wasm32-wasip1", "wasm32-wasip2"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(needed[0].1, want);
        // Commands that do not run cargo need no Rust target.
        write_app(dir.path(), r#""tinygo build -target=wasip1 -o main.wasm""#)?;
        assert!(needed_targets(&manifest::load(dir.path())?).is_empty());
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn missing_targets_are_added_with_rustup_and_present_ones_are_not() -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("calls.log");
        let fake = dir.path().join("rustup");
        // A stand-in rustup: has x86_64 and wasm32-wasip1, records every call.
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}\nif [ \"$2\" = list ]; then printf 'x86_64-unknown-linux-gnu\\nwasm32-wasip1\\n'; fi\n",
                log.display()
            ),
        )?;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
        let needed = vec![(
            dir.path().to_path_buf(),
            ["wasm32-wasip1", "wasm32-wasip2"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        )];
        let added = ensure_targets(&fake, &needed)?;
        assert_eq!(added, ["wasm32-wasip2"]);
        let calls = std::fs::read_to_string(&log)?;
        assert_eq!(calls, "target list --installed\ntarget add wasm32-wasip2\n");
        // No rustup at all: nothing to do, no error.
        let added = ensure_targets(&dir.path().join("no-such-rustup"), &needed)?;
        assert!(added.is_empty());
        Ok(())
    }

    #[test]
    fn stops_at_first_failure() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        write_app(dir.path(), r#"["exit 3", "touch never"]"#)?;
        let e = build(&dir.path().join("spin.toml")).expect_err("should fail");
        assert!(e.to_string().contains("component \"a\" failed"), "{e}");
        assert!(!dir.path().join("sub/never").exists());
        Ok(())
    }
}
