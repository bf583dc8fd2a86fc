//! Spin variables: `{{ name }}` templates, the environment provider
//! (`SPIN_VARIABLE_<UPPER_NAME>`), and `fermyon:spin/variables@2.0.0`.
//!
//! App variables are resolved once at start-up, as Spin's env provider sees a
//! fixed environment; a required variable without a value stops start-up
//! (Spin fails the same way). Component variables are templates over app
//! variables; `get` only answers names the component declared, with Spin's
//! error variants (`invalid-name` for a malformed name, `undefined` otherwise).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::bail;

use crate::bindings::fermyon::spin::variables;
use crate::engine::HostState;
use crate::manifest::App;
pub use crate::template::{Template, validate_key};

/// Where `SPIN_VARIABLE_*` values come from: the process environment (plus a
/// `.env` file in the working directory, as Spin reads), or an explicit map so
/// tests running in parallel do not race on the process environment.
pub enum EnvSource {
    Process,
    Map(HashMap<String, String>),
}

impl EnvSource {
    fn get(&self, key: &str, dotenv: &HashMap<String, String>) -> Option<String> {
        match self {
            EnvSource::Process => std::env::var(key).ok().or_else(|| dotenv.get(key).cloned()),
            EnvSource::Map(m) => m.get(key).cloned(),
        }
    }
}

fn load_dotenv() -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(".env") else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (k, v) = line.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// Resolved app variables and each component's resolved variables.
#[derive(Debug, Default)]
pub struct Resolved {
    /// App variable name -> value.
    pub app: HashMap<String, String>,
    /// Component id -> (component variable name -> value).
    pub components: HashMap<String, Arc<HashMap<String, String>>>,
}

/// Resolves every app variable (env override, else default) and every
/// component variable template. Fails listing all required variables that
/// have no value.
pub fn resolve(app: &App, env: &EnvSource) -> anyhow::Result<Resolved> {
    resolve_with(app, env, &HashMap::new())
}

/// Like [`resolve`], with `spin up --variable` values, which win over the
/// environment as on Spin (its static provider comes first). Names are the
/// app's variable names (`portal_name`, not `PORTAL_NAME`).
pub fn resolve_with(
    app: &App,
    env: &EnvSource,
    cli: &HashMap<String, String>,
) -> anyhow::Result<Resolved> {
    let dotenv = match env {
        EnvSource::Process => load_dotenv(),
        EnvSource::Map(_) => HashMap::new(),
    };
    let mut values = HashMap::new();
    let mut missing = Vec::new();
    for (name, var) in &app.variables {
        let env_key = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
        let value = cli
            .get(name)
            .cloned()
            .or_else(|| env.get(&env_key, &dotenv))
            .or_else(|| var.default.clone());
        match value {
            Some(v) => {
                values.insert(name.clone(), v);
            }
            None => missing.push(format!("{name} (set {env_key} or --variable {name}=...)")),
        }
    }
    if !missing.is_empty() {
        bail!("required variable(s) have no value: {}", missing.join(", "));
    }
    let mut components = HashMap::new();
    for (id, c) in &app.components {
        let mut vars = HashMap::new();
        for (name, template) in &c.variables {
            let value = template
                .render(&values)
                .map_err(|e| anyhow::anyhow!("component {id:?} variable {name:?}: {e}"))?;
            vars.insert(name.clone(), value);
        }
        components.insert(id.clone(), Arc::new(vars));
    }
    Ok(Resolved {
        app: values,
        components,
    })
}

/// Parses one `--variable` argument as Spin does: `key=value`, `key=@file`
/// (the file's text is the value), or `@file.json` / `@file.toml` (a map of
/// names to string values).
pub fn parse_variable_arg(arg: &str) -> anyhow::Result<Vec<(String, String)>> {
    if let Some(path) = arg.strip_prefix('@') {
        let path = std::path::Path::new(path);
        let text = || {
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("--variable: cannot read {}: {e}", path.display()))
        };
        let map: std::collections::BTreeMap<String, String> =
            match path.extension().and_then(|e| e.to_str()) {
                Some("json") => serde_json::from_str(&text()?).map_err(|e| {
                    anyhow::anyhow!(
                        "--variable: {} is not a JSON map of strings: {e}",
                        path.display()
                    )
                })?,
                Some("toml") => toml::from_str(&text()?).map_err(|e| {
                    anyhow::anyhow!(
                        "--variable: {} is not a TOML table of strings: {e}",
                        path.display()
                    )
                })?,
                _ => bail!(
                    "--variable @{}: variable files must end in .json or .toml",
                    path.display()
                ),
            };
        return Ok(map.into_iter().collect());
    }
    match arg.split_once('=') {
        Some((key, value)) => match value.strip_prefix('@') {
            Some(file) => {
                let value = std::fs::read_to_string(file)
                    .map_err(|e| anyhow::anyhow!("--variable {key}: cannot read {file}: {e}"))?;
                Ok(vec![(key.to_owned(), value)])
            }
            None => Ok(vec![(key.to_owned(), value.to_owned())]),
        },
        None => bail!("--variable {arg:?}: variables must be in the form 'key=value' or '@file'"),
    }
}

/// Resolves the templates in a component's `allowed_outbound_hosts`.
pub fn resolve_list(
    entries: &[String],
    app_values: &HashMap<String, String>,
) -> anyhow::Result<Vec<String>> {
    entries
        .iter()
        .map(|e| {
            Template::parse(e)
                .and_then(|t| t.render(app_values))
                .map_err(|err| anyhow::anyhow!("{e:?}: {err}"))
        })
        .collect()
}

/// Per-instance state for `fermyon:spin/variables`.
pub struct VariablesState {
    pub component_id: Arc<str>,
    pub values: Arc<HashMap<String, String>>,
}

impl VariablesState {
    fn get(&self, name: &str) -> Result<String, variables::Error> {
        validate_key(name).map_err(|e| variables::Error::InvalidName(format!("{name:?}: {e}")))?;
        self.values.get(name).cloned().ok_or_else(|| {
            variables::Error::Undefined(format!("no variable for {:?}.{name:?}", self.component_id))
        })
    }
}

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.variables.get(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn app() -> App {
        crate::manifest::parse(
            r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
greeting = { default = "hello" }
secret_token = { required = true, secret = true }
host = { default = "example.com" }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "c.wasm"
allowed_outbound_hosts = ["https://{{ host }}"]
[component.c.variables]
message = "{{ greeting }}, world"
token = "{{ secret_token }}"
"#,
            Path::new("/x/spin.toml"),
            Path::new("/x"),
        )
        .expect("manifest")
    }

    #[test]
    fn env_overrides_defaults_and_required_must_be_set() {
        let app = app();
        let e = resolve(&app, &EnvSource::Map(HashMap::new())).expect_err("required");
        assert!(e.to_string().contains("SPIN_VARIABLE_SECRET_TOKEN"), "{e}");

        let env = EnvSource::Map(
            [
                ("SPIN_VARIABLE_SECRET_TOKEN", "s3cr3t"),
                ("SPIN_VARIABLE_GREETING", "hi"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let r = resolve(&app, &env).expect("resolve");
        assert_eq!(r.components["c"]["message"], "hi, world");
        assert_eq!(r.components["c"]["token"], "s3cr3t");
        let hosts =
            resolve_list(&app.components["c"].allowed_outbound_hosts, &r.app).expect("hosts");
        assert_eq!(hosts, ["https://example.com"]);
    }

    #[test]
    fn cli_variables_win_over_the_environment() {
        let app = app();
        let env = EnvSource::Map(
            [
                ("SPIN_VARIABLE_SECRET_TOKEN", "env"),
                ("SPIN_VARIABLE_GREETING", "env-hi"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let cli: HashMap<String, String> = [("greeting".to_owned(), "cli-hi".to_owned())]
            .into_iter()
            .collect();
        let r = resolve_with(&app, &env, &cli).expect("resolve");
        assert_eq!(r.components["c"]["message"], "cli-hi, world");
        assert_eq!(r.components["c"]["token"], "env");
        // A required variable may come from --variable alone.
        let cli: HashMap<String, String> = [("secret_token".to_owned(), "c".to_owned())]
            .into_iter()
            .collect();
        let r = resolve_with(&app, &EnvSource::Map(HashMap::new()), &cli).expect("resolve");
        assert_eq!(r.components["c"]["token"], "c");
    }

    #[test]
    fn variable_args_parse_like_spin() -> anyhow::Result<()> {
        assert_eq!(
            parse_variable_arg("k=v=w")?,
            [("k".to_owned(), "v=w".to_owned())]
        );
        assert_eq!(parse_variable_arg("k=")?, [("k".to_owned(), String::new())]);
        let dir = tempfile::tempdir()?;
        let txt = dir.path().join("v.txt");
        std::fs::write(&txt, "from file")?;
        assert_eq!(
            parse_variable_arg(&format!("k=@{}", txt.display()))?,
            [("k".to_owned(), "from file".to_owned())]
        );
        let json = dir.path().join("v.json");
        std::fs::write(&json, r#"{"a": "1", "b": "2"}"#)?;
        assert_eq!(
            parse_variable_arg(&format!("@{}", json.display()))?,
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
        let toml_file = dir.path().join("v.toml");
        std::fs::write(&toml_file, "a = \"x\"\n")?;
        assert_eq!(
            parse_variable_arg(&format!("@{}", toml_file.display()))?,
            [("a".to_owned(), "x".to_owned())]
        );
        for bad in ["nope", "@whatami", "@wrong.kind"] {
            assert!(parse_variable_arg(bad).is_err(), "{bad}");
        }
        assert!(parse_variable_arg("k=@/definitely/not/here").is_err());
        Ok(())
    }

    #[test]
    fn get_answers_like_spin() {
        let state = VariablesState {
            component_id: "c".into(),
            values: Arc::new(
                [("message".to_owned(), "m".to_owned())]
                    .into_iter()
                    .collect(),
            ),
        };
        assert!(matches!(state.get("message"), Ok(v) if v == "m"));
        assert!(matches!(
            state.get("Bad-Name"),
            Err(variables::Error::InvalidName(_))
        ));
        assert!(matches!(
            state.get("missing"),
            Err(variables::Error::Undefined(_))
        ));
    }
}
