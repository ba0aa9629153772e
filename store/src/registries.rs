//! The `registry_members` and `registry_roots` tables: the members of each
//! registry in insertion order and every root the registry has had. The
//! two change together, in one transaction from [`begin_append`].

use sqlx::{Any, AnyConnection, Executor, Row, Transaction};

use crate::db::{Db, WriteLock};
use crate::error::Result;

/// A root as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootRow {
    /// Version (= number of members when it was the root).
    pub version: i64,
    /// Root (decimal).
    pub root: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A member to append, with the root it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended<'a> {
    /// Registry name.
    pub registry: &'a str,
    /// Leaf index of the member.
    pub index: i64,
    /// The member (decimal).
    pub member: &'a str,
    /// The new root (decimal); its version is `index + 1`.
    pub root: &'a str,
    /// Unix seconds.
    pub at: i64,
    /// Principal who added it.
    pub by: &'a str,
}

/// Begins the transaction that appends to a registry. On PostgreSQL it
/// locks the members table against other writers (readers go on), so two
/// nodes cannot give two members one index; on SQLite the write
/// transaction does that.
pub async fn begin_append(db: &Db) -> Result<Transaction<'static, Any>> {
    db.begin_locked(WriteLock::RegistryMembers).await
}

/// How many members registry `name` has.
pub async fn count<'e, E>(exec: E, name: &str) -> Result<i64>
where
    E: Executor<'e, Database = Any>,
{
    let row = sqlx::query("SELECT COUNT(*) AS n FROM registry_members WHERE registry = $1")
        .bind(name)
        .fetch_one(exec)
        .await?;
    Ok(row.try_get("n")?)
}

/// The members of registry `name` (decimal), in insertion order.
pub async fn members<'e, E>(exec: E, name: &str) -> Result<Vec<String>>
where
    E: Executor<'e, Database = Any>,
{
    let rows = sqlx::query("SELECT member FROM registry_members WHERE registry = $1 ORDER BY idx")
        .bind(name)
        .fetch_all(exec)
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get::<String, _>("member")?))
        .collect()
}

/// Stores a member and the root it makes, inside `tx` from [`begin_append`].
pub async fn append(tx: &mut AnyConnection, new: &Appended<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO registry_members (registry, idx, member, added_at, added_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new.registry)
    .bind(new.index)
    .bind(new.member)
    .bind(new.at)
    .bind(new.by)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO registry_roots (registry, version, root, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(new.registry)
    .bind(new.index + 1)
    .bind(new.root)
    .bind(new.at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The newest `limit` roots of registry `name`, newest first.
pub async fn roots(db: &Db, name: &str, limit: i64) -> Result<Vec<RootRow>> {
    let rows = sqlx::query(
        "SELECT version, root, created_at FROM registry_roots WHERE registry = $1 ORDER BY version DESC LIMIT $2",
    )
    .bind(name)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RootRow {
                version: r.try_get("version")?,
                root: r.try_get("root")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn members_and_roots_change_together() {
        let (_dir, db) = crate::test_db().await;
        assert_eq!(count(&db.pool, "miners").await.expect("count"), 0);
        for (index, member) in ["7", "9"].into_iter().enumerate() {
            let mut tx = begin_append(&db).await.expect("begin");
            let index = i64::try_from(index).expect("index");
            assert_eq!(count(&mut *tx, "miners").await.expect("count"), index);
            let root = format!("root-{index}");
            append(
                &mut tx,
                &Appended {
                    registry: "miners",
                    index,
                    member,
                    root: &root,
                    at: 100 + index,
                    by: "admin",
                },
            )
            .await
            .expect("append");
            tx.commit().await.expect("commit");
        }
        assert_eq!(
            members(&db.pool, "miners").await.expect("members"),
            vec!["7".to_string(), "9".to_string()]
        );
        assert_eq!(
            members(&db.pool, "clients").await.expect("members"),
            Vec::<String>::new()
        );
        let newest = RootRow {
            version: 2,
            root: "root-1".into(),
            created_at: 101,
        };
        assert_eq!(
            roots(&db, "miners", 1).await.expect("roots"),
            vec![newest.clone()]
        );
        assert_eq!(roots(&db, "miners", 5).await.expect("roots").len(), 2);
        // A member is in a registry once.
        let mut tx = begin_append(&db).await.expect("begin");
        let again = Appended {
            registry: "miners",
            index: 2,
            member: "7",
            root: "root-2",
            at: 102,
            by: "admin",
        };
        assert!(append(&mut tx, &again).await.is_err());
    }
}
