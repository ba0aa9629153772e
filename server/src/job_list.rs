//! Listing proof jobs: filters, keyset paging and the summary a listing
//! shows (never a proof or an input). Who may list whose jobs is decided
//! by access control (an admin everyone's, a job owner its own); this
//! module checks the filters and reads the page.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use zkr_circuits::CircuitKind;
use zkr_store::Db;
use zkr_store::jobs as store;

use crate::error::{Error, Result};
use crate::jobs::{Failure, JobState};

/// Most jobs one page may hold.
pub(crate) const MAX_LIMIT: u32 = 500;
/// Jobs on a page when the request does not say.
pub(crate) const DEFAULT_LIMIT: u32 = 100;

/// `GET /v1/proofs` query: every filter given must hold.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only jobs in this state.
    #[serde(default)]
    pub state: Option<JobState>,
    /// Only jobs of this circuit.
    #[serde(default)]
    pub circuit: Option<CircuitName>,
    /// Only this principal's jobs. Admins only; everyone else lists their
    /// own jobs, and naming another principal is refused (403).
    #[serde(default)]
    pub owner: Option<String>,
    /// Only jobs created at or after this Unix time (seconds).
    #[serde(default)]
    pub created_after: Option<i64>,
    /// Only jobs created before this Unix time (seconds).
    #[serde(default)]
    pub created_before: Option<i64>,
    /// The `next_cursor` of the page before (with the same filters).
    #[serde(default)]
    #[param(
        example = "313730303030303030302e35663164316134652d303030302d343030302d383030302d303030303030303030303030"
    )]
    pub cursor: Option<String>,
    /// Jobs per page, 1..=500 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A circuit, as a filter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CircuitName {
    /// `range`.
    Range,
    /// `membership`.
    Membership,
    /// `receipt`.
    Receipt,
    /// `disclosure`.
    Disclosure,
}

impl CircuitName {
    fn kind(self) -> CircuitKind {
        match self {
            CircuitName::Range => CircuitKind::Range,
            CircuitName::Membership => CircuitKind::Membership,
            CircuitName::Receipt => CircuitKind::Receipt,
            CircuitName::Disclosure => CircuitKind::Disclosure,
        }
    }
}

/// A job as a listing shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobSummary {
    /// Job id.
    pub job_id: String,
    /// `range`, `membership`, `receipt` or `disclosure`.
    pub circuit: String,
    /// `proof` or `disclosure`.
    pub kind: String,
    /// Who submitted it.
    pub owner: String,
    /// Current state.
    pub state: JobState,
    /// Workers that took it since it was (last) queued.
    pub attempts: i64,
    /// Times an admin sent it back to the queue.
    pub retries: i64,
    /// The worker that ran (or runs) it.
    pub worker: Option<String>,
    /// Why it ended without a proof, when it did.
    pub failure: Option<Failure>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub finished_at: Option<i64>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobPage {
    /// The jobs.
    pub jobs: Vec<JobSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A checked [`ListQuery`]: the owner is decided by the caller's rights.
#[derive(Debug)]
pub(crate) struct Listing {
    state: Option<JobState>,
    circuit: Option<CircuitKind>,
    created_after: Option<i64>,
    created_before: Option<i64>,
    after: Option<(i64, String)>,
    limit: u32,
}

impl ListQuery {
    /// The filters, checked: 400 naming the first bad one (an unknown
    /// state or circuit is refused as the query is read).
    pub(crate) fn check(&self) -> Result<Listing> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::BadRequest(format!("limit must be 1..={MAX_LIMIT}")));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(Listing {
            state: self.state,
            circuit: self.circuit.map(CircuitName::kind),
            created_after: self.created_after,
            created_before: self.created_before,
            after,
            limit,
        })
    }
}

/// The cursor after a job: opaque to callers (hex of `created_at.id`).
fn encode_cursor(created_at: i64, id: &str) -> String {
    hex::encode(format!("{created_at}.{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let bad = || Error::BadRequest("cursor is not one this service gave".into());
    if cursor.len() > 128 {
        return Err(bad());
    }
    let text = hex::decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (t, id) = text.split_once('.').ok_or_else(bad)?;
    let t = t.parse::<i64>().map_err(|_| bad())?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((t, id.to_string()))
}

/// The page of jobs `listing` selects, of `owner` only when given.
pub(crate) async fn list(db: &Db, listing: &Listing, owner: Option<&str>) -> Result<JobPage> {
    let filter = store::ListFilter {
        state: listing.state.map(JobState::as_str),
        circuit: listing.circuit.map(|c| c.name()),
        owner,
        created_after: listing.created_after,
        created_before: listing.created_before,
        after: listing.after.as_ref().map(|(t, id)| (*t, id.as_str())),
        // One more than the page: whether there is a next one.
        limit: i64::from(listing.limit) + 1,
    };
    let mut rows = store::list(db, &filter).await?;
    let more = rows.len() > listing.limit as usize;
    rows.truncate(listing.limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|r| encode_cursor(r.created_at, &r.id)))
        .flatten();
    let jobs = rows
        .into_iter()
        .map(|r| {
            let state = JobState::from_name(&r.state)
                .ok_or_else(|| Error::Internal(format!("stored job state {:?}", r.state)))?;
            Ok(JobSummary {
                failure: r.error_code.map(|code| Failure {
                    code,
                    message: r.error.unwrap_or_default(),
                }),
                job_id: r.id,
                circuit: r.circuit,
                kind: r.kind,
                owner: r.owner,
                state,
                attempts: r.attempts,
                retries: r.retries,
                worker: r.worker_id,
                created_at: r.created_at,
                finished_at: r.finished_at,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(JobPage { jobs, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let id = Uuid::new_v4().to_string();
        let c = encode_cursor(1_764_600_000, &id);
        assert_eq!(decode_cursor(&c).expect("ours"), (1_764_600_000, id));
        for bad in [
            "",
            "zz",
            "abc",
            &hex::encode("1.not-a-uuid"),
            &hex::encode("x.5f1d1a4e-0000-4000-8000-000000000000"),
            &hex::encode("5f1d1a4e-0000-4000-8000-000000000000"),
            &"a".repeat(200),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_are_checked() {
        let q = |f: fn(&mut ListQuery)| {
            let mut q = ListQuery::default();
            f(&mut q);
            q.check()
        };
        assert!(q(|_| {}).is_ok());
        assert!(q(|q| q.state = Some(JobState::Dead)).is_ok());
        for bad in [
            q(|q| q.limit = Some(0)),
            q(|q| q.limit = Some(MAX_LIMIT + 1)),
            q(|q| q.cursor = Some("nope".into())),
        ] {
            assert!(matches!(bad, Err(Error::BadRequest(_))), "{bad:?}");
        }
    }
}
