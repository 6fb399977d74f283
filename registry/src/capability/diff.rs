//! What changed between two sets of capabilities: an update's declaration against the
//! installed one, grants against the signed declaration, a lock file against what is
//! installed. Entries are compared whole, so any change to an entry (a wider access, a
//! new destination of a secret) is one entry removed and one added.

use std::fmt;

use super::{Capability, Grant};
use crate::Capabilities;

/// Entries added and removed, each list in the table's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityDiff {
    /// In the new set, not the old: these widen what the skill may do.
    pub added: Vec<Grant>,
    /// In the old set, not the new.
    pub removed: Vec<Grant>,
}

impl CapabilityDiff {
    /// From `old` to `new`.
    pub fn between(old: &Capabilities, new: &Capabilities) -> Self {
        let (old, new) = (old.grants(), new.grants());
        Self {
            added: new.iter().filter(|g| !old.contains(g)).cloned().collect(),
            removed: old.iter().filter(|g| !new.contains(g)).cloned().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// Does the new set let the skill do anything the old did not?
    pub fn widens(&self) -> bool {
        !self.added.is_empty()
    }

    /// The capabilities with an added entry.
    pub fn widened(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self.added.iter().map(Grant::capability).collect();
        caps.dedup();
        caps
    }
}

/// `+ http https://x/*; - fs read $WORKSPACE`: the skill's own text, so escape it
/// before it reaches a terminal.
impl fmt::Display for CapabilityDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let added = self.added.iter().map(|g| format!("+ {g}"));
        let removed = self.removed.iter().map(|g| format!("- {g}"));
        let all: Vec<String> = added.chain(removed).collect();
        f.write_str(&all.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::testing::manifest_with;

    #[test]
    fn entries_added_and_removed() {
        let caps = |c: &str| manifest_with(c).capabilities;
        let old = caps(
            "fs = [{ path = \"$WORKSPACE\", access = \"read\" }]\nhttp = [\"https://a.example/*\"]",
        );
        // (new declaration, added, removed)
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "fs = [{ path = \"$WORKSPACE\", access = \"read\" }]\nhttp = [\"https://a.example/*\"]",
                &[],
                &[],
            ),
            (
                "fs = [{ path = \"$WORKSPACE\", access = \"read-write\" }]\nhttp = [\"https://a.example/*\"]",
                &["fs read-write $WORKSPACE"],
                &["fs read $WORKSPACE"],
            ),
            (
                "http = [\"https://a.example/*\"]",
                &[],
                &["fs read $WORKSPACE"],
            ),
            (
                "fs = [{ path = \"$WORKSPACE\", access = \"read\" }]\nhttp = [\"https://a.example/*\", \"https://b.example/*\"]\nenv = [\"LANG\"]",
                &["http https://b.example/*", "env LANG"],
                &[],
            ),
        ];
        for (new, added, removed) in cases {
            let d = CapabilityDiff::between(&old, &caps(new));
            let text = |g: &[Grant]| g.iter().map(Grant::to_string).collect::<Vec<_>>();
            assert_eq!(text(&d.added), *added, "{new}");
            assert_eq!(text(&d.removed), *removed, "{new}");
            assert_eq!(d.widens(), !added.is_empty(), "{new}");
            assert_eq!(d.is_empty(), added.is_empty() && removed.is_empty());
        }
        let d = CapabilityDiff::between(&old, &caps("env = [\"LANG\"]"));
        assert_eq!(d.widened(), [Capability::Env]);
        assert_eq!(
            d.to_string(),
            "+ env LANG; - fs read $WORKSPACE; - http https://a.example/*"
        );
    }
}
