//! Loads a Spin application manifest (`spin.toml`, manifest version 2).
//!
//! Why our own loader: Spin's loader drags in its whole runtime, and we only
//! need what an HTTP app uses. We keep Spin's shape and rules (unknown fields
//! are rejected, component ids are kebab-case, variable names lower_snake,
//! templates may only name declared variables) so an app that loads here
//! loads on Spin, and errors name the file and line like Spin's do.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use indexmap::IndexMap;
use serde::Deserialize;

use crate::template::{Template, validate_key};

/// The file name `spin up` looks for when given a directory.
pub const DEFAULT_MANIFEST_FILE: &str = "spin.toml";

/// A loaded, validated application.
#[derive(Debug, Clone)]
pub struct App {
    /// Absolute path of the manifest file.
    pub manifest_path: PathBuf,
    /// Directory holding the manifest; relative paths are resolved against it.
    pub dir: PathBuf,
    pub name: String,
    /// `[application] version`, when given (reported by `/.well-known/spin/info`).
    pub version: Option<String>,
    /// `[application.trigger.http] base`, `/` when absent. Spin 3 and later
    /// ignore it (routes are always from `/`); so does this host, with a warning.
    pub base: String,
    pub variables: IndexMap<String, Variable>,
    pub triggers: Vec<HttpTrigger>,
    pub components: IndexMap<String, Component>,
}

/// An application variable (`[variables]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variable {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    pub route: TriggerRoute,
    pub component: String,
}

/// The `route` of an HTTP trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerRoute {
    /// A route pattern such as `/api/...`.
    Path(String),
    /// `route = { private = true }`: reachable only through service chaining.
    Private,
}

/// One `[component.<id>]`.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    /// Absolute path of the Wasm component.
    pub source: PathBuf,
    pub files: Vec<FilesMount>,
    pub exclude_files: Vec<String>,
    pub environment: IndexMap<String, String>,
    /// Component variable name -> template (e.g. `"{{ portal_name }}"`).
    pub variables: IndexMap<String, Template>,
    /// Raw entries; templates are resolved when the app starts.
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    pub build: Option<BuildConfig>,
}

/// An entry of a component's `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesMount {
    /// A glob relative to the manifest directory; matches appear at the same
    /// relative path under `/` in the guest.
    Pattern(String),
    /// A directory mounted at an absolute guest path.
    Placement { source: String, destination: String },
}

/// `[component.<id>.build]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    pub commands: Vec<String>,
    pub workdir: Option<String>,
    pub watch: Vec<String>,
}

// ---------------------------------------------------------------- raw TOML

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[allow(dead_code)]
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: IndexMap<String, RawVariable>,
    #[serde(default, rename = "trigger")]
    triggers: RawTriggers,
    #[serde(default, rename = "component")]
    components: IndexMap<String, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawApplication {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    targets: Vec<toml::Value>,
    #[serde(default)]
    trigger: IndexMap<String, toml::Table>,
    #[serde(default)]
    tool: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawVariable {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    secret: bool,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    #[serde(flatten)]
    other: IndexMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawHttpTrigger {
    #[serde(default)]
    id: String,
    component: Option<toml::Value>,
    #[serde(default)]
    components: toml::Table,
    route: RawRoute,
    #[serde(default)]
    executor: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: String,
    #[serde(default)]
    variables: IndexMap<String, String>,
    #[serde(default)]
    environment: IndexMap<String, String>,
    #[serde(default)]
    files: Vec<RawFilesMount>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    allowed_http_hosts: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
    #[serde(default)]
    build: Option<RawBuild>,
    #[serde(default)]
    tool: toml::Table,
    #[serde(default)]
    dependencies_inherit_configuration: bool,
    #[serde(default)]
    dependencies: toml::Table,
    #[serde(default)]
    profile: toml::Table,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawFilesMount {
    Pattern(String),
    Placement { source: String, destination: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    command: RawCommands,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCommands {
    Single(String),
    Multiple(Vec<String>),
}

// ---------------------------------------------------------------- loading

/// Resolves `-f/--from` like `spin up`: a file, or a directory holding `spin.toml`.
pub fn resolve_manifest_path(from: &Path) -> PathBuf {
    if from.is_dir() {
        from.join(DEFAULT_MANIFEST_FILE)
    } else {
        from.to_path_buf()
    }
}

/// Reads and validates the manifest at `path` (a file or its folder).
pub fn load(path: &Path) -> anyhow::Result<App> {
    let path = resolve_manifest_path(path);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read manifest file {}", path.display()))?;
    let path = std::path::absolute(&path)
        .with_context(|| format!("cannot resolve path {}", path.display()))?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    parse(&text, &path, &dir)
}

/// Parses manifest text; `path` is only used in messages, `dir` to resolve paths.
pub fn parse(text: &str, path: &Path, dir: &Path) -> anyhow::Result<App> {
    let shown = path.display();
    // Check the version first so a v1 manifest gets a useful message rather
    // than a list of unknown fields.
    let table: toml::Table =
        toml::from_str(text).map_err(|e| anyhow!("{shown} is not valid TOML: {e}"))?;
    match table.get("spin_manifest_version") {
        Some(toml::Value::Integer(2)) => {}
        Some(toml::Value::String(v)) if v == "2" => {}
        Some(other) => bail!(
            "{shown}: unsupported spin_manifest_version {other}; this host reads manifest version 2"
        ),
        None if table.contains_key("spin_version") => bail!(
            "{shown}: manifest version 1 (spin_version) is not supported; run `spin doctor` or convert it to spin_manifest_version = 2"
        ),
        None => bail!("{shown}: missing spin_manifest_version = 2"),
    }
    let raw: RawManifest =
        toml::from_str(text).map_err(|e| anyhow!("{shown} is not a valid Spin manifest: {e}"))?;
    convert(raw, path, dir).map_err(|e| anyhow!("{shown}: {e:#}"))
}

fn convert(raw: RawManifest, path: &Path, dir: &Path) -> anyhow::Result<App> {
    let mut variables = IndexMap::new();
    for (name, var) in raw.variables {
        validate_key(&name).map_err(|e| anyhow!("invalid variable name {name:?}: {e}"))?;
        if var.required && var.default.is_some() {
            bail!("variable {name:?} cannot be both required and have a default");
        }
        let required = var.required || var.default.is_none();
        variables.insert(
            name,
            Variable {
                default: var.default,
                required,
                secret: var.secret,
            },
        );
    }

    let base = match raw.application.trigger.get("http") {
        Some(http) => match http.get("base") {
            Some(toml::Value::String(b)) => b.clone(),
            Some(_) => bail!("[application.trigger.http] base must be a string"),
            None => "/".to_owned(),
        },
        None => "/".to_owned(),
    };

    if let Some(kind) = raw.triggers.other.keys().next() {
        bail!(
            "trigger type {kind:?} is not supported by this host (only [[trigger.http]]); on Spin it needs the matching trigger plugin"
        );
    }

    let mut components = IndexMap::new();
    for (id, c) in raw.components {
        validate_component_id(&id)?;
        let component = convert_component(&id, c, dir, &variables)
            .with_context(|| format!("component {id:?}"))?;
        components.insert(id, component);
    }

    let mut triggers = Vec::new();
    for (i, t) in raw.triggers.http.into_iter().enumerate() {
        let component = match t.component {
            Some(toml::Value::String(id)) => id,
            Some(toml::Value::Table(_)) => bail!(
                "[[trigger.http]] #{} defines its component inline; this host needs `component = \"<id>\"` naming a [component.<id>] table",
                i + 1
            ),
            Some(_) => bail!("[[trigger.http]] #{}: component must be a string", i + 1),
            None => bail!(
                "[[trigger.http]] #{} has no component (the `components` table form is not supported)",
                i + 1
            ),
        };
        if !components.contains_key(&component) {
            bail!(
                "[[trigger.http]] #{} (route {}) names component {component:?}, which is not defined: add a [component.{component}] table",
                i + 1,
                route_for_message(&t.route)
            );
        }
        if let Some(executor) = &t.executor {
            match executor.get("type").and_then(toml::Value::as_str) {
                Some("spin") | Some("http") | None => {}
                Some(other) => bail!(
                    "[[trigger.http]] #{}: executor type {other:?} is not supported by this host",
                    i + 1
                ),
            }
        }
        let route = match t.route {
            RawRoute::Path(p) => TriggerRoute::Path(p),
            RawRoute::Private { private: true } => TriggerRoute::Private,
            RawRoute::Private { private: false } => bail!(
                "route must be a string pattern or '{{ private = true }}': component {component:?} has {{ private = false }}"
            ),
        };
        triggers.push(HttpTrigger { route, component });
    }

    // Spin itself logs duplicates and lets the last one win; a duplicate is
    // always a mistake, so this host refuses to start instead.
    let mut seen: IndexMap<&str, &str> = IndexMap::new();
    for t in &triggers {
        if let TriggerRoute::Path(route) = &t.route
            && let Some(first) = seen.insert(route.as_str(), t.component.as_str())
        {
            bail!(
                "duplicate route {route:?}: used by components {first:?} and {:?}; each [[trigger.http]] route must be unique",
                t.component
            );
        }
    }

    Ok(App {
        manifest_path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        name: raw.application.name,
        version: Some(raw.application.version).filter(|v| !v.is_empty()),
        base,
        variables,
        triggers,
        components,
    })
}

fn route_for_message(r: &RawRoute) -> String {
    match r {
        RawRoute::Path(p) => format!("{p:?}"),
        RawRoute::Private { .. } => "private".to_owned(),
    }
}

fn convert_component(
    id: &str,
    c: RawComponent,
    dir: &Path,
    app_vars: &IndexMap<String, Variable>,
) -> anyhow::Result<Component> {
    let source = match c.source {
        toml::Value::String(s) => dir.join(s),
        toml::Value::Table(t) if t.contains_key("url") => {
            bail!(
                "source = {{ url = ... }} is not supported by this host: download the .wasm and use a path"
            )
        }
        toml::Value::Table(_) => {
            bail!("registry sources are not supported by this host: use a local .wasm path")
        }
        _ => bail!("source must be a path string"),
    };
    if !c.dependencies.is_empty() {
        bail!("component dependencies are not supported by this host");
    }
    if !c.ai_models.is_empty() {
        bail!("ai_models (Serverless AI) is not supported by this host");
    }

    let mut variables = IndexMap::new();
    for (name, value) in c.variables {
        validate_key(&name).map_err(|e| anyhow!("invalid variable name {name:?}: {e}"))?;
        let template = Template::parse(&value)
            .map_err(|e| anyhow!("variable {name:?}: invalid template {value:?}: {e}"))?;
        for var in template.variable_names() {
            if !app_vars.contains_key(var) {
                bail!(
                    "variable {name:?} refers to {{{{ {var} }}}}, which is not declared in [variables]"
                );
            }
        }
        variables.insert(name, template);
    }

    let mut allowed_outbound_hosts = c.allowed_outbound_hosts;
    for host in &c.allowed_http_hosts {
        allowed_outbound_hosts.push(convert_allowed_http_host(host));
    }
    for host in &allowed_outbound_hosts {
        let template = Template::parse(host)
            .map_err(|e| anyhow!("allowed_outbound_hosts entry {host:?}: {e}"))?;
        for var in template.variable_names() {
            if !app_vars.contains_key(var) {
                bail!(
                    "allowed_outbound_hosts entry {host:?} refers to {{{{ {var} }}}}, which is not declared in [variables]"
                );
            }
        }
        if template.is_literal() {
            crate::allowed_hosts::AllowedHost::parse(host)
                .map_err(|e| anyhow!("allowed_outbound_hosts entry {host:?}: {e}"))?;
        }
    }

    for label in c.key_value_stores.iter().chain(&c.sqlite_databases) {
        if !is_kebab_or_snake(label) {
            bail!("store/database label {label:?} must be kebab-case or snake_case");
        }
    }

    let files = c
        .files
        .into_iter()
        .map(|f| match f {
            RawFilesMount::Pattern(p) => Ok(FilesMount::Pattern(p)),
            RawFilesMount::Placement {
                source,
                destination,
            } => {
                if !destination.starts_with('/') {
                    bail!("files destination {destination:?} must be an absolute path");
                }
                Ok(FilesMount::Placement {
                    source,
                    destination,
                })
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let build = c.build.map(|b| BuildConfig {
        commands: match b.command {
            RawCommands::Single(c) => vec![c],
            RawCommands::Multiple(cs) => cs,
        },
        workdir: b.workdir,
        watch: b.watch,
    });

    Ok(Component {
        id: id.to_owned(),
        source,
        files,
        exclude_files: c.exclude_files,
        environment: c.environment,
        variables,
        allowed_outbound_hosts,
        key_value_stores: c.key_value_stores,
        sqlite_databases: c.sqlite_databases,
        build,
    })
}

/// Spin's conversion of the deprecated `allowed_http_hosts` form.
fn convert_allowed_http_host(host: &str) -> String {
    if host == "insecure:allow-all" {
        "*://*:*".to_owned()
    } else if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    }
}

/// Spin's `KebabId`: lowercase ASCII words of letters and digits joined by
/// single dashes, starting with a letter.
pub fn validate_component_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.ends_with('-')
        && !id.contains("--");
    if ok {
        Ok(())
    } else {
        bail!(
            "invalid component id {id:?}: ids must be kebab-case (lowercase letters, digits and single dashes, starting with a letter)"
        )
    }
}

fn is_kebab_or_snake(label: &str) -> bool {
    let word_ok = |sep: u8| {
        !label.is_empty()
            && label.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == sep)
            && !label.ends_with(sep as char)
            && !label.contains(&format!("{0}{0}", sep as char))
    };
    word_ok(b'-') || word_ok(b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> anyhow::Result<App> {
        parse(text, Path::new("/app/spin.toml"), Path::new("/app"))
    }

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[application.trigger.http]
base = "/"
[variables]
portal_name = { default = "Portal" }
token = { required = true, secret = true }
relay = { default = "https://relay.example.com" }
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.http]]
route = "/api/..."
component = "api"
[[trigger.http]]
route = { private = true }
component = "worker"
[component.web]
source = "target/web.wasm"
files = [{ source = "static", destination = "/" }, "assets/*.css"]
[component.web.variables]
title = "Welcome to {{ portal_name }}!"
[component.web.build]
command = "cargo build"
watch = ["src/**/*.rs"]
[component.api]
source = "api.wasm"
key_value_stores = ["default"]
sqlite_databases = ["default", "audit_log"]
allowed_outbound_hosts = ["{{ relay }}", "http://worker.spin.internal"]
[component.api.build]
command = ["echo one", "echo two"]
workdir = "api"
[component.worker]
source = "/abs/worker.wasm"
"#;

    #[test]
    fn parses_a_full_manifest() -> anyhow::Result<()> {
        let app = load_str(GOOD)?;
        assert_eq!(app.name, "demo");
        assert_eq!(app.base, "/");
        assert_eq!(app.triggers.len(), 3);
        assert_eq!(app.triggers[2].route, TriggerRoute::Private);
        let web = &app.components["web"];
        assert_eq!(web.source, PathBuf::from("/app/target/web.wasm"));
        assert_eq!(
            web.files,
            vec![
                FilesMount::Placement {
                    source: "static".into(),
                    destination: "/".into()
                },
                FilesMount::Pattern("assets/*.css".into())
            ]
        );
        assert_eq!(
            web.variables["title"].variable_names().collect::<Vec<_>>(),
            ["portal_name"]
        );
        let api = &app.components["api"];
        assert_eq!(api.sqlite_databases, ["default", "audit_log"]);
        assert_eq!(
            api.build.as_ref().map(|b| b.commands.clone()),
            Some(vec!["echo one".to_owned(), "echo two".to_owned()])
        );
        assert_eq!(
            app.components["worker"].source,
            PathBuf::from("/abs/worker.wasm")
        );
        assert!(app.variables["token"].required && app.variables["token"].secret);
        assert!(!app.variables["portal_name"].required);
        Ok(())
    }

    fn err(text: &str) -> String {
        match load_str(text) {
            Ok(_) => panic!("expected an error"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn broken_toml_reports_the_line() {
        let e = err("spin_manifest_version = 2\n[application\nname = 1\n");
        assert!(e.contains("not valid TOML"), "{e}");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn wrong_version_is_rejected() {
        assert!(err("spin_manifest_version = 3\n").contains("unsupported spin_manifest_version"));
        assert!(err("spin_version = \"1\"\n").contains("manifest version 1"));
        assert!(err("[application]\nname='x'\n").contains("missing spin_manifest_version"));
    }

    #[test]
    fn unknown_component_in_trigger_is_rejected() {
        let e = err(&GOOD.replace("component = \"api\"", "component = \"nope\""));
        assert!(e.contains("\"nope\", which is not defined"), "{e}");
    }

    #[test]
    fn duplicate_routes_are_rejected() {
        let e = err(&GOOD.replace("route = \"/api/...\"", "route = \"/...\""));
        assert!(e.contains("duplicate route \"/...\""), "{e}");
    }

    #[test]
    fn inline_component_is_rejected_clearly() {
        let e = err(&GOOD.replace("component = \"api\"", "component = { source = \"x.wasm\" }"));
        assert!(e.contains("inline"), "{e}");
    }

    #[test]
    fn unknown_fields_and_bad_ids_are_rejected() {
        let e = err(&GOOD.replace("source = \"api.wasm\"", "source = \"api.wasm\"\nfoo = 1"));
        assert!(e.contains("unknown field `foo`"), "{e}");
        let e = err(&GOOD.replace("[component.worker]", "[component.Worker]"));
        assert!(e.contains("kebab-case"), "{e}");
    }

    #[test]
    fn templates_must_name_declared_variables() {
        let e = err(&GOOD.replace("{{ portal_name }}!", "{{ nope }}"));
        assert!(e.contains("not declared"), "{e}");
        let e = err(&GOOD.replace("\"{{ relay }}\"", "\"{{ relay\""));
        assert!(e.contains("unmatched"), "{e}");
    }

    #[test]
    fn required_with_default_is_rejected() {
        let e = err(&GOOD.replace(
            "token = { required = true, secret = true }",
            "token = { required = true, default = \"x\" }",
        ));
        assert!(e.contains("both required"), "{e}");
    }

    #[test]
    fn ids_and_labels() {
        assert!(validate_component_id("a-b2").is_ok());
        for bad in ["", "A", "1a", "a--b", "a-", "a_b"] {
            assert!(validate_component_id(bad).is_err(), "{bad}");
        }
        assert!(is_kebab_or_snake("audit_log") && is_kebab_or_snake("audit-log"));
        assert!(!is_kebab_or_snake("b@d") && !is_kebab_or_snake("camelCase"));
    }
}
