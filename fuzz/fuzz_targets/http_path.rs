//! The request-path normaliser, differential against the WHATWG URL parser (`url`), which
//! resolves dot segments the way browsers and many servers do.
#![no_main]

use chitin_registry::HttpPattern;
use chitin_registry::http_path::normalize;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

fn decoded(path: &str) -> Vec<u8> {
    percent_decode_str(path).collect()
}

fuzz_target!(|raw: &str| {
    check(raw);
    // The same text beneath a folder a pattern grants.
    check(&format!("/public/{raw}"));
});

fn check(raw: &str) {
    let Ok(path) = normalize(raw) else {
        return;
    };
    // The shape servers get: absolute, plain ASCII, no dot segment, nothing refused.
    assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
    assert!(path.is_ascii(), "{raw:?} -> {path:?}");
    assert!(
        !path.contains(['\\', ';', '?', '#']) && !path.bytes().any(|b| b <= b' ' || b == 0x7f),
        "{raw:?} -> {path:?}"
    );
    assert!(
        path.split('/').all(|s| s != "." && s != ".."),
        "a dot segment is left: {raw:?} -> {path:?}"
    );
    for segment in path.split('/') {
        let d = decoded(segment);
        assert!(
            !d.contains(&b'/') && d != b"." && d != b"..",
            "a segment decodes to a separator or a dot segment: {raw:?} -> {path:?}"
        );
    }
    // Idempotent: the path sent is checked as it is.
    assert_eq!(
        normalize(&path).as_deref(),
        Ok(path.as_str()),
        "not idempotent: {raw:?}"
    );

    // What the pattern grants holds for the path a server resolves.
    let public: HttpPattern = "http://localhost:*/public/*".parse().unwrap();
    let granted = public.matches("http", "localhost", 8080, &path);

    // The reference: WHATWG URL parsing. It strips tabs and newlines, trims spaces,
    // and reads `?` and `#`, so only compare paths without those.
    if raw
        .bytes()
        .any(|b| b <= b' ' || b == 0x7f || b == b'?' || b == b'#')
    {
        return;
    }
    // It also keeps a Windows drive letter (`c:`) before `..`, which RFC 3986 and
    // servers remove like any segment.
    let drive = |s: &str| {
        let b = s.as_bytes();
        b.len() == 2 && b[0].is_ascii_alphabetic() && matches!(b[1], b':' | b'|')
    };
    if raw.split('/').any(drive) {
        return;
    }
    let Ok(url) = url::Url::parse(&format!("http://localhost:8080{raw}")) else {
        return;
    };
    assert_eq!(
        decoded(&path),
        decoded(url.path()),
        "{raw:?}: chitin reads {path:?}, a WHATWG parser {:?}",
        url.path()
    );
    if granted {
        assert!(
            url.path().starts_with("/public/"),
            "{raw:?} is granted as {path:?} but resolves to {:?}",
            url.path()
        );
    }
}
