//! The datastore plumbing every service shares: one connection pool that speaks SQLite
//! (the embedded default) or PostgreSQL, embedded numbered migrations, and the mapping
//! of database failures to [`rustack_common::Error`].
//!
//! Services write portable SQL: `$1`-style placeholders (SQLite accepts them too),
//! `TEXT` and `BIGINT` columns only (booleans are `BIGINT` 0/1, timestamps are ISO-8601
//! `TEXT`, JSON is `TEXT`), and `ON CONFLICT` for upserts. That subset runs unchanged on
//! SQLite and PostgreSQL and does not block MariaDB later (only the placeholder rewrite
//! would be new there).
//!
//! SQLite is opened with a single connection: writers are serialised in the pool instead
//! of failing with `SQLITE_BUSY`, which SQLite's own locking would otherwise produce for
//! concurrent read-then-write transactions.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use sqlx::any::AnyRow as DbRow;
pub use sqlx::Row as _;

/// Which SQL engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite file (the all-in-one default).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Failures of the datastore layer, with the operation they happened in.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names an engine rustack does not support.
    #[error("unsupported database URL scheme in {url:?} (use sqlite:// or postgres://)")]
    UnsupportedUrl { url: String },
    /// Connecting failed.
    #[error("cannot connect to database {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// Applying a migration failed.
    #[error("migration {version} ({name}) failed")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The database has migrations newer than this binary knows.
    #[error("database schema version {found} is newer than this binary's {known}")]
    TooNew { found: i64, known: i64 },
}

/// One embedded schema migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Strictly increasing version number, starting at 1.
    pub version: i64,
    /// Short name for logs.
    pub name: &'static str,
    /// Portable SQL, statements separated by `;` at line ends.
    pub sql: &'static str,
}

/// A pool of connections to one service's database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    dialect: Dialect,
}

impl Db {
    /// Opens the database at `url` (`sqlite:///abs/path.db`, `sqlite::memory:`,
    /// `postgres://user:pass@host/db`), creating a SQLite file if it does not exist.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(DbError::UnsupportedUrl {
                url: url.to_string(),
            });
        };
        let connect_url = match dialect {
            Dialect::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                if url.contains('?') {
                    format!("{url}&mode=rwc")
                } else {
                    format!("{url}?mode=rwc")
                }
            }
            _ => url.to_string(),
        };
        let mut opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        opts = match dialect {
            Dialect::Sqlite => {
                opts.max_connections(1)
                    .min_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                         PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
            }
            Dialect::Postgres => opts.max_connections(8),
        };
        let pool = opts
            .connect(&connect_url)
            .await
            .map_err(|source| DbError::Connect {
                url: redact_url(url),
                source,
            })?;
        Ok(Db { pool, dialect })
    }

    /// The engine behind this pool.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The underlying sqlx pool, for queries and transactions.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies every migration newer than the database's version, each in its own
    /// transaction, recording it in `schema_migrations`. Idempotent.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<i64, DbError> {
        let mig_err = |m: &Migration| {
            let (version, name) = (m.version, m.name);
            move |source| DbError::Migration {
                version,
                name,
                source,
            }
        };
        let boot = Migration {
            version: 0,
            name: "schema_migrations",
            sql: "",
        };
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
             name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(mig_err(&boot))?;
        let current: i64 =
            sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
                .fetch_one(&self.pool)
                .await
                .and_then(|r| r.try_get::<i64, _>("v"))
                .map_err(mig_err(&boot))?;
        let known = migrations.iter().map(|m| m.version).max().unwrap_or(0);
        if current > known {
            return Err(DbError::TooNew {
                found: current,
                known,
            });
        }
        for m in migrations.iter().filter(|m| m.version > current) {
            let mut tx = self.pool.begin().await.map_err(mig_err(m))?;
            for stmt in split_statements(m.sql) {
                sqlx::query(&stmt)
                    .execute(&mut *tx)
                    .await
                    .map_err(mig_err(m))?;
            }
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(chrono_now())
            .execute(&mut *tx)
            .await
            .map_err(mig_err(m))?;
            tx.commit().await.map_err(mig_err(m))?;
            tracing::info!(
                migration.version = m.version,
                migration.name = m.name,
                "applied migration"
            );
        }
        Ok(known)
    }

    /// The columns of `table` in the live database, sorted, for schema tests.
    pub async fn columns(&self, table: &str) -> Result<Vec<String>, sqlx::Error> {
        let rows = match self.dialect {
            Dialect::Sqlite => {
                sqlx::query("SELECT name FROM pragma_table_info($1) ORDER BY name")
                    .bind(table)
                    .fetch_all(&self.pool)
                    .await?
            }
            Dialect::Postgres => {
                sqlx::query(
                    "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns \
                     WHERE table_name = $1 AND table_schema = current_schema() ORDER BY column_name",
                )
                .bind(table)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| r.try_get::<String, _>("name"))
            .collect()
    }

    /// The user tables of the live database, sorted.
    pub async fn tables(&self) -> Result<Vec<String>, sqlx::Error> {
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Dialect::Postgres => {
                "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() ORDER BY table_name"
            }
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("name"))
            .collect()
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn chrono_now() -> String {
    // Migrations only need a human-readable stamp; avoid a chrono dependency here.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    secs.to_string()
}

/// Splits a migration into statements at `;` line ends (migrations hold no procedures).
fn split_statements(sql: &str) -> Vec<String> {
    sql.split(";\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .trim_end_matches(';')
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Hides the password of a database URL for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Maps a sqlx failure to the API error: unique violations become 409 with
/// `conflict_message`, everything else is an internal error whose detail is logged.
pub fn map_err(
    err: sqlx::Error,
    conflict_message: impl FnOnce() -> String,
) -> rustack_common::Error {
    if is_unique_violation(&err) {
        return rustack_common::Error::conflict(conflict_message());
    }
    db_internal(err)
}

/// Maps a sqlx failure that is never the caller's fault to a 500 (logged once here).
pub fn db_internal(err: sqlx::Error) -> rustack_common::Error {
    tracing::error!(error = %err, "database error");
    rustack_common::Error::internal(format!("database error: {err}"))
}

/// True if `err` is a UNIQUE/PRIMARY KEY constraint violation on either engine.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // PostgreSQL 23505; SQLite 2067 (UNIQUE) / 1555 (PRIMARY KEY).
            code == "23505"
                || code == "2067"
                || code == "1555"
                || db.message().contains("UNIQUE constraint")
        }
        _ => false,
    }
}

/// Reads a `BIGINT` 0/1 column as a bool.
pub fn get_bool(row: &AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// Writes a bool as the `BIGINT` 0/1 rustack stores.
pub fn b(v: bool) -> i64 {
    i64::from(v)
}

/// Parses a `sqlite://` or `postgres://` URL into its [`Dialect`] without connecting.
impl FromStr for Dialect {
    type Err = DbError;
    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Dialect::Postgres)
        } else {
            Err(DbError::UnsupportedUrl {
                url: url.to_string(),
            })
        }
    }
}

/// Test support: a database URL for a fresh, empty database. With
/// `RUSTACK_TEST_POSTGRES_URL` set (a URL to a server where the user may create
/// databases), a new PostgreSQL database is created; otherwise a SQLite file under `dir`.
pub async fn fresh_test_url(dir: &std::path::Path, name: &str) -> Result<String, DbError> {
    match std::env::var("RUSTACK_TEST_POSTGRES_URL") {
        Ok(base) if !base.is_empty() => {
            sqlx::any::install_default_drivers();
            let db_name = format!("rustack_test_{}_{}", name, uuid_like_suffix());
            let admin = AnyPoolOptions::new()
                .max_connections(1)
                .connect(&base)
                .await
                .map_err(|source| DbError::Connect {
                    url: redact_url(&base),
                    source,
                })?;
            sqlx::query(&format!("CREATE DATABASE {db_name}"))
                .execute(&admin)
                .await
                .map_err(|source| DbError::Connect {
                    url: redact_url(&base),
                    source,
                })?;
            admin.close().await;
            let (head, _) = base.rsplit_once('/').unwrap_or((base.as_str(), ""));
            Ok(format!("{head}/{db_name}"))
        }
        _ => Ok(format!("sqlite://{}/{}.db", dir.display(), name)),
    }
}

fn uuid_like_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements() {
        let s = split_statements("CREATE TABLE a (x TEXT);\n-- c\nCREATE TABLE b (y TEXT);\n");
        assert_eq!(
            s,
            vec!["CREATE TABLE a (x TEXT)", "CREATE TABLE b (y TEXT)"]
        );
    }

    #[test]
    fn redacts() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }

    #[tokio::test]
    async fn migrates_idempotently_and_maps_conflicts() {
        let dir = std::env::temp_dir().join(format!("rustack-db-test-{}", uuid_like_suffix()));
        std::fs::create_dir_all(&dir).expect("dir");
        let url = fresh_test_url(&dir, "dbtest").await.expect("url");
        let db = Db::connect(&url).await.expect("connect");
        let migs = [
            Migration {
                version: 1,
                name: "a",
                sql: "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL);\n",
            },
            Migration {
                version: 2,
                name: "b",
                sql: "ALTER TABLE t ADD COLUMN label TEXT;\n",
            },
        ];
        assert_eq!(db.migrate(&migs).await.expect("migrate"), 2);
        assert_eq!(db.migrate(&migs).await.expect("migrate again"), 2);
        assert_eq!(
            db.columns("t").await.expect("cols"),
            vec!["id", "label", "n"]
        );
        sqlx::query("INSERT INTO t (id, n) VALUES ($1, $2)")
            .bind("x")
            .bind(1i64)
            .execute(db.pool())
            .await
            .expect("insert");
        let err = sqlx::query("INSERT INTO t (id, n) VALUES ($1, $2)")
            .bind("x")
            .bind(2i64)
            .execute(db.pool())
            .await
            .expect_err("dup");
        assert!(is_unique_violation(&err));
        assert_eq!(map_err(err, || "dup".into()).status_code(), 409);
        let too_old = [migs[0]];
        assert!(matches!(
            db.migrate(&too_old).await,
            Err(DbError::TooNew { .. })
        ));
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
