//! Access control (DESIGN §7), decided here and nowhere else. Deny by
//! default: a request is allowed only by a built-in rule or a stored policy
//! that matches it, and a stored `deny` policy overrides both (except for an
//! admin managing policies, so that no policy can lock the admins out).
//! Every decision names the rule that made it.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, Weekday};
use utoipa::ToSchema;

use super::auth::{Principal, Role};
use super::config::AccessConfig;
use super::error::Error;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Mint API tokens.
    TokenCreate,
    /// Read policies.
    PolicyRead,
    /// Create, change or retire policies.
    PolicyWrite,
    /// Export the audit log.
    AuditRead,
    /// Recompute the audit chain.
    AuditVerify,
    /// Store a confidential transaction.
    TxCreate,
    /// Read a transaction's public metadata.
    TxRead,
    /// Decrypt a record with custodial keys.
    RecordAccess,
    /// Open the audit-escrow copy of a record.
    EscrowOpen,
    /// Read key status.
    KeyRead,
    /// List every key (ids, kinds, versions, public parts).
    KeyList,
    /// Register, create or rotate keys.
    KeyWrite,
    /// Read a registry's root, history and paths.
    RegistryRead,
    /// Add registry members.
    RegistryWrite,
    /// Submit a proof job.
    ProofCreate,
    /// Read or cancel a proof job.
    ProofRead,
    /// Verify proofs.
    Verify,
    /// Ask for a disclosure proof.
    Disclose,
    /// List circuits and read their verifying keys.
    CircuitRead,
    /// Read the trusted coordinators' public signing keys.
    SigningKeyRead,
    /// List API tokens (never their secrets).
    TokenRead,
    /// Revoke API tokens.
    TokenRevoke,
    /// List the prover pool's workers.
    WorkersRead,
    /// List proof jobs (an owner its own, an admin everyone's).
    ProofList,
    /// Send a failed or dead proof job back to the queue.
    ProofRetry,
}

impl Action {
    /// Every action, for matrices.
    pub const ALL: [Action; 25] = [
        Action::TokenCreate,
        Action::PolicyRead,
        Action::PolicyWrite,
        Action::AuditRead,
        Action::AuditVerify,
        Action::TxCreate,
        Action::TxRead,
        Action::RecordAccess,
        Action::EscrowOpen,
        Action::KeyRead,
        Action::KeyList,
        Action::KeyWrite,
        Action::RegistryRead,
        Action::RegistryWrite,
        Action::ProofCreate,
        Action::ProofRead,
        Action::Verify,
        Action::Disclose,
        Action::CircuitRead,
        Action::SigningKeyRead,
        Action::TokenRead,
        Action::TokenRevoke,
        Action::WorkersRead,
        Action::ProofList,
        Action::ProofRetry,
    ];

    /// Name used in audit events and policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::TokenCreate => "token_create",
            Action::PolicyRead => "policy_read",
            Action::PolicyWrite => "policy_write",
            Action::AuditRead => "audit_read",
            Action::AuditVerify => "audit_verify",
            Action::TxCreate => "tx_create",
            Action::TxRead => "tx_read",
            Action::RecordAccess => "record_access",
            Action::EscrowOpen => "escrow_open",
            Action::KeyRead => "key_read",
            Action::KeyList => "key_list",
            Action::KeyWrite => "key_write",
            Action::RegistryRead => "registry_read",
            Action::RegistryWrite => "registry_write",
            Action::ProofCreate => "proof_create",
            Action::ProofRead => "proof_read",
            Action::Verify => "verify",
            Action::Disclose => "disclose",
            Action::CircuitRead => "circuit_read",
            Action::SigningKeyRead => "signing_key_read",
            Action::TokenRead => "token_read",
            Action::TokenRevoke => "token_revoke",
            Action::WorkersRead => "workers_read",
            Action::ProofList => "proof_list",
            Action::ProofRetry => "proof_retry",
        }
    }
}

/// Why a record is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Paying out.
    Settlement,
    /// Auditing.
    Audit,
    /// Regulatory compliance.
    Compliance,
    /// A dispute between parties.
    Dispute,
    /// Customer support.
    Support,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 5] = [
        Purpose::Settlement,
        Purpose::Audit,
        Purpose::Compliance,
        Purpose::Dispute,
        Purpose::Support,
    ];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Settlement => "settlement",
            Purpose::Audit => "audit",
            Purpose::Compliance => "compliance",
            Purpose::Dispute => "dispute",
            Purpose::Support => "support",
        }
    }
}

impl Purpose {
    /// The purposes a request may state, for error messages.
    fn allowed() -> String {
        let names: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
        names.join(", ")
    }

    fn named(s: &str) -> Result<Self, String> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown purpose {s:?}: expected one of {}",
                    Purpose::allowed()
                )
            })
    }
}

/// By hand rather than derived: every malformed purpose (a number, null, an
/// unknown name) is answered with the purposes that are allowed, where the
/// derived enum reader answers a number with a bare "expected value".
impl<'de> Deserialize<'de> for Purpose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Purpose;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a purpose, one of {}", Purpose::allowed())
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Purpose, E> {
                Purpose::named(s).map_err(E::custom)
            }
        }
        d.deserialize_str(Name)
    }
}

impl FromStr for Purpose {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Purpose::named(s).map_err(Error::BadRequest)
    }
}

/// What a request acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// E.g. `tx/<id>`, `policy/<id>`, `audit`.
    pub id: String,
    /// Principals whose record this is (empty for non-records).
    pub participants: Vec<String>,
    /// Creation time (unix seconds) of a record, for retention.
    pub created_at: Option<i64>,
}

impl Resource {
    /// A resource that is not anyone's record.
    pub fn named(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }
}

/// One question to the decision function.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    /// Who asks.
    pub principal: &'a Principal,
    /// What for.
    pub action: Action,
    /// On what.
    pub resource: &'a Resource,
    /// Stated purpose.
    pub purpose: Option<Purpose>,
    /// When.
    pub at: OffsetDateTime,
    /// Authorization reference (court order id, ...), for regulators.
    pub authorization_ref: Option<&'a str>,
}

/// Allow or deny, and the rule that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allow: bool,
    /// Name of the deciding rule.
    pub rule: String,
}

impl Decision {
    fn allow(rule: impl Into<String>) -> Self {
        Self {
            allow: true,
            rule: rule.into(),
        }
    }
    fn deny(rule: impl Into<String>) -> Self {
        Self {
            allow: false,
            rule: rule.into(),
        }
    }
}

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Effect {
    /// Grants.
    Allow,
    /// Forbids, overriding grants and built-in rules.
    Deny,
}

/// A stored policy: matches when every non-empty field matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyBody {
    /// Grant or forbid.
    pub effect: Effect,
    /// Actions it covers (at least one).
    pub actions: Vec<Action>,
    /// Principals it covers; empty = any.
    #[serde(default)]
    pub principals: Vec<String>,
    /// Roles it covers; empty = any.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Purposes it covers; empty = any.
    #[serde(default)]
    pub purposes: Vec<Purpose>,
    /// Resource ids it covers; empty = any.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Valid from (unix seconds), for time-bound grants.
    #[serde(default)]
    pub not_before: Option<i64>,
    /// Valid until (unix seconds, exclusive), for time-bound grants.
    #[serde(default)]
    pub not_after: Option<i64>,
    /// Whether a matching request must carry an authorization reference.
    #[serde(default)]
    pub requires_authorization_ref: bool,
    /// Free text for humans.
    #[serde(default)]
    pub description: String,
}

impl PolicyBody {
    /// Rejects policies that could never match or are ambiguous.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.actions.is_empty() {
            return Err(Error::Unprocessable(
                "a policy needs at least one action".into(),
            ));
        }
        if let (Some(a), Some(b)) = (self.not_before, self.not_after)
            && a >= b
        {
            return Err(Error::Unprocessable(
                "not_before must be before not_after".into(),
            ));
        }
        Ok(())
    }

    fn matches(&self, req: &Request<'_>) -> bool {
        let now = req.at.unix_timestamp();
        self.actions.contains(&req.action)
            && (self.principals.is_empty() || self.principals.contains(&req.principal.id))
            && (self.roles.is_empty() || self.roles.iter().any(|r| req.principal.has(*r)))
            && (self.purposes.is_empty() || req.purpose.is_some_and(|p| self.purposes.contains(&p)))
            && (self.resources.is_empty() || self.resources.contains(&req.resource.id))
            && self.not_before.is_none_or(|t| now >= t)
            && self.not_after.is_none_or(|t| now < t)
            && (!self.requires_authorization_ref || has_ref(req))
    }
}

/// A policy in force: id, version and body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Policy {
    /// Stable id.
    pub id: String,
    /// Version, from 1.
    pub version: i64,
    /// The rule.
    pub body: PolicyBody,
}

fn has_ref(req: &Request<'_>) -> bool {
    req.authorization_ref.is_some_and(|r| !r.trim().is_empty())
}

fn in_business_hours(at: OffsetDateTime, config: &AccessConfig) -> bool {
    let weekend = matches!(at.weekday(), Weekday::Saturday | Weekday::Sunday);
    let hour = at.hour();
    (config.weekends || !weekend)
        && hour >= config.business_hours_start
        && hour < config.business_hours_end
}

/// Whether `created_at` is within `role`'s retention at `at`.
pub(crate) fn within_retention(
    role: Role,
    created_at: Option<i64>,
    at: OffsetDateTime,
    config: &AccessConfig,
) -> bool {
    match (config.retention_days.get(role.as_str()), created_at) {
        (Some(days), Some(t)) => at.unix_timestamp() - t <= i64::from(*days) * 86_400,
        _ => true,
    }
}

/// Earliest timestamp `principal` may see, by the most generous of its roles.
pub(crate) fn retention_floor(
    principal: &Principal,
    at: OffsetDateTime,
    config: &AccessConfig,
) -> Option<i64> {
    let mut floor = Some(i64::MAX);
    for role in &principal.roles {
        match config.retention_days.get(role.as_str()) {
            None => return None,
            Some(days) => {
                let f = at.unix_timestamp() - i64::from(*days) * 86_400;
                floor = floor.map(|cur| cur.min(f));
            }
        }
    }
    floor
}

/// The built-in rules; `None` when none of them allows.
fn built_in(req: &Request<'_>, config: &AccessConfig) -> Option<Decision> {
    use Action::*;
    let p = req.principal;
    let is_participant = req.resource.participants.iter().any(|x| x == &p.id);
    let auditor_ok = p.has(Role::Auditor)
        && req.purpose == Some(Purpose::Audit)
        && in_business_hours(req.at, config)
        && within_retention(Role::Auditor, req.resource.created_at, req.at, config);
    let regulator_ok = p.has(Role::Regulator)
        && has_ref(req)
        && within_retention(Role::Regulator, req.resource.created_at, req.at, config);
    // A verifier (the marketplace) reads what checking proofs and
    // attestations needs, and nothing else, even where a record names it.
    if !p.roles.is_empty() && p.roles.iter().all(|r| *r == Role::Verifier) {
        return matches!(
            req.action,
            Verify | RegistryRead | CircuitRead | SigningKeyRead
        )
        .then(|| Decision::allow("verifier-reads-public"));
    }
    let rule = match req.action {
        TokenCreate | PolicyRead | PolicyWrite | KeyWrite | RegistryWrite if p.has(Role::Admin) => {
            "admin-manages"
        }
        TokenRead | TokenRevoke if p.has(Role::Admin) => "admin-manages",
        WorkersRead if p.has(Role::Admin) => "admin-reads-workers",
        ProofList if p.has(Role::Admin) => "admin-lists-jobs",
        // The resource names the owner whose jobs are listed.
        ProofList
            if is_participant
                && (p.has(Role::Client)
                    || p.has(Role::Miner)
                    || p.has(Role::Coordinator)
                    || p.has(Role::Regulator)) =>
        {
            "owner-lists-own-jobs"
        }
        ProofRetry if p.has(Role::Admin) => "admin-retries-jobs",
        KeyRead if p.has(Role::Admin) || p.has(Role::Coordinator) => "key-status",
        KeyList if p.has(Role::Admin) => "admin-lists-keys",
        AuditRead | AuditVerify if p.has(Role::Admin) => "admin-reads-audit-log",
        AuditRead | AuditVerify if auditor_ok => "auditor-purpose-hours-retention",
        AuditRead | AuditVerify if regulator_ok => "regulator-authorization-ref",
        TxCreate if p.has(Role::Coordinator) => "coordinator-issues",
        TxRead | RegistryRead | Verify | CircuitRead | SigningKeyRead => {
            "authenticated-reads-public"
        }
        RecordAccess if is_participant => "participant-own-record",
        RecordAccess if auditor_ok => "auditor-purpose-hours-retention",
        EscrowOpen if regulator_ok => "regulator-escrow-authorization-ref",
        EscrowOpen if auditor_ok && has_ref(req) => "auditor-escrow-authorization-ref",
        ProofCreate if is_participant => "participant-own-record",
        ProofCreate
            if req.resource.participants.is_empty()
                && (p.has(Role::Miner) || p.has(Role::Coordinator) || p.has(Role::Client)) =>
        {
            "prover-role"
        }
        ProofRead if is_participant || p.has(Role::Admin) => "job-owner",
        Disclose if is_participant => "participant-own-record",
        Disclose if regulator_ok => "regulator-authorization-ref",
        _ => return None,
    };
    Some(Decision::allow(rule))
}

/// Decides `req` under the built-in rules and `policies` (those in force).
pub(crate) fn decide(req: &Request<'_>, config: &AccessConfig, policies: &[Policy]) -> Decision {
    let managing_policies = matches!(req.action, Action::PolicyRead | Action::PolicyWrite)
        && req.principal.has(Role::Admin);
    if !managing_policies
        && let Some(p) = policies
            .iter()
            .find(|p| p.body.effect == Effect::Deny && p.body.matches(req))
    {
        return Decision::deny(format!("policy:{}@v{}", p.id, p.version));
    }
    if let Some(d) = built_in(req, config) {
        return d;
    }
    if let Some(p) = policies
        .iter()
        .find(|p| p.body.effect == Effect::Allow && p.body.matches(req))
    {
        return Decision::allow(format!("policy:{}@v{}", p.id, p.version));
    }
    Decision::deny(explain_denial(req, config))
}

/// Names the most specific reason a request fell through to the default.
fn explain_denial(req: &Request<'_>, config: &AccessConfig) -> &'static str {
    let p = req.principal;
    let record = matches!(
        req.action,
        Action::RecordAccess | Action::EscrowOpen | Action::AuditRead | Action::AuditVerify
    );
    if record && p.has(Role::Auditor) {
        if req.purpose != Some(Purpose::Audit) {
            return "auditor-purpose-must-be-audit";
        }
        if !in_business_hours(req.at, config) {
            return "auditor-outside-business-hours";
        }
        if !within_retention(Role::Auditor, req.resource.created_at, req.at, config) {
            return "auditor-outside-retention";
        }
    }
    if p.has(Role::Regulator) {
        if req.action == Action::RecordAccess {
            return "regulator-escrow-only";
        }
        if record && !has_ref(req) {
            return "regulator-needs-authorization-ref";
        }
    }
    "default-deny"
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const MONDAY_NOON: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);
    const MONDAY_NIGHT: OffsetDateTime = datetime!(2026-11-23 23:00 UTC);
    const SUNDAY_NOON: OffsetDateTime = datetime!(2026-11-22 12:00 UTC);

    fn principal(id: &str, role: Role) -> Principal {
        Principal {
            id: id.into(),
            roles: vec![role],
        }
    }

    fn ask(
        p: &Principal,
        action: Action,
        r: &Resource,
        purpose: Option<Purpose>,
        at: OffsetDateTime,
        authz: Option<&str>,
        policies: &[Policy],
    ) -> Decision {
        let req = Request {
            principal: p,
            action,
            resource: r,
            purpose,
            at,
            authorization_ref: authz,
        };
        decide(&req, &AccessConfig::default(), policies)
    }

    fn record(owner: &str) -> Resource {
        Resource {
            id: "tx/1".into(),
            participants: vec![owner.into(), "client-1".into()],
            created_at: Some(MONDAY_NOON.unix_timestamp() - 86_400),
        }
    }

    /// The expected outcome for every role, action and purpose on a record
    /// that belongs to someone else, with an authorization reference, in
    /// business hours: exactly the built-in table of DESIGN §7.
    #[test]
    fn matrix_role_action_purpose() {
        let r = record("miner-owner");
        for role in Role::ALL {
            let p = principal("someone", role);
            for action in Action::ALL {
                for purpose in Purpose::ALL {
                    let d = ask(
                        &p,
                        action,
                        &r,
                        Some(purpose),
                        MONDAY_NOON,
                        Some("order-1"),
                        &[],
                    );
                    use Action::*;
                    let expected = match (role, action) {
                        (_, RegistryRead | Verify | CircuitRead | SigningKeyRead) => true,
                        (Role::Verifier, _) => false,
                        (_, TxRead) => true,
                        (
                            Role::Admin,
                            TokenCreate | PolicyRead | PolicyWrite | KeyWrite | RegistryWrite
                            | KeyRead | AuditRead | AuditVerify | ProofRead,
                        ) => true,
                        (Role::Admin, TokenRead | TokenRevoke | WorkersRead) => true,
                        (Role::Admin, ProofList | ProofRetry) => true,
                        (Role::Admin, KeyList) => true,
                        (Role::Coordinator, TxCreate | KeyRead) => true,
                        (Role::Auditor, AuditRead | AuditVerify | RecordAccess | EscrowOpen) => {
                            purpose == Purpose::Audit
                        }
                        (Role::Regulator, AuditRead | AuditVerify | EscrowOpen | Disclose) => true,
                        _ => false,
                    };
                    assert_eq!(d.allow, expected, "{role} {action:?} {purpose:?}: {d:?}");
                }
            }
        }
    }

    #[test]
    fn participants_read_their_own_records() {
        let r = record("miner-7");
        let owner = principal("miner-7", Role::Miner);
        let other = principal("miner-8", Role::Miner);
        for purpose in Purpose::ALL {
            let d = ask(
                &owner,
                Action::RecordAccess,
                &r,
                Some(purpose),
                MONDAY_NIGHT,
                None,
                &[],
            );
            assert_eq!(d, Decision::allow("participant-own-record"));
            let d = ask(
                &other,
                Action::RecordAccess,
                &r,
                Some(purpose),
                MONDAY_NOON,
                None,
                &[],
            );
            assert_eq!(d, Decision::deny("default-deny"));
        }
        assert!(
            ask(
                &owner,
                Action::ProofCreate,
                &r,
                None,
                MONDAY_NOON,
                None,
                &[]
            )
            .allow
        );
        assert!(ask(&owner, Action::Disclose, &r, None, MONDAY_NOON, None, &[]).allow);
    }

    #[test]
    fn a_verifier_named_in_a_record_gets_nothing_more() {
        let r = record("market-1");
        let verifier = principal("market-1", Role::Verifier);
        for action in [
            Action::RecordAccess,
            Action::ProofCreate,
            Action::Disclose,
            Action::TxRead,
            Action::ProofRead,
        ] {
            let d = ask(&verifier, action, &r, None, MONDAY_NOON, None, &[]);
            assert_eq!(d, Decision::deny("default-deny"), "{action:?}");
        }
        let d = ask(&verifier, Action::Verify, &r, None, MONDAY_NOON, None, &[]);
        assert_eq!(d, Decision::allow("verifier-reads-public"));
    }

    #[test]
    fn auditors_need_purpose_hours_and_retention() {
        let auditor = principal("aud", Role::Auditor);
        let r = record("m");
        let d = |purpose, at, r: &Resource| {
            ask(
                &auditor,
                Action::RecordAccess,
                r,
                Some(purpose),
                at,
                None,
                &[],
            )
        };
        assert!(d(Purpose::Audit, MONDAY_NOON, &r).allow);
        assert_eq!(
            d(Purpose::Support, MONDAY_NOON, &r).rule,
            "auditor-purpose-must-be-audit"
        );
        assert_eq!(
            d(Purpose::Audit, MONDAY_NIGHT, &r).rule,
            "auditor-outside-business-hours"
        );
        assert_eq!(
            d(Purpose::Audit, SUNDAY_NOON, &r).rule,
            "auditor-outside-business-hours"
        );
        let old = Resource {
            created_at: Some(MONDAY_NOON.unix_timestamp() - 8 * 365 * 86_400),
            ..r.clone()
        };
        assert_eq!(
            d(Purpose::Audit, MONDAY_NOON, &old).rule,
            "auditor-outside-retention"
        );
    }

    #[test]
    fn regulators_only_through_escrow_with_reference() {
        let reg = principal("reg", Role::Regulator);
        let r = record("m");
        let p = Some(Purpose::Compliance);
        assert_eq!(
            ask(
                &reg,
                Action::RecordAccess,
                &r,
                p,
                MONDAY_NOON,
                Some("x"),
                &[]
            )
            .rule,
            "regulator-escrow-only"
        );
        assert_eq!(
            ask(&reg, Action::EscrowOpen, &r, p, MONDAY_NOON, None, &[]).rule,
            "regulator-needs-authorization-ref"
        );
        assert_eq!(
            ask(
                &reg,
                Action::EscrowOpen,
                &r,
                p,
                MONDAY_NOON,
                Some("  "),
                &[]
            )
            .rule,
            "regulator-needs-authorization-ref"
        );
        assert!(
            ask(
                &reg,
                Action::EscrowOpen,
                &r,
                p,
                MONDAY_NIGHT,
                Some("court-42"),
                &[]
            )
            .allow
        );
    }

    #[test]
    fn policies_grant_in_time_and_deny_overrides() {
        let support = principal("sup", Role::Client);
        let r = record("m");
        let now = MONDAY_NOON.unix_timestamp();
        let grant = Policy {
            id: "support-window".into(),
            version: 2,
            body: PolicyBody {
                effect: Effect::Allow,
                actions: vec![Action::RecordAccess],
                principals: vec!["sup".into()],
                roles: vec![],
                purposes: vec![Purpose::Support],
                resources: vec![],
                not_before: Some(now - 60),
                not_after: Some(now + 60),
                requires_authorization_ref: false,
                description: String::new(),
            },
        };
        let ask_at = |at, pol: &[Policy]| {
            ask(
                &support,
                Action::RecordAccess,
                &r,
                Some(Purpose::Support),
                at,
                None,
                pol,
            )
        };
        assert_eq!(
            ask_at(MONDAY_NOON, std::slice::from_ref(&grant)),
            Decision::allow("policy:support-window@v2")
        );
        assert!(
            !ask_at(
                MONDAY_NOON + time::Duration::minutes(2),
                std::slice::from_ref(&grant)
            )
            .allow
        );
        assert!(
            !ask(
                &support,
                Action::RecordAccess,
                &r,
                Some(Purpose::Dispute),
                MONDAY_NOON,
                None,
                std::slice::from_ref(&grant)
            )
            .allow
        );

        let deny = Policy {
            id: "freeze".into(),
            version: 1,
            body: PolicyBody {
                effect: Effect::Deny,
                actions: Action::ALL.to_vec(),
                roles: vec![Role::Admin],
                ..grant.body.clone()
            },
        };
        let deny = Policy {
            body: PolicyBody {
                principals: vec![],
                purposes: vec![],
                not_before: None,
                not_after: None,
                ..deny.body
            },
            ..deny
        };
        let admin = principal("root", Role::Admin);
        assert_eq!(
            ask(
                &admin,
                Action::KeyWrite,
                &r,
                None,
                MONDAY_NOON,
                None,
                std::slice::from_ref(&deny)
            )
            .rule,
            "policy:freeze@v1"
        );
        // ... but admins can always repair policies.
        assert!(
            ask(
                &admin,
                Action::PolicyWrite,
                &r,
                None,
                MONDAY_NOON,
                None,
                &[deny]
            )
            .allow
        );
    }

    #[test]
    fn retention_floor_takes_the_most_generous_role() {
        let config = AccessConfig::default();
        let auditor = principal("a", Role::Auditor);
        assert!(retention_floor(&auditor, MONDAY_NOON, &config).is_some());
        let both = Principal {
            id: "b".into(),
            roles: vec![Role::Auditor, Role::Admin],
        };
        assert_eq!(retention_floor(&both, MONDAY_NOON, &config), None);
    }
}
