//! The demo workspace on disk: three git repositories of the sample service,
//! the pipeline scripts, the deploy targets, tokens and a ferry.toml that
//! ties them together. Everything is embedded in the binary so `ferry demo`
//! works from any directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use sha2::{Digest, Sha256};

/// Marks a directory as a demo workspace, so `--dir` may wipe it next time.
pub const MARKER: &str = ".ferry-demo";

/// The sample services, in the order the dashboard shows them.
pub const SERVICES: [&str; 3] = ["web", "api", "billing"];

/// Who commits in the demo repositories (and must not approve their own work).
pub const DEV_NAME: &str = "dev";
pub const DEV_EMAIL: &str = "dev@demo.ferry.invalid";

/// The version every repository starts at.
pub const FIRST_VERSION: &str = "1.0.0";

/// Files of the sample service, as committed to each repository.
const APP_FILES: &[(&str, &str)] = &[
    ("app.sh", include_str!("../../assets/demo/app/app.sh")),
    ("build.sh", include_str!("../../assets/demo/app/build.sh")),
    (
        ".gitignore",
        include_str!("../../assets/demo/app/gitignore"),
    ),
    (
        "tests/junit.sh",
        include_str!("../../assets/demo/app/tests/junit.sh"),
    ),
    (
        "tests/unit.sh",
        include_str!("../../assets/demo/app/tests/unit.sh"),
    ),
    (
        "tests/integration.sh",
        include_str!("../../assets/demo/app/tests/integration.sh"),
    ),
    (
        "tests/performance.sh",
        include_str!("../../assets/demo/app/tests/performance.sh"),
    ),
    (
        "tests/uat.sh",
        include_str!("../../assets/demo/app/tests/uat.sh"),
    ),
];

/// The scripts the pipeline's steps run, under `<workspace>/pipeline/`.
const PIPELINE_FILES: &[(&str, &str)] = &[
    (
        "common.sh",
        include_str!("../../assets/demo/pipeline/common.sh"),
    ),
    (
        "deploy.sh",
        include_str!("../../assets/demo/pipeline/deploy.sh"),
    ),
    (
        "verify.sh",
        include_str!("../../assets/demo/pipeline/verify.sh"),
    ),
    (
        "health.sh",
        include_str!("../../assets/demo/pipeline/health.sh"),
    ),
    (
        "notify.sh",
        include_str!("../../assets/demo/pipeline/notify.sh"),
    ),
];

/// What a person finds when they open the workspace.
const WORKSPACE_README: &str = include_str!("../../assets/demo/WORKSPACE.txt");

const CONFIG_TEMPLATE: &str = include_str!("../../assets/demo/ferry.toml");
const SERVICE_TEMPLATE: &str = include_str!("../../assets/demo/service.toml");
/// The preprod override of the service whose user acceptance is a sign-off.
const UAT_TEMPLATE: &str = include_str!("../../assets/demo/uat.toml");

/// The service whose preprod waits for a UAT sign-off by a person (qa):
/// the release bot signs in `--headless`, the operator in the console.
pub const UAT_SERVICE: &str = "api";

/// The bearer tokens of the demo's three users (only their hashes are in the config).
#[derive(Clone)]
pub struct Tokens {
    pub dev: String,
    pub operator: String,
    pub release_bot: String,
}

// Tokens are secrets: keep them out of debug output and logs.
impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens { .. }")
    }
}

impl Tokens {
    pub fn generate() -> Self {
        Tokens {
            dev: new_token(),
            operator: new_token(),
            release_bot: new_token(),
        }
    }
}

/// 32 random bytes from the thread's CSPRNG, hex-encoded.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A laid-out workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub tokens: Tokens,
}

impl Workspace {
    pub fn repo(&self, service: &str) -> PathBuf {
        self.root.join("repos").join(service)
    }
    /// The `current` symlink of a service's stage.
    pub fn current_link(&self, service: &str, stage: &str) -> PathBuf {
        self.root
            .join("targets")
            .join(service)
            .join(stage)
            .join("current")
    }
    pub fn release_dir(&self, service: &str, stage: &str, version: &str) -> PathBuf {
        self.root
            .join("targets")
            .join(service)
            .join(stage)
            .join("releases")
            .join(version)
    }
    pub fn notifications_log(&self) -> PathBuf {
        self.root.join("notifications.log")
    }
}

/// Choose the workspace directory: `dir` when it is empty or missing, or
/// holds a previous demo (wiped); otherwise a fresh directory under the
/// system's temporary directory.
pub fn prepare_dir(dir: Option<&Path>) -> Result<PathBuf> {
    let Some(dir) = dir else {
        return fresh_temp_dir();
    };
    if dir.exists() {
        if !dir.is_dir() {
            bail!(
                "cannot use {} as the demo workspace: it is not a directory; hint: pass --dir with a new or empty directory",
                dir.display()
            );
        }
        let mut entries = fs::read_dir(dir)
            .wrap_err_with(|| format!("cannot read the demo directory {}", dir.display()))?;
        if entries.next().is_some() {
            if !dir.join(MARKER).is_file() {
                bail!(
                    "refusing to use {} as the demo workspace: it is not empty and holds no previous demo ({MARKER} is missing); hint: pass --dir with a new or empty directory",
                    dir.display()
                );
            }
            // A previous demo: start from scratch so its old event log and
            // targets cannot mix with the new story.
            fs::remove_dir_all(dir)
                .wrap_err_with(|| format!("cannot wipe the previous demo in {}", dir.display()))?;
        }
    }
    fs::create_dir_all(dir)
        .wrap_err_with(|| format!("cannot create the demo directory {}", dir.display()))?;
    Ok(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()))
}

fn fresh_temp_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let dir = base.join(format!("ferry-demo-{}", &new_token()[..8]));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir.canonicalize().unwrap_or(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).wrap_err_with(|| {
                    format!("cannot create a demo directory under {}", base.display())
                });
            }
        }
    }
    Err(eyre!(
        "cannot create a demo directory under {}: every name tried exists; hint: pass --dir",
        base.display()
    ))
}

/// Lay out the workspace in `root` (an empty directory): repositories with
/// one initial commit each, pipeline scripts, targets and ferry.toml.
pub fn lay_out(root: &Path, speed: f64) -> Result<Workspace> {
    fs::write(
        root.join(MARKER),
        "A `ferry demo` workspace: `ferry demo --dir` may wipe this directory.\n",
    )
    .wrap_err_with(|| format!("cannot write the demo marker in {}", root.display()))?;
    for dir in ["repos", "targets", "data", "pipeline"] {
        fs::create_dir_all(root.join(dir))
            .wrap_err_with(|| format!("cannot create {}/{dir}", root.display()))?;
    }
    for (name, text) in PIPELINE_FILES {
        write_file(&root.join("pipeline").join(name), text, true)?;
    }
    fs::write(root.join("README.txt"), WORKSPACE_README)
        .wrap_err("cannot write README.txt in the demo workspace")?;
    fs::write(root.join("notifications.log"), "")
        .wrap_err("cannot create notifications.log in the demo workspace")?;

    let tokens = Tokens::generate();
    for service in SERVICES {
        init_repo(&root.join("repos").join(service), service)?;
    }
    let config_path = root.join("ferry.toml");
    fs::write(&config_path, render_config(root, speed, &tokens))
        .wrap_err_with(|| format!("cannot write {}", config_path.display()))?;
    Ok(Workspace {
        root: root.to_path_buf(),
        config_path,
        data_dir: root.join("data"),
        tokens,
    })
}

/// ferry.toml for this workspace. Durations shrink with `speed` so the whole
/// story fits in the time a person watches it.
pub fn render_config(root: &Path, speed: f64, tokens: &Tokens) -> String {
    let scaled = |secs: f64| duration_text(secs / speed);
    let services: String = SERVICES
        .iter()
        .map(|name| {
            let repo = root.join("repos").join(name);
            let service = SERVICE_TEMPLATE
                .replace("{{NAME}}", name)
                .replace("{{REPO}}", &toml_string(&repo.to_string_lossy()))
                .replace("{{POLL_INTERVAL}}", &scaled(1.0))
                .replace("{{SPEED}}", &format!("{speed}"));
            if *name == UAT_SERVICE {
                service + &UAT_TEMPLATE.replace("{{NAME}}", name)
            } else {
                service
            }
        })
        .collect();
    let notify = format!(
        "sh {}",
        shell_quote(&root.join("pipeline").join("notify.sh").to_string_lossy())
    );
    CONFIG_TEMPLATE
        .replace("{{SERVICES}}", &services)
        .replace("{{HEALTH_INTERVAL}}", &scaled(1.0))
        .replace("{{PREPROD_BAKE}}", &scaled(2.0))
        .replace("{{PROD_BAKE}}", &scaled(4.0))
        .replace("{{DEV_TOKEN_SHA256}}", &token_sha256(&tokens.dev))
        .replace("{{OPERATOR_TOKEN_SHA256}}", &token_sha256(&tokens.operator))
        .replace(
            "{{RELEASE_BOT_TOKEN_SHA256}}",
            &token_sha256(&tokens.release_bot),
        )
        .replace("{{NOTIFY_COMMAND}}", &toml_string(&notify))
}

/// A humantime duration in whole milliseconds, never below 20 ms (a busy
/// loop would only burn the 2 cores the steps need).
pub fn duration_text(secs: f64) -> String {
    let ms = (secs * 1000.0).round().max(20.0) as u64;
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A TOML basic string, escaped by the toml crate itself.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Single-quote for sh: the workspace path may hold spaces or quotes.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn write_file(path: &Path, text: &str, executable: bool) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .wrap_err_with(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(path, text).wrap_err_with(|| format!("cannot write {}", path.display()))?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
            .wrap_err_with(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}

fn init_repo(repo: &Path, service: &str) -> Result<()> {
    fs::create_dir_all(repo).wrap_err_with(|| format!("cannot create {}", repo.display()))?;
    for (name, text) in APP_FILES {
        write_file(&repo.join(name), text, name.ends_with(".sh"))?;
    }
    write_file(&repo.join("NAME"), &format!("{service}\n"), false)?;
    write_file(&repo.join("VERSION"), &format!("{FIRST_VERSION}\n"), false)?;
    write_file(
        &repo.join("CHANGELOG.md"),
        &format!("# {service}\n\n## {FIRST_VERSION}\n- First release.\n"),
        false,
    )?;
    git(repo, &["init", "--quiet"])?;
    // Name the branch explicitly: init.defaultBranch differs between machines.
    git(repo, &["symbolic-ref", "HEAD", "refs/heads/main"])?;
    commit_all(repo, &format!("Initial import of {service}"))?;
    Ok(())
}

/// Stage everything and commit as the demo developer; returns the new sha.
pub fn commit_all(repo: &Path, subject: &str) -> Result<String> {
    git(repo, &["add", "--all"])?;
    git(repo, &["commit", "--quiet", "--no-verify", "-m", subject])?;
    Ok(git(repo, &["rev-parse", "HEAD"])?.trim().to_string())
}

/// Run git in `repo` with the demo developer's identity given on the command
/// line, so no global git configuration is needed (nor used for signing).
pub fn git(repo: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", &format!("user.name={DEV_NAME}")])
        .args(["-c", &format!("user.email={DEV_EMAIL}")])
        .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(args)
        .env("GIT_AUTHOR_NAME", DEV_NAME)
        .env("GIT_AUTHOR_EMAIL", DEV_EMAIL)
        .env("GIT_COMMITTER_NAME", DEV_NAME)
        .env("GIT_COMMITTER_EMAIL", DEV_EMAIL)
        .output()
        .wrap_err("cannot run git; hint: the demo needs the `git` binary on PATH")?;
    if !out.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Write `<root>/operator.env` (FERRY_SERVER and FERRY_TOKEN, mode 0600) so
/// `. ws/operator.env && ferry status` works from a second terminal. The
/// token is the operator's throw-away secret of a loopback demo; still, only
/// the owner may read it.
pub fn write_operator_env(root: &Path, server_url: &str, token: &str) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = root.join("operator.env");
    let text = format!(
        "# ferry demo: the operator's server and token. Use: . {}\nexport FERRY_SERVER={}\nexport FERRY_TOKEN={}\n",
        path.display(),
        shell_quote(server_url),
        shell_quote(token)
    );
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    // A file left by an earlier run keeps its mode on open: set it again.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
        .wrap_err_with(|| format!("cannot restrict {}", path.display()))?;
    f.write_all(text.as_bytes())
        .wrap_err_with(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
