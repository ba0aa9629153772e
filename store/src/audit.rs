//! The audit log's table, `audit_events`: appends after the chain head in
//! one write transaction, filtered reads, pages in chain order, and the
//! readiness probe. Hashing and the canonical form are the server's; this
//! module only stores and reads rows.

use sqlx::{Any, Executor, Row};

use crate::db::{Db, WriteLock};
use crate::error::Result;

/// One row of `audit_events`, as stored (hashes in hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix seconds.
    pub ts: i64,
    /// Principal id.
    pub actor: String,
    /// Roles, comma-separated.
    pub roles: String,
    /// Action.
    pub action: String,
    /// Resource.
    pub resource: String,
    /// Purpose.
    pub purpose: String,
    /// Outcome.
    pub outcome: String,
    /// Detail.
    pub detail: String,
    /// Hex of the previous entry's hash.
    pub prev_hash: String,
    /// Hex of this entry's hash.
    pub entry_hash: String,
}

/// The last entry of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Its sequence number.
    pub seq: i64,
    /// Hex of its hash.
    pub entry_hash: String,
}

const HEAD: &str = "SELECT seq, entry_hash FROM audit_events ORDER BY seq DESC LIMIT 1";
const INSERT_INTO: &str = "INSERT INTO audit_events (seq, ts, actor, roles, action, resource, purpose, outcome, detail, prev_hash, entry_hash)";
/// The columns of [`INSERT_INTO`].
const COLUMNS: usize = 11;
/// Rows per `INSERT` of an append: [`COLUMNS`] parameters each, well
/// under SQLite's and PostgreSQL's limits on parameters per statement.
pub(crate) const ROWS_PER_INSERT: usize = 64;

fn head_of(row: Option<sqlx::any::AnyRow>) -> Result<Option<AuditHead>> {
    row.map(|row| {
        Ok(AuditHead {
            seq: row.try_get("seq")?,
            entry_hash: row.try_get("entry_hash")?,
        })
    })
    .transpose()
}

fn row_of(row: &sqlx::any::AnyRow) -> Result<AuditRow> {
    Ok(AuditRow {
        seq: row.try_get("seq")?,
        ts: row.try_get("ts")?,
        actor: row.try_get("actor")?,
        roles: row.try_get("roles")?,
        action: row.try_get("action")?,
        resource: row.try_get("resource")?,
        purpose: row.try_get("purpose")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        prev_hash: row.try_get("prev_hash")?,
        entry_hash: row.try_get("entry_hash")?,
    })
}

/// The chain head, outside any transaction.
pub async fn audit_head(db: &Db) -> Result<Option<AuditHead>> {
    head_of(sqlx::query(HEAD).fetch_optional(&db.pool).await?)
}

/// The hash (hex) of entry `seq`, `None` when there is no such entry.
pub async fn audit_entry_hash(db: &Db, seq: i64) -> Result<Option<String>> {
    let row = sqlx::query("SELECT entry_hash FROM audit_events WHERE seq = $1")
        .bind(seq)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.try_get("entry_hash")).transpose()?)
}

/// An append in progress: a write transaction that holds the chain (on
/// PostgreSQL an exclusive lock on the table, so that several service
/// nodes on one database keep one chain; on SQLite the write lock), begun
/// with the head read inside it. Dropping it without [`commit`] writes
/// nothing.
///
/// [`commit`]: AuditAppend::commit
pub struct AuditAppend {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

impl AuditAppend {
    /// Begins the append and reads the head it continues.
    pub async fn begin(db: &Db) -> Result<(Self, Option<AuditHead>)> {
        let mut tx = db.begin_locked(WriteLock::AuditChain).await?;
        let head = head_of(sqlx::query(HEAD).fetch_optional(&mut *tx).await?)?;
        Ok((Self { tx }, head))
    }

    /// Inserts `rows`, in order (the caller chains each on the head and
    /// the rows before it).
    pub async fn insert(&mut self, rows: &[AuditRow]) -> Result<()> {
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            insert_rows(&mut *self.tx, chunk).await?;
        }
        Ok(())
    }

    /// Commits every inserted row at once.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Inserts up to [`ROWS_PER_INSERT`] rows in one statement.
async fn insert_rows<'e, E>(exec: E, rows: &[AuditRow]) -> Result<()>
where
    E: Executor<'e, Database = Any>,
{
    let values: Vec<String> = (0..rows.len())
        .map(|i| {
            let params: Vec<String> = (1..=COLUMNS)
                .map(|k| format!("${}", i * COLUMNS + k))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!("{INSERT_INTO} VALUES {}", values.join(", "));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        q = q
            .bind(row.seq)
            .bind(row.ts)
            .bind(&row.actor)
            .bind(&row.roles)
            .bind(&row.action)
            .bind(&row.resource)
            .bind(&row.purpose)
            .bind(&row.outcome)
            .bind(&row.detail)
            .bind(&row.prev_hash)
            .bind(&row.entry_hash);
    }
    q.execute(exec).await?;
    Ok(())
}

/// Appends `rows`, chained by the caller on a head it read or wrote
/// earlier, without the lock of [`AuditAppend`]: all or none, in one
/// statement when they fit (else one transaction). When another writer
/// appended since, the primary key on `seq` refuses them (an error for
/// which [`Error::is_unique_violation`] holds) and nothing is written;
/// the caller then chains them on the new head.
///
/// [`Error::is_unique_violation`]: crate::Error::is_unique_violation
pub async fn audit_append_after(db: &Db, rows: &[AuditRow]) -> Result<()> {
    if rows.len() <= ROWS_PER_INSERT {
        return insert_rows(&db.pool, rows).await;
    }
    let mut tx = db.begin_write().await?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        insert_rows(&mut *tx, chunk).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Filters of [`audit_query`]; `None` means unrestricted.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter<'a> {
    /// Earliest `ts`, inclusive.
    pub since: Option<i64>,
    /// Latest `ts`, exclusive.
    pub until: Option<i64>,
    /// Exact actor.
    pub actor: Option<&'a str>,
    /// Exact action.
    pub action: Option<&'a str>,
    /// Most rows.
    pub limit: i64,
}

/// Rows matching `filter`, in chain order.
pub async fn audit_query(db: &Db, filter: &AuditFilter<'_>) -> Result<Vec<AuditRow>> {
    let rows = sqlx::query(
        "SELECT * FROM audit_events \
         WHERE ts >= $1 AND ts < $2 AND ($3 = '' OR actor = $3) AND ($4 = '' OR action = $4) \
         ORDER BY seq LIMIT $5",
    )
    .bind(filter.since.unwrap_or(i64::MIN))
    .bind(filter.until.unwrap_or(i64::MAX))
    .bind(filter.actor.unwrap_or_default())
    .bind(filter.action.unwrap_or_default())
    .bind(filter.limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row_of).collect()
}

/// At most `limit` rows from sequence number `from` on, in chain order.
pub async fn audit_page(db: &Db, from: i64, limit: i64) -> Result<Vec<AuditRow>> {
    let rows = sqlx::query("SELECT * FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2")
        .bind(from)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(row_of).collect()
}

/// Why [`audit_probe`] failed, with the database's error.
#[derive(Debug)]
pub enum AuditProbeError {
    /// No write transaction could be started (or rolled back).
    CannotWrite(crate::Error),
    /// The audit table refused the row.
    NotAppendable(crate::Error),
}

/// Appends a row inside a write transaction and rolls it back: the same
/// locks and constraints as an append (a read-only, locked or missing table
/// fails here) but nothing left behind. The row's `seq` is negative, so it
/// can never collide with the chain, which starts at 1.
pub async fn audit_probe(db: &Db, now: i64) -> std::result::Result<(), AuditProbeError> {
    let mut tx = db
        .begin_write()
        .await
        .map_err(AuditProbeError::CannotWrite)?;
    let inserted = sqlx::query(
        "INSERT INTO audit_events (seq, ts, actor, roles, action, resource, purpose, outcome, detail, prev_hash, entry_hash) \
         VALUES ($1, $2, 'zkr-readyz', 'system', 'readiness_probe', '-', '-', 'probe', '', '', '')",
    )
    .bind(-1i64)
    .bind(now)
    .execute(&mut *tx)
    .await;
    // Never committed, whatever happened.
    let rolled_back = tx.rollback().await;
    if let Err(e) = inserted {
        return Err(AuditProbeError::NotAppendable(e.into()));
    }
    rolled_back.map_err(|e| AuditProbeError::CannotWrite(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, ts: i64, actor: &str, action: &str) -> AuditRow {
        AuditRow {
            seq,
            ts,
            actor: actor.into(),
            roles: "admin".into(),
            action: action.into(),
            resource: "r".into(),
            purpose: "-".into(),
            outcome: "allow".into(),
            detail: String::new(),
            prev_hash: format!("{:064x}", seq - 1),
            entry_hash: format!("{seq:064x}"),
        }
    }

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("zkr.db").display());
        let db = Db::connect_and_migrate(&url).await.expect("migrate");
        (dir, db)
    }

    #[tokio::test]
    async fn appends_commit_together_after_the_head_and_read_back_filtered() {
        let (_dir, db) = db().await;
        assert_eq!(audit_head(&db).await.expect("head"), None);
        let (mut append, head) = AuditAppend::begin(&db).await.expect("begin");
        assert_eq!(head, None);
        append
            .insert(&[
                row(1, 10, "a", "x"),
                row(2, 20, "b", "y"),
                row(3, 30, "a", "y"),
            ])
            .await
            .expect("insert");
        append.commit().await.expect("commit");
        let head = audit_head(&db).await.expect("head").expect("a head");
        assert_eq!((head.seq, head.entry_hash), (3, format!("{:064x}", 3)));
        assert_eq!(
            audit_entry_hash(&db, 2).await.expect("hash"),
            Some(format!("{:064x}", 2))
        );
        assert_eq!(audit_entry_hash(&db, 4).await.expect("hash"), None);

        // An append dropped before its commit writes nothing.
        let (mut append, head) = AuditAppend::begin(&db).await.expect("begin");
        assert_eq!(head.map(|h| h.seq), Some(3));
        append
            .insert(&[row(4, 40, "c", "z")])
            .await
            .expect("insert");
        drop(append);
        assert_eq!(audit_page(&db, 1, 100).await.expect("page").len(), 3);

        let seqs = |rows: Vec<AuditRow>| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
        let all = AuditFilter {
            limit: 100,
            ..AuditFilter::default()
        };
        assert_eq!(seqs(audit_query(&db, &all).await.expect("q")), [1, 2, 3]);
        let some = AuditFilter {
            since: Some(20),
            until: Some(31),
            action: Some("y"),
            actor: Some("a"),
            limit: 100,
        };
        assert_eq!(seqs(audit_query(&db, &some).await.expect("q")), [3]);
        assert_eq!(seqs(audit_page(&db, 2, 1).await.expect("page")), [2]);
        assert_eq!(
            audit_page(&db, 1, 1).await.expect("page")[0],
            row(1, 10, "a", "x")
        );
        // The probe leaves nothing behind.
        audit_probe(&db, 50).await.expect("probe");
        assert_eq!(
            seqs(audit_page(&db, i64::MIN, 100).await.expect("page")),
            [1, 2, 3]
        );
    }

    /// A batch longer than one statement's worth of rows is stored whole
    /// and in order.
    #[tokio::test]
    async fn a_long_batch_is_inserted_in_several_statements() {
        let (_dir, db) = db().await;
        let n = 2 * ROWS_PER_INSERT as i64 + 3;
        let rows: Vec<AuditRow> = (1..=n).map(|seq| row(seq, seq, "a", "x")).collect();
        let (mut append, _) = AuditAppend::begin(&db).await.expect("begin");
        append.insert(&rows).await.expect("insert");
        append.commit().await.expect("commit");
        assert_eq!(audit_page(&db, 1, 1000).await.expect("page"), rows);
    }

    /// Rows appended after a head another writer moved are refused whole,
    /// with an error that says so.
    #[tokio::test]
    async fn an_append_after_an_overtaken_head_writes_nothing() {
        let (_dir, db) = db().await;
        let first: Vec<AuditRow> = (1..=3).map(|seq| row(seq, seq, "a", "x")).collect();
        audit_append_after(&db, &first).await.expect("append");
        let late = [row(4, 4, "b", "y"), row(3, 3, "b", "y")];
        let err = audit_append_after(&db, &late)
            .await
            .expect_err("seq 3 is taken");
        assert!(err.is_unique_violation(), "{err}");
        assert_eq!(audit_page(&db, 1, 100).await.expect("page"), first);
        let long: Vec<AuditRow> = (4..=4 + ROWS_PER_INSERT as i64)
            .chain([2])
            .map(|seq| row(seq, seq, "c", "z"))
            .collect();
        let err = audit_append_after(&db, &long)
            .await
            .expect_err("seq 2 is taken");
        assert!(err.is_unique_violation(), "{err}");
        assert_eq!(audit_page(&db, 1, 1000).await.expect("page"), first);
    }
}
