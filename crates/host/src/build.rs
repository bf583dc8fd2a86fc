//! `edgedesk build`: runs each component's `[component.<id>.build]`
//! commands, as `spin build` does.
//!
//! Components are built in manifest order, each command through `sh -c` in
//! the manifest's folder (or the component's `workdir`), one after another;
//! the first failure stops the build with the component and command named.
//! `CARGO_TARGET_DIR` is not passed on: `source` paths in `spin.toml` point
//! into the workspace's own `target/`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::manifest;

/// Builds every component of the app at `manifest_path` (file or folder).
pub fn build(manifest_path: &Path) -> anyhow::Result<()> {
    let app = manifest::load(manifest_path)?;
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
    fn stops_at_first_failure() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        write_app(dir.path(), r#"["exit 3", "touch never"]"#)?;
        let e = build(&dir.path().join("spin.toml")).expect_err("should fail");
        assert!(e.to_string().contains("component \"a\" failed"), "{e}");
        assert!(!dir.path().join("sub/never").exists());
        Ok(())
    }
}
