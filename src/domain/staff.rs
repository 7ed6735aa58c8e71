//! Staff: the operator's people who use the console, their roles per workspace and what each
//! role may do. The permission matrix below is the single source of truth (ARCHITECTURE.md
//! renders it as a table and `tests/api/roles.rs` checks it through the console).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    PrivacyOfficer,
    Support,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Owner,
        Role::PrivacyOfficer,
        Role::Support,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Support => "support",
            Role::Auditor => "auditor",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::PrivacyOfficer => "Privacy officer",
            Role::Support => "Support agent",
            Role::Auditor => "Auditor (read-only)",
        }
    }

    pub fn parse(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("'{s}' is not a role (owner, privacy_officer, support, auditor)")
            })
    }

    /// The permission matrix.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            // Art. 18: a restricted person's records are for the privacy officer alone, so the
            // owner gets everything but that.
            Role::Owner => p != ReadRestricted,
            Role::PrivacyOfficer => matches!(
                p,
                ViewWorkspace
                    | ViewMembers
                    | ReadAudit
                    | ViewApiKeys
                    | ViewInventory
                    | EditInventory
                    | PublishPolicy
                    | ViewSubjects
                    | ReadRecords
                    | ReadRestricted
                    | ManageSubjects
                    | RunRetention
                    | ViewRequests
                    | HandleRequests
                    | ViewIncidents
                    | HandleIncidents
            ),
            // Support sees the requests people send (they are often the ones asked about them)
            // but the answers (deny, extend, complete) are a legal decision, not theirs.
            Role::Support => matches!(
                p,
                ViewWorkspace | ViewInventory | ViewSubjects | ReadRecords | ViewRequests
            ),
            Role::Auditor => matches!(
                p,
                ViewWorkspace
                    | ViewMembers
                    | ReadAudit
                    | ViewApiKeys
                    | ViewInventory
                    | ViewSubjects
                    | ViewRequests
                    | ViewIncidents
            ),
        }
    }
}

/// The roles one member holds in a workspace: at least one (see [`Roles::parse`]); what they
/// may do is the union of their roles' permissions, so an owner who is also the privacy officer
/// reads restricted people as the privacy officer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Roles(u8);

impl Roles {
    fn bit(role: Role) -> u8 {
        1 << (role as u8)
    }

    pub fn one(role: Role) -> Roles {
        Roles(Self::bit(role))
    }

    /// Role names as a form or a request sends them; none, or an unknown one, is an error.
    pub fn parse<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Result<Roles, String> {
        let mut roles = Roles::default();
        for name in names {
            roles = roles.with(Role::parse(name.as_ref().trim())?);
        }
        if roles.is_empty() {
            return Err("choose at least one role".into());
        }
        Ok(roles)
    }

    pub fn with(self, role: Role) -> Roles {
        Roles(self.0 | Self::bit(role))
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & Self::bit(role) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles in the matrix's order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// The union of the roles' permissions.
    pub fn allows(self, p: Permission) -> bool {
        self.iter().any(|r| r.allows(p))
    }

    /// "Owner, Privacy officer", for people.
    pub fn label(self) -> String {
        self.iter().map(Role::label).collect::<Vec<_>>().join(", ")
    }

    /// `["owner", "privacy_officer"]`, for the audit log.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Role::as_str).collect()
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Roles {
        iter.into_iter().fold(Roles::default(), Roles::with)
    }
}

/// Something a member may or may not do in a workspace. Later capabilities add their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Permission {
    /// Open the workspace and see its dashboard and settings.
    ViewWorkspace,
    /// Change the workspace's settings, including mandatory TOTP.
    EditWorkspace,
    ViewMembers,
    /// Add, re-role and remove members.
    ManageMembers,
    ViewApiKeys,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Read the workspace's audit log, and download its evidence pack for an auditor.
    ReadAudit,
    /// See the inventory: data categories, purposes, systems, recipients, retention, holds.
    ViewInventory,
    /// Add, change and delete inventory items.
    EditInventory,
    /// Write policy drafts and publish them; manage who is notified of changes.
    PublishPolicy,
    /// List the vault's subjects: their ids and states, no personal values.
    ViewSubjects,
    /// Open a person's decrypted records, giving a reason that goes to their access log.
    ReadRecords,
    /// Read the records of a person whose processing is restricted (GDPR Art. 18).
    ReadRestricted,
    /// Restrict processing, lift a restriction, erase a person.
    ManageSubjects,
    /// Start retention runs and dry runs by hand.
    RunRetention,
    /// See data subject requests, their deadlines and timelines (the person's address and
    /// what they wrote only with `ReadRecords` too).
    ViewRequests,
    /// Start, complete, deny and extend data subject requests; be warned of their deadlines.
    HandleRequests,
    /// See the breach register: incidents, deadlines, counts, timelines and notices.
    ViewIncidents,
    /// Register and change incidents, decide about notifying, record notices as sent.
    HandleIncidents,
}

impl Permission {
    pub const ALL: [Permission; 19] = [
        Permission::ViewWorkspace,
        Permission::EditWorkspace,
        Permission::ViewMembers,
        Permission::ManageMembers,
        Permission::ViewApiKeys,
        Permission::ManageApiKeys,
        Permission::ReadAudit,
        Permission::ViewInventory,
        Permission::EditInventory,
        Permission::PublishPolicy,
        Permission::ViewSubjects,
        Permission::ReadRecords,
        Permission::ReadRestricted,
        Permission::ManageSubjects,
        Permission::RunRetention,
        Permission::ViewRequests,
        Permission::HandleRequests,
        Permission::ViewIncidents,
        Permission::HandleIncidents,
    ];
}

pub const MIN_PASSWORD_CHARS: usize = 12;

/// A new password typed twice, as every form that sets one takes it: its faults under the form's
/// field names (`field` and `{field}_confirm`), added to `errors`.
pub fn check_new_password(
    errors: &mut crate::domain::ValidationErrors,
    field: &str,
    password: &str,
    confirm: &str,
    email: &str,
) {
    if let Err(m) = check_password(password, email) {
        errors.add(field, m);
    }
    if password != confirm {
        let what = field.replace('_', " ");
        errors.add(
            &format!("{field}_confirm"),
            format!("does not match the {what}"),
        );
    }
}

/// NIST SP 800-63B style: long enough, not absurdly long, no composition rules.
pub fn check_password(password: &str, email: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if n > 1024 {
        return Err("must be at most 1024 characters".into());
    }
    if password.eq_ignore_ascii_case(email) {
        return Err("must not be your e-mail address".into());
    }
    Ok(())
}

/// Failed logins to one account from one network that cost nothing. Each further failure
/// doubles the wait before the next try from that network (5 s, 10 s, 20 s … at most
/// [`MAX_LOGIN_DELAY_SECS`]). There is no hard lock: counted per network, a stranger's guessing
/// slows the stranger, never the account's owner somewhere else.
pub const FREE_LOGIN_FAILURES: u32 = 5;
pub const FIRST_LOGIN_DELAY_SECS: u64 = 5;
pub const MAX_LOGIN_DELAY_SECS: u64 = 15 * 60;

/// How long to wait before the next try after `failures` failed ones in a row.
pub fn login_delay(failures: u32) -> std::time::Duration {
    let secs = match failures.checked_sub(FREE_LOGIN_FAILURES) {
        None => 0,
        Some(extra) => FIRST_LOGIN_DELAY_SECS
            .checked_shl(extra)
            .unwrap_or(u64::MAX)
            .min(MAX_LOGIN_DELAY_SECS),
    };
    std::time::Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_after_the_free_tries_and_stops_at_its_cap() {
        let secs = |n| login_delay(n).as_secs();
        assert_eq!((secs(0), secs(4)), (0, 0));
        assert_eq!((secs(5), secs(6), secs(7)), (5, 10, 20));
        assert_eq!(secs(20), MAX_LOGIN_DELAY_SECS);
        assert_eq!(secs(u32::MAX), MAX_LOGIN_DELAY_SECS);
    }
    use Permission::*;

    #[test]
    fn the_permission_matrix() {
        // Rows: permission; columns: owner, privacy officer, support, auditor.
        let expected = [
            (ViewWorkspace, [true, true, true, true]),
            (EditWorkspace, [true, false, false, false]),
            (ViewMembers, [true, true, false, true]),
            (ManageMembers, [true, false, false, false]),
            (ViewApiKeys, [true, true, false, true]),
            (ManageApiKeys, [true, false, false, false]),
            (ReadAudit, [true, true, false, true]),
            (ViewInventory, [true, true, true, true]),
            (EditInventory, [true, true, false, false]),
            (PublishPolicy, [true, true, false, false]),
            (ViewSubjects, [true, true, true, true]),
            (ReadRecords, [true, true, true, false]),
            (ReadRestricted, [false, true, false, false]),
            (ManageSubjects, [true, true, false, false]),
            (RunRetention, [true, true, false, false]),
            (ViewRequests, [true, true, true, true]),
            (HandleRequests, [true, true, false, false]),
            (ViewIncidents, [true, true, false, true]),
            (HandleIncidents, [true, true, false, false]),
        ];
        assert_eq!(expected.len(), Permission::ALL.len());
        for (p, row) in expected {
            for (role, allowed) in Role::ALL.into_iter().zip(row) {
                assert_eq!(role.allows(p), allowed, "{role:?} {p:?}");
            }
        }
    }

    #[test]
    fn auditors_only_read() {
        for p in [
            EditWorkspace,
            ManageMembers,
            ManageApiKeys,
            EditInventory,
            PublishPolicy,
            ReadRecords,
            ReadRestricted,
            ManageSubjects,
            RunRetention,
            HandleRequests,
            HandleIncidents,
        ] {
            assert!(!Role::Auditor.allows(p));
        }
    }

    #[test]
    fn only_the_privacy_officer_reads_restricted_people() {
        for role in Role::ALL {
            assert_eq!(
                role.allows(ReadRestricted),
                role == Role::PrivacyOfficer,
                "{role:?}"
            );
        }
    }

    #[test]
    fn several_roles_allow_the_union_of_their_permissions() {
        let one_person = Roles::parse(["owner", "privacy_officer"]).unwrap();
        for p in Permission::ALL {
            assert_eq!(
                one_person.allows(p),
                Role::Owner.allows(p) || Role::PrivacyOfficer.allows(p),
                "{p:?}"
            );
        }
        assert!(one_person.allows(ReadRestricted) && one_person.allows(ManageMembers));
        assert!(!Roles::one(Role::Owner).allows(ReadRestricted));
        assert_eq!(one_person.label(), "Owner, Privacy officer");
        assert_eq!(one_person.names(), ["owner", "privacy_officer"]);
        assert_eq!(
            [Role::Auditor, Role::Owner].into_iter().collect::<Roles>(),
            Roles::parse(["owner", "auditor", "owner"]).unwrap()
        );
        assert!(Roles::parse(Vec::<String>::new()).is_err(), "at least one");
        assert!(Roles::parse(["owner", "root"]).is_err());
        assert!(!Roles::default().allows(ViewWorkspace));
    }

    #[test]
    fn passwords() {
        assert!(check_password("short", "a@b.c").is_err());
        assert!(check_password("a long enough passphrase", "a@b.c").is_ok());
        assert!(check_password("ada@example.org", "ada@example.org").is_err());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("root").is_err());
    }
}
