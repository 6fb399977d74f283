//! Declared HTTP destinations (`https://*.example.com:*/v1/*`): parsing, display and
//! matching against requests.
#![no_main]

use chitin_registry::HttpPattern;
use chitin_registry::glob::glob_match;
use libfuzzer_sys::fuzz_target;

// Lines: the pattern, then a request's scheme, host, port and path.
fuzz_target!(|text: &str| {
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or_default();
    let (pattern, scheme, host) = (next(), next(), next());
    let port: u16 = next().parse().unwrap_or(443);
    let path = next();
    // The glob alone: `*` matches everything, a pattern without `*`/`?` only itself.
    assert!(glob_match("*", path));
    if !path.contains(['*', '?']) {
        assert!(glob_match(path, path), "{path:?} does not match itself");
        assert_eq!(glob_match(path, host), path == host);
    }
    let Ok(p) = pattern.parse::<HttpPattern>() else {
        return;
    };
    let shown = p.to_string();
    let again: HttpPattern = shown
        .parse()
        .unwrap_or_else(|e| panic!("{shown:?} (from {pattern:?}) does not parse again: {e}"));
    assert_eq!(p, again, "{pattern:?} shown as {shown:?}");
    if p.matches(scheme, host, port, path) {
        assert!(scheme.eq_ignore_ascii_case(p.scheme.as_str()));
        assert!(p.port.is_none_or(|q| q == port));
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match &p.host {
            chitin_registry::HostPattern::Exact(h) => assert_eq!(*h, host),
            chitin_registry::HostPattern::Subdomains(s) => {
                assert!(host.ends_with(&format!(".{s}")) && host.len() > s.len() + 1)
            }
        }
    }
    // A pattern covers itself and matches its own exact host.
    assert!(p.host.covers(&p.host));
    if let chitin_registry::HostPattern::Exact(h) = &p.host {
        assert!(p.host.matches(h));
    }
});
