//! The one glob used for capability patterns: HTTP paths and exec arguments.
//!
//! `*` matches any text, `/` included, and `?` one character; everything else is
//! literal. That is what SECURITY.md and the manifest documentation promise.
//!
//! Not `globset` (which the trust policy uses for repository and signer patterns),
//! because it would match other texts than the ones declared: there `[`, `{` and `\`
//! are syntax (`/v1/{id}` would match `/v1/id` and not itself), and `?` stands for one
//! byte, not one character (`a?c` would not match `aéc`). Feeding it an escaped
//! translation would still differ on `?`, and compile a regex per declared pattern.
//! The cases are in the table test below.

/// Glob with `*` (any text, including `/`) and `?` (one character); everything else
/// literal. Iterative with backtracking to the last `*`, so it is linear-ish and cannot
/// blow up on hostile input.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) && p[pi] != '*' {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        // (pattern, text, matches?)
        let cases = [
            ("*", "", true),
            ("a*c", "abbbc", true),
            ("/x/*", "/x/a/b", true),
            ("a*c", "abbb", false),
            ("a?c", "abc", true),
            ("a?c", "a/c", true),
            ("/v1/{id}", "/v1/{id}", true),
            ("/v1/{id}", "/v1/x", false),
            ("[ab]", "a", false),
            ("a**b", "a/x/b", true),
            ("a?c", "aéc", true),
            ("/v1/{id}", "/v1/id", false),
            ("x\\y", "x\\y", true),
            ("x\\y", "xy", false),
        ];
        for (pattern, text, matches) in cases {
            assert_eq!(glob_match(pattern, text), matches, "{pattern} / {text}");
        }
        assert!(!glob_match(&"*a".repeat(20), &"a".repeat(19)));
    }
}
