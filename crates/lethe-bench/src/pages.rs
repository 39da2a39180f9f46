//! The pages at scale (issue 16): how long `lethe serve` takes to answer the pages a person
//! opens on a large data set — the contacts page (the first page, a page deep in the keyset,
//! a page sorted by an indexed column), the live count of the stale-prospects filter, the
//! preview of a bulk trash, and the recycle bin — timed end to end over HTTP on loopback, each
//! against the hand-written SQL that answers the same question, as a ratio in one run.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

use crate::{CASES, HandPool, median, years_ago};

/// The user the benchmark signs in as.
const USER: &str = "bench-pages";
const PASSWORD: &str = "the benchmark's own passphrase";

#[derive(Debug, clap::Args)]
pub struct PagesArgs {
    /// A database built by `lethe demo` (a SQLite path or a postgres:// URL).
    #[arg(long)]
    db: String,
    /// Timed requests of each page, and runs of each hand-written query; medians reported.
    #[arg(long, default_value_t = 10)]
    repeat: usize,
    /// The `lethe` binary (default: the one next to this benchmark).
    #[arg(long)]
    lethe: Option<PathBuf>,
    /// The filter whose members the preview freezes (about 300,000 of 1,000,000 contacts).
    #[arg(
        long,
        default_value = r#"category = "prospect" and legal_basis != "consent""#
    )]
    preview_filter: String,
    /// How many deletion batches the recycle bin should hold: single contacts are trashed
    /// (before anything is timed) until it does.
    #[arg(long, default_value_t = 1_000)]
    batches: u64,
}

/// Trashes single contacts, the newest first, until `wanted` deletion batches are in the
/// trash: the recycle bin's size for its benchmark. Set-up, not timed.
async fn ensure_batches(db: &str, wanted: u64) -> anyhow::Result<()> {
    let url = lethe_store::DatabaseUrl::parse(db)?;
    let options = crate::options(&url, lethe_store::Clock::system());
    let store =
        lethe_store::Store::open(&url, lethe_schema::Schema::default_crm(), &options).await?;
    let hand = HandPool::open(&url).await?;
    let in_trash = "SELECT COUNT(*) FROM lethe_deletion_batch WHERE state IN ('trashing', 'trashed', 'purge_pending', 'held')";
    let have: i64 = match &hand {
        HandPool::Sqlite(pool) => sqlx::query(in_trash).fetch_one(pool).await?.try_get(0)?,
        HandPool::Postgres(pool) => sqlx::query(in_trash).fetch_one(pool).await?.try_get(0)?,
    };
    let missing = wanted.saturating_sub(u64::try_from(have)?);
    if missing == 0 {
        return Ok(());
    }
    eprintln!("trashing {missing} single contacts, so that the recycle bin holds {wanted} batches");
    let everything = store.parse_filter("contact", "")?;
    let newest = lethe_store::ListQuery {
        sort: None,
        order: lethe_store::SortOrder::Desc,
        limit: Some(u32::try_from(missing)?),
        cursor: None,
    };
    let runner = lethe_store::JobRunner::default();
    let operator = lethe_store::Actor::operator();
    let page = store
        .select_page(&everything, lethe_store::Scope::Active, &newest)
        .await?;
    for record in page.records {
        let pick = lethe_store::MemberPick {
            entity: "contact".to_owned(),
            source: lethe_store::PickSource::Filter(everything.clone()),
            all_matching: false,
            include: vec![record.id],
            exclude: Vec::new(),
            scope: lethe_store::Scope::Active,
        };
        let snapshot = store
            .create_snapshot(&pick, "benchmark set-up", None)
            .await?;
        let job = store
            .start_trash(snapshot.id, Some("benchmark set-up"), &operator, None)
            .await?;
        store.run_job(job.id, &runner, &mut |_| {}).await?;
    }
    store.close().await;
    Ok(())
}

/// `lethe serve` on a free port, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lethe_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    let here = std::env::current_exe()?;
    Ok(here.with_file_name("lethe"))
}

/// Gives the benchmark's user a password (adding the user the first time).
fn prepare_user(lethe: &PathBuf, db: &str) -> anyhow::Result<()> {
    let run = |args: &[&str]| -> anyhow::Result<bool> {
        let mut child = Command::new(lethe)
            .args(["--db", db])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("running lethe")?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(format!("{PASSWORD}\n").as_bytes())?;
        Ok(child.wait()?.success())
    };
    if !run(&["user", "passwd", USER])? {
        anyhow::ensure!(
            run(&["user", "add", USER, "--role", "admin", "--password-stdin"])?,
            "could not add the benchmark's user"
        );
    }
    Ok(())
}

fn start_server(lethe: &PathBuf, db: &str) -> anyhow::Result<Server> {
    let mut child = Command::new(lethe)
        .args(["--db", db, "serve", "--listen", "127.0.0.1:0", "--json"])
        .env("MALLOC_ARENA_MAX", crate::MALLOC_ARENA_MAX)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting lethe serve")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let announced: serde_json::Value =
        serde_json::from_str(&line).context("lethe serve did not announce its URL")?;
    let url = announced["url"]
        .as_str()
        .context("no url in the announcement")?
        .to_owned();
    Ok(Server { child, url })
}

/// A signed-in browser's requests: the session cookie, no redirects followed.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    async fn sign_in(base: &str) -> anyhow::Result<Browser> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let page = http.get(format!("{base}/sign-in")).send().await?;
        let cookie = first_cookie(&page)?;
        let html = page.text().await?;
        let token = field_value(&html, "form_token")?;
        let answer = http
            .post(format!("{base}/sign-in"))
            .header("cookie", &cookie)
            .form(&[
                ("form_token", token.as_str()),
                ("name", USER),
                ("password", PASSWORD),
            ])
            .send()
            .await?;
        anyhow::ensure!(
            answer.status() == 303,
            "signing in failed: {}",
            answer.status()
        );
        Ok(Browser {
            http,
            base: base.to_owned(),
            cookie: first_cookie(&answer)?,
        })
    }

    /// Fetches `path` and reads the whole page; answers its body and how long it took.
    async fn get(&self, path: &str) -> anyhow::Result<(String, Duration)> {
        let started = Instant::now();
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await?;
        let status = answer.status();
        let body = answer.text().await?;
        let took = started.elapsed();
        anyhow::ensure!(status == 200, "{path} answered {status}: {body}");
        Ok((body, took))
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<String> {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await?;
        answer
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .with_context(|| format!("{path} did not lead on ({})", answer.status()))
    }
}

fn first_cookie(answer: &reqwest::Response) -> anyhow::Result<String> {
    answer
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned)
        .context("no cookie was set")
}

/// The value of the first input named `name` on a page.
fn field_value(html: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).context("no such field")? + marker.len();
    Ok(html[at..].split('"').next().unwrap_or_default().to_owned())
}

/// The median time of `repeat` requests of `path`.
async fn time_page(browser: &Browser, path: &str, repeat: usize) -> anyhow::Result<Duration> {
    browser.get(path).await?;
    let mut times = Vec::new();
    for _ in 0..repeat.max(1) {
        times.push(browser.get(path).await?.1);
    }
    Ok(median(times))
}

/// The median time of `repeat` runs of the hand-written statements, one after the other.
async fn time_hand(
    hand: &HandPool,
    statements: &[String],
    repeat: usize,
) -> anyhow::Result<Duration> {
    let run = || async {
        for sql in statements {
            match hand {
                HandPool::Sqlite(pool) => {
                    sqlx::query(AssertSqlSafe(sql.as_str()))
                        .fetch_all(pool)
                        .await?;
                }
                HandPool::Postgres(pool) => {
                    sqlx::query(AssertSqlSafe(sql.as_str()))
                        .fetch_all(pool)
                        .await?;
                }
            }
        }
        anyhow::Ok(())
    };
    run().await?;
    let mut times = Vec::new();
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        run().await?;
        times.push(started.elapsed());
    }
    Ok(median(times))
}

/// The columns the contacts page reads: the record's built-in columns and the contact's own.
const CONTACT_COLUMNS: &str = "id, created_at, created_by, updated_at, trash_batch_id, company_id, first_name, last_name, email, phone, job_title, address, category, legal_basis, custom";

/// The cascade children of a contact and of a ticket, and what restricts deleting a
/// contact, in the built-in schema (as the lifecycle benchmark's hand-written SQL has them).
const CONTACT_CHILDREN: [&str; 6] = [
    "consent",
    "activity",
    "note",
    "message",
    "ticket",
    "campaign_membership",
];
const TICKET_CHILDREN: [&str; 2] = ["ticket_comment", "survey_rating"];
const RESTRICTS: [&str; 4] = ["deal", "project", "invoice", "time_entry"];

/// The preview of trashing a snapshot's contacts, by hand: members, blocked members, and
/// every cascaded child per type.
fn preview_statements(snapshot: i64) -> Vec<String> {
    let members =
        format!("SELECT record_id FROM lethe_snapshot_member WHERE snapshot_id = {snapshot}");
    let blocked: Vec<String> = RESTRICTS
        .iter()
        .map(|table| format!("EXISTS (SELECT 1 FROM {table} x WHERE x.contact_id = c.id AND x.trash_batch_id IS NULL)"))
        .collect();
    let free = format!(
        "SELECT c.id FROM contact c WHERE c.trash_batch_id IS NULL AND c.id IN ({members}) AND NOT ({})",
        blocked.join(" OR ")
    );
    let mut statements = vec![
        format!(
            "SELECT COUNT(*) FROM contact c WHERE c.trash_batch_id IS NULL AND c.id IN ({members}) AND ({})",
            blocked.join(" OR ")
        ),
        format!("SELECT COUNT(*) FROM ({free}) t"),
    ];
    for table in CONTACT_CHILDREN {
        statements.push(format!(
            "SELECT COUNT(*) FROM {table} WHERE trash_batch_id IS NULL AND contact_id IN ({free})"
        ));
    }
    let tickets =
        format!("SELECT id FROM ticket WHERE trash_batch_id IS NULL AND contact_id IN ({free})");
    for table in TICKET_CHILDREN {
        statements.push(format!(
            "SELECT COUNT(*) FROM {table} WHERE trash_batch_id IS NULL AND ticket_id IN ({tickets})"
        ));
    }
    statements.push(format!(
        "SELECT COUNT(*) FROM attachment WHERE trash_batch_id IS NULL AND ((owner_entity = 'contact' AND owner_id IN ({free})) OR (owner_entity = 'ticket' AND owner_id IN ({tickets})))"
    ));
    statements
}

fn row(question: &str, lethe: Duration, hand: Duration) {
    println!(
        "| {question} | {:.1} | {:.1} | {:.2} |",
        lethe.as_secs_f64() * 1000.0,
        hand.as_secs_f64() * 1000.0,
        lethe.as_secs_f64() / hand.as_secs_f64()
    );
}

pub async fn run(args: PagesArgs) -> anyhow::Result<()> {
    let lethe = lethe_binary(args.lethe.clone())?;
    ensure_batches(&args.db, args.batches).await?;
    prepare_user(&lethe, &args.db)?;
    let server = start_server(&lethe, &args.db)?;
    let browser = Browser::sign_in(&server.url).await?;
    let url = lethe_store::DatabaseUrl::parse(&args.db)?;
    let hand = HandPool::open(&url).await?;
    let repeat = args.repeat;
    println!("| page | Lethe, server (ms) | hand SQL (ms) | ratio |");
    println!("|---|---:|---:|---:|");

    // The contacts page: the first page, and a page deep in the keyset.
    let first = time_page(&browser, "/records/contact", repeat).await?;
    let page = format!("SELECT {CONTACT_COLUMNS} FROM contact WHERE trash_batch_id IS NULL");
    row(
        "contacts, first page (50 rows)",
        first,
        time_hand(&hand, &[format!("{page} ORDER BY id LIMIT 51")], repeat).await?,
    );
    let (html, _) = browser.get("/records/contact").await?;
    let next = html
        .split("rel=\"next\"")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .and_then(|link| link.split('"').next())
        .context("the first page has no next page")?
        .replace("&amp;", "&");
    let cursor = next.split("cursor=").nth(1).context("no cursor")?;
    let max_id: i64 = match &hand {
        HandPool::Sqlite(pool) => sqlx::query("SELECT MAX(id) FROM contact")
            .fetch_one(pool)
            .await?
            .try_get(0)?,
        HandPool::Postgres(pool) => sqlx::query("SELECT MAX(id) FROM contact")
            .fetch_one(pool)
            .await?
            .try_get(0)?,
    };
    let deep_id = max_id * 9 / 10;
    let deep_cursor = deep(cursor, deep_id)?;
    row(
        "contacts, a page 90 % deep in the keyset",
        time_page(
            &browser,
            &format!("/records/contact?cursor={deep_cursor}"),
            repeat,
        )
        .await?,
        time_hand(
            &hand,
            &[format!("{page} AND id > {deep_id} ORDER BY id LIMIT 51")],
            repeat,
        )
        .await?,
    );
    row(
        "contacts sorted by last_name (indexed), first page",
        time_page(&browser, "/records/contact?sort=last_name", repeat).await?,
        time_hand(
            &hand,
            &[format!("{page} ORDER BY last_name, id LIMIT 51")],
            repeat,
        )
        .await?,
    );

    // The live count of the stale prospects, against the fastest hand-written variant.
    let stale = &CASES[0];
    let filter = serde_json::json!(stale.filter);
    let query = format!(
        "/records/contact/count?filter={}",
        urlencode(filter.as_str().unwrap_or_default())
    );
    let now = OffsetDateTime::now_utc();
    let (three, two) = (years_ago(now, 3), years_ago(now, 2));
    let mut best = None::<Duration>;
    for sql in hand.variants(stale) {
        hand.count(sql, three, two).await?;
        let mut times = Vec::new();
        for _ in 0..repeat.clamp(1, 5) {
            let started = Instant::now();
            hand.count(sql, three, two).await?;
            times.push(started.elapsed());
        }
        let time = median(times);
        eprintln!(
            "  live count: hand-written variant took {:.0} ms",
            time.as_secs_f64() * 1000.0
        );
        best = Some(best.map_or(time, |best| best.min(time)));
    }
    row(
        "live count of the stale prospects",
        time_page(&browser, &query, repeat.clamp(1, 5)).await?,
        best.context("no hand-written variant")?,
    );

    // The preview of trashing the contacts the preview filter picks.
    let (records, _) = browser.get("/records/contact").await?;
    let token = field_value(&records, "form_token")?;
    let location = browser
        .post(
            "/records/contact/bulk",
            &[
                ("form_token", token.as_str()),
                ("filter", args.preview_filter.as_str()),
                ("all_matching", "1"),
                ("action", "trash"),
            ],
        )
        .await?;
    let snapshot: i64 = location
        .trim_start_matches("/snapshots/")
        .trim_end_matches("/trash")
        .parse()
        .with_context(|| format!("no snapshot in {location}"))?;
    let (preview, _) = browser.get(&location).await?;
    let members = preview
        .split("From ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("?")
        .to_owned();
    row(
        &format!("preview of trashing {members} contacts"),
        time_page(&browser, &location, repeat.clamp(1, 3)).await?,
        time_hand(&hand, &preview_statements(snapshot), repeat.clamp(1, 3)).await?,
    );

    // The recycle bin.
    let batches: i64 = match &hand {
        HandPool::Sqlite(pool) => sqlx::query("SELECT COUNT(*) FROM lethe_deletion_batch")
            .fetch_one(pool)
            .await?
            .try_get(0)?,
        HandPool::Postgres(pool) => sqlx::query("SELECT COUNT(*) FROM lethe_deletion_batch")
            .fetch_one(pool)
            .await?
            .try_get(0)?,
    };
    let bin = "SELECT b.id, b.created_at, b.reason, b.state, u.name FROM lethe_deletion_batch b LEFT JOIN lethe_user u ON u.id = b.created_by \
               WHERE b.state IN ('trashing', 'trashed', 'purge_pending', 'held') ORDER BY b.id DESC LIMIT 51";
    row(
        &format!("recycle bin, first page ({batches} batches)"),
        time_page(&browser, "/recycle-bin", repeat).await?,
        time_hand(&hand, &[bin.to_owned()], repeat).await?,
    );
    drop(server);
    Ok(())
}

/// The cursor of the first page, moved to `id` (it holds the sort value and the id of the
/// last row seen, as JSON, base64url).
fn deep(cursor: &str, id: i64) -> anyhow::Result<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .context("the cursor is not base64url")?;
    let mut json: serde_json::Value = serde_json::from_slice(&bytes)?;
    json["id"] = id.into();
    json["value"] = id.into();
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json)?))
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
