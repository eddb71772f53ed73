//! Who may use which team's tools: a caller belongs to a team when the team's `member_claim` in
//! the verified token holds one of its `members` values (a string claim equal to one, or an array
//! claim containing one). Tools from the shared directory are open to every caller (their scopes
//! still apply).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::config::TeamConfig;
use crate::shared::Identity;

/// One team's membership rule.
#[derive(Debug, Clone)]
struct Membership {
    claim: String,
    members: BTreeSet<String>,
}

/// Every team's membership rule, by team name.
#[derive(Debug, Clone, Default)]
pub struct Teams {
    teams: BTreeMap<String, Membership>,
}

impl Teams {
    /// The rules from `[[teams]]`.
    pub fn from_config(teams: &[TeamConfig]) -> Teams {
        Teams {
            teams: teams
                .iter()
                .map(|t| {
                    let rule = Membership {
                        claim: t.member_claim.clone(),
                        members: t.members.iter().cloned().collect(),
                    };
                    (t.name.clone(), rule)
                })
                .collect(),
        }
    }

    /// True if `caller` may use tools of `team` (`None`: a shared tool, open to all).
    pub fn admits(&self, caller: &Identity, team: Option<&str>) -> bool {
        let Some(team) = team else { return true };
        let Some(rule) = self.teams.get(team) else { return false };
        match caller.data().claims.get(&rule.claim) {
            Some(Value::String(s)) => rule.members.contains(s),
            Some(Value::Array(values)) => {
                values.iter().filter_map(Value::as_str).any(|v| rule.members.contains(v))
            }
            _ => false,
        }
    }

    /// The teams `caller` belongs to.
    pub fn of(&self, caller: &Identity) -> Vec<&str> {
        self.teams.keys().filter(|t| self.admits(caller, Some(t))).map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::IdentityData;

    fn caller(claims: Value) -> Identity {
        Identity::new(IdentityData {
            subject: "u".into(),
            issuer: "i".into(),
            username: None,
            email: None,
            client_id: None,
            scopes: Vec::new(),
            permissions: Vec::new(),
            claims,
        })
    }

    fn teams() -> Teams {
        let config: Vec<TeamConfig> = ["sales", "ops"]
            .iter()
            .map(|n| {
                toml::from_str(&format!(
                    "name = \"{n}\"\nplugins_dir = \"{n}\"\nscope_prefix = \"{n}:\"\nmember_claim = \"groups\"\nmembers = [\"{n}-team\"]\n"
                ))
                .unwrap()
            })
            .collect();
        Teams::from_config(&config)
    }

    #[test]
    fn membership_follows_the_claim() {
        let t = teams();
        let both = caller(serde_json::json!({ "groups": ["sales-team", "ops-team"] }));
        let sales = caller(serde_json::json!({ "groups": "sales-team" }));
        let nobody = caller(serde_json::json!({ "groups": ["sales-team-x"], "sales": "sales-team" }));
        assert_eq!(t.of(&both), vec!["ops", "sales"]);
        assert_eq!(t.of(&sales), vec!["sales"]);
        assert!(t.of(&nobody).is_empty());
        assert!(t.admits(&nobody, None), "shared tools are open to everyone");
        assert!(!t.admits(&both, Some("unknown")), "an unknown team admits nobody");
    }
}
