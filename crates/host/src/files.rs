//! A component's `files`: what it may read, mounted read-only.
//!
//! As `spin up` does by default, every entry is copied into a private
//! temporary directory mounted at `/`: glob entries (`"assets/**/*.css"`)
//! each file at its path relative to the manifest, `{ source = "dir",
//! destination = "/x" }` the directory's tree under `/x`; `exclude_files`
//! globs are left out. So the guest sees the files as they were at start-up.
//!
//! With `--direct-mounts` (Spin's flag of the same name) directories are
//! mounted in place instead, so edits on the host are visible without a
//! restart; like Spin, this is refused for components with glob entries or
//! `exclude_files`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::manifest::{Component, FilesMount};

/// Prepared mounts: (host directory, guest path) pairs, plus the temporary
/// directory (removed when dropped) if files were copied.
pub struct Mounts {
    pub preopens: Vec<(PathBuf, String)>,
    _copied: Option<tempfile::TempDir>,
}

/// Prepares the mounts of `c`; paths are relative to `app_dir`. `direct`
/// is `--direct-mounts`.
pub fn prepare(app_dir: &Path, c: &Component, direct: bool) -> anyhow::Result<Mounts> {
    if c.files.is_empty() && c.exclude_files.is_empty() {
        return Ok(Mounts {
            preopens: Vec::new(),
            _copied: None,
        });
    }
    if direct {
        if !c.exclude_files.is_empty()
            || c.files.iter().any(|f| matches!(f, FilesMount::Pattern(_)))
        {
            bail!(
                "--direct-mounts cannot be used with file patterns or exclude_files; mount whole directories ({{ source = \"dir\", destination = \"/path\" }}) or drop --direct-mounts"
            );
        }
        let mut preopens = Vec::new();
        for f in &c.files {
            if let FilesMount::Placement {
                source,
                destination,
            } = f
            {
                let host = app_dir.join(source);
                if !host.is_dir() {
                    bail!("files source {} is not a directory", host.display());
                }
                preopens.push((host, destination.clone()));
            }
        }
        return Ok(Mounts {
            preopens,
            _copied: None,
        });
    }

    let excludes = c
        .exclude_files
        .iter()
        .map(|p| glob::Pattern::new(p).with_context(|| format!("exclude_files pattern {p:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let excluded = |rel: &Path| excludes.iter().any(|p| p.matches_path(rel));
    let tmp = tempfile::Builder::new()
        .prefix("edgedesk-files-")
        .tempdir()
        .context("cannot create a temporary directory for files")?;
    for f in &c.files {
        match f {
            FilesMount::Pattern(pattern) => {
                let full = app_dir.join(pattern);
                let full = full.to_string_lossy();
                for entry in
                    glob::glob(&full).with_context(|| format!("files pattern {pattern:?}"))?
                {
                    let path = entry?;
                    if !path.is_file() {
                        continue;
                    }
                    let rel = path.strip_prefix(app_dir).unwrap_or(&path).to_path_buf();
                    if excluded(&rel) {
                        continue;
                    }
                    copy_file(&path, &tmp.path().join(&rel))?;
                }
            }
            FilesMount::Placement {
                source,
                destination,
            } => {
                let host = app_dir.join(source);
                if !host.is_dir() {
                    bail!("files source {} is not a directory", host.display());
                }
                let dest = tmp.path().join(destination.trim_start_matches('/'));
                copy_dir(&host, &dest, Path::new(source), &excluded)?;
            }
        }
    }
    Ok(Mounts {
        preopens: vec![(tmp.path().to_path_buf(), "/".to_owned())],
        _copied: Some(tmp),
    })
}

fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to).with_context(|| format!("cannot copy {}", from.display()))?;
    Ok(())
}

fn copy_dir(
    from: &Path,
    to: &Path,
    rel: &Path,
    excluded: &dyn Fn(&Path) -> bool,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        if excluded(&rel) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()), &rel, excluded)?;
        } else {
            copy_file(&path, &to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
