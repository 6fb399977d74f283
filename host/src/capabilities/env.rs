//! Environment variables: the skill sees the declared names that are set on this
//! machine, with the host's values, and nothing else (not `PATH`, not a secret).
//! Programs it runs get the same variables (`capabilities::exec`).

use std::collections::BTreeMap;

use chitin_registry::EnvName;

/// The declared names that are set in the host's `vars`, with their values; unset
/// ones are left out.
pub fn grant(declared: &[EnvName], vars: &BTreeMap<String, String>) -> Vec<(String, String)> {
    declared
        .iter()
        .filter_map(|n| vars.get(n.as_str()).map(|v| (n.to_string(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_names_that_are_set() {
        let vars: BTreeMap<String, String> = [
            ("LANG", "C"),
            ("PATH", "/usr/bin"),
            ("TOKEN", "s3cr3t"),
            ("EMPTY", ""),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        // (declared, what the skill sees)
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (&[], &[]),
            (&["LANG"], &[("LANG", "C")]),
            (&["LANG", "UNSET"], &[("LANG", "C")]),
            (&["EMPTY"], &[("EMPTY", "")]),
            (&["TOKEN", "LANG"], &[("TOKEN", "s3cr3t"), ("LANG", "C")]),
        ];
        for (declared, seen) in cases {
            let names: Vec<EnvName> = declared.iter().map(|n| n.parse().unwrap()).collect();
            let want: Vec<(String, String)> = seen
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(grant(&names, &vars), want, "{declared:?}");
        }
    }
}
